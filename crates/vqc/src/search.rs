//! A frame's search made away from the coder: what it needs ([`SearchPlan`], from
//! [`crate::Encoder::plan`]) and what it hands back ([`SearchChoice`], to
//! [`crate::Encoder::encode_searched`]).
//!
//! The encoder's own search ([`crate::Encoder::encode_latent`]) decides position after position
//! in raster order with the adaptive models' exact costs; every decision reads the ones before
//! it, so it runs on one CPU core. A searched frame is decided at every position at once — by
//! the engine on the GPU, in one kernel of a unit per position — with the costs the models had
//! before the previous frame (so that the previous frame's entropy coding can run beside this
//! frame's search: [`crate::Encoder::accept_searched`]), and only the entropy coding stays
//! sequential. Its streams are ordinary
//! streams (the same format, any decoder); its choices are coarser: whole-position motion only
//! (no fine or far motion), no same-as-left/above index in the search (the coder still codes an
//! index that happens to equal a neighbour's as one), no beam, no lookahead or bitrate search.

use crate::container::FrameKind;
use crate::syntax::{MOTIONS, Mode};

/// Everything a search needs to decide one frame, as plain arrays: the search works in the
/// encoder's metric space (`search_matrix`, `search_books`), the latents in its model's space.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    /// The timestamp of the frame it was made for (the encoder's next).
    pub pts: u32,
    /// The frame's kind.
    pub kind: FrameKind,
    /// The quality step it codes at.
    pub quality: u8,
    /// Latent rows and columns.
    pub grid: (usize, usize),
    /// Levels the frame codes (`L'`).
    pub coded: usize,
    /// Code dimension.
    pub dim: usize,
    /// Codes per level.
    pub size: usize,
    /// The inter start levels the frame offers (`T`).
    pub starts: Vec<u8>,
    /// λ per position (squared latent error in the search space per bit; 0 at quality 100:
    /// every level coded, the least error wins).
    pub lambda: Vec<f32>,
    /// Bits of each code, `3 × coded × size` (classes: keyframe, delta intra, inter).
    pub index_bits: Vec<f32>,
    /// Bits of a stop flag, `3 × coded × 2`: (stop here, go on) per class and level.
    pub stop_bits: Vec<f32>,
    /// Delta frames: the bits of each mode per position, `n × (2 + starts.len())`: copy,
    /// intra, then inter from each start.
    pub mode_bits: Vec<f32>,
    /// Delta frames: the bits of each whole-position motion per position, `n × 5`
    /// ([`crate::MOTIONS`]).
    pub motion_bits: Vec<f32>,
    /// Delta frames: the reference latent a decoder holds (`n × dim`, position-major, in the
    /// model's space).
    pub reference: Option<Vec<f32>>,
    /// `A` (`dim × dim`, row-major): the search compares `A·v`. `None`: the identity.
    pub search_matrix: Option<Vec<f32>>,
    /// The codes in the search space, `levels × size × dim` (all the model's levels).
    pub search_books: Vec<f32>,
}

impl SearchPlan {
    /// Positions.
    pub fn positions(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// Candidates per position, in the order a [`SearchChoice::candidate`] counts them: intra,
    /// copy with each motion, then inter from each start with each motion (a keyframe: intra
    /// only).
    pub fn candidates(&self) -> usize {
        match self.kind {
            FrameKind::Key => 1,
            FrameKind::Delta => 1 + MOTIONS.len() * (1 + self.starts.len()),
        }
    }

    /// The mode and motion of candidate `c` (see [`SearchPlan::candidates`]).
    pub fn candidate(&self, c: usize) -> Option<(Mode, u8)> {
        let m = MOTIONS.len();
        match c {
            0 => Some((Mode::Intra, 0)),
            _ if c >= self.candidates() => None,
            _ if c <= m => Some((Mode::Copy, (c - 1) as u8)),
            _ => {
                let k = c - 1 - m;
                Some((Mode::Inter(self.starts[k / m]), (k % m) as u8))
            }
        }
    }
}

/// What a search chose, per position (raster order).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchChoice {
    /// The candidate ([`SearchPlan::candidate`]).
    pub candidate: Vec<u8>,
    /// One past the last level coded (0 for a copy).
    pub end: Vec<u8>,
    /// Indices, `coded × n`, level-major (read only at the levels a position codes).
    pub idx: Vec<u16>,
    /// The choices' squared error in the search space, summed over positions, as the search
    /// measured it (for the frame's statistics only: `FrameStats::latent_mse`).
    pub distortion: f64,
}
