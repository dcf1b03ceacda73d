//! Frame syntax: the order of symbols in a chunk payload, their contexts, the decoded token
//! state both sides keep, and the latent it reconstructs to. The encoder half makes its
//! rate–distortion choices while it codes, with the very model state the decoder will have, so
//! the two cannot drift.
//!
//! Payload of a frame with `L'` coded levels on an `h × w` latent grid, raster order (the
//! normative text is docs/bitstream.md, "Frame syntax"):
//! ```text
//! for y in 0..h, x in 0..w:
//!     delta frames: mode
//!         copy?   context (left and above positions that are copies: 0, 1, 2)
//!         intra?  context (left and above positions that are intra: 0, 1, 2)   [if T ≠ ∅]
//!         start   truncated unary over T, a context per step   [if inter and |T| > 1]
//!         (T = the inter start levels {1, 2, 4, 6} below L')
//!         copy or inter: moved?  context (left and above positions that moved: 0, 1, 2)
//!                        if moved: direction, a 2-bit tree (left, right, up, down)
//!     first = 0 (keyframe, intra), s (inter from level s); a copy codes nothing more
//!     for l in first..L':
//!         if l > first: stop flag  context (l, class, left ended by l + above ended by l)
//!             stop: this position has no level l or deeper in this frame
//!         same as left?   context (class, l, left == above)   [left coded level l]
//!         same as above?  context (class, l)                  [above coded level l, ≠ left]
//!         else bit tree   per (class, l, parent class)
//! class: keyframe | intra in a delta frame | inter
//! parent class: the top 4 bits of the position's index one level up in this frame, or none
//! (the first level it codes)
//! ```
//! A frame of several slices (the header's count; [`slice_rows`]) codes each slice's rows as
//! above, as if its first row were the frame's first, with its own models and range coder; its
//! payload starts with the byte lengths of all slices but the last, as varints.
//!
//! The latent a decoder reconstructs at a position (fixed point, [`LATENT_FRAC_BITS`]) is the
//! sum, in level order, of its codes — added to the previous frame's latent at the position
//! its motion points to for inter positions; a copy is that previous latent itself.

use crate::codebook::{Codebooks, LATENT_FRAC_BITS, Metric};
use crate::coefs::CoefModels;
use crate::container::FrameKind;
use crate::motion::{MotionOps, fine_count, fine_index, fine_motion};
use crate::range::{BitModel, BitTree, RangeDecoder, RangeEncoder};

/// Marks a level that the frame did not code at a position: beyond the frame's coded levels,
/// below an inter position's start level, or where the position's depth ended (a stop flag).
/// It adds nothing to the latent.
pub const NONE: u16 = u16::MAX;

/// The levels an inter position may start its residual at (those below the frame's coded
/// levels): the simulation of issue 16 (docs/results/temporal-sim.md) found starting at fine
/// levels, whose codes are small, pays most, and a choice of several starts a little more.
pub const INTER_STARTS: [u8; 4] = [1, 2, 4, 6];

/// The shifts a copy or inter position may predict from, `(dx, dy)` in latent positions: the
/// previous frame's latent at `(x + dx, y + dy)`, clamped to the grid. Index 0 is no motion.
/// Motions from [`FIRST_FINE`] on are fine motions (pixels, through the model's motion maps).
pub const MOTIONS: [(i8, i8); 5] = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)];

/// The first motion index that is a fine motion: `FIRST_FINE + k` moves the picture by
/// [`crate::motion::fine_motion`]`(r, k)` pixels, `r` the stream's fine-motion range.
pub const FIRST_FINE: u8 = MOTIONS.len() as u8;

/// The reach of a far motion in whole latent positions: a copy or inter position may predict
/// from the previous frame's latent up to this many positions away in each direction (at the
/// models' stride of 8, 32 pixels), and apply its motion there.
pub const FAR_RANGE: i8 = 4;

/// Far displacements: `(2·FAR_RANGE + 1)² − 1` of them, coded in [`FAR_BITS`] bits.
pub const FAR_COUNT: usize = (2 * FAR_RANGE as usize + 1) * (2 * FAR_RANGE as usize + 1) - 1;

const FAR_BITS: u32 = usize::BITS - (FAR_COUNT - 1).leading_zeros();

/// The displacement `(dx, dy)` in latent positions of far motion `far` (1..=[`FAR_COUNT`]: the
/// `far − 1`-th of `[−FAR_RANGE, FAR_RANGE]²` without `(0, 0)`, `dy` then `dx` increasing; 0 is
/// none).
pub fn far_offset(far: u8) -> (i8, i8) {
    if far == 0 || usize::from(far) > FAR_COUNT {
        return (0, 0);
    }
    let side = 2 * FAR_RANGE as usize + 1;
    let k = usize::from(far - 1);
    // skip the centre, at index side² / 2
    let k = if k >= side * side / 2 { k + 1 } else { k };
    ((k % side) as i8 - FAR_RANGE, (k / side) as i8 - FAR_RANGE)
}

/// How a position of a frame is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Codes from level 0, no prediction (every position of a keyframe).
    #[default]
    Intra,
    /// The previous frame's latent here, nothing coded.
    Copy,
    /// The previous frame's latent here plus codes from this level on.
    Inter(u8),
}

impl Mode {
    /// The mode as one byte: 0 intra, 1 copy, 2 + s inter from level s (how `vqcodec tokens
    /// --modes` and the conformance vectors' CRC write it).
    pub fn code(self) -> u8 {
        match self {
            Mode::Intra => 0,
            Mode::Copy => 1,
            Mode::Inter(s) => 2 + s,
        }
    }
}

/// The code indices a decoder holds after a frame: `levels × height × width`, with [`NONE`]
/// for levels the frame did not code, each position's [`Mode`], and the reconstructed latent
/// when the decoder has the codebooks.
#[derive(Debug, Clone)]
pub struct TokenState {
    /// The model's RVQ levels.
    pub levels: usize,
    /// Latent rows.
    pub height: usize,
    /// Latent columns.
    pub width: usize,
    /// Levels coded in this frame (no position holds an index at a level from `coded` on).
    pub coded: usize,
    /// Indices, level-major.
    pub idx: Vec<u16>,
    /// How each position is coded (raster order).
    pub mode: Vec<Mode>,
    /// Each position's shift of its prediction: an index into [`MOTIONS`], or a fine motion
    /// from [`FIRST_FINE`] on (0 for intra), applied where its far motion points.
    pub motion: Vec<u8>,
    /// Each position's far motion: 0 none, else the previous frame's latent is read
    /// [`far_offset`] positions away (clamped to the grid) and `motion` applies there.
    pub far: Vec<u8>,
    /// The reconstructed latent, `height × width × dim` in units of 2^-[`LATENT_FRAC_BITS`]
    /// (position-major, as the engine's decoder network takes it); empty when the state was
    /// decoded without codebooks, or predicts from a frame that was.
    pub latent: Vec<i32>,
    /// Enhancement values a position may refine (the stream header's; 0: none).
    pub enh_dims: usize,
    /// The frame's enhancement step index ([`crate::coefs::step_units`]; 0: no coefficients).
    pub step: u8,
    /// Enhancement coefficients, `height × width × enh_dims` (position-major; zeros where a
    /// position coded none); empty when the frame has no step (`step` 0).
    pub coef: Vec<i32>,
    /// How many of the last values of every position of [`TokenState::latent`] are known to be
    /// zero because nothing put any there: the model's enhancement values (the codebooks' from
    /// [`Codebooks::net_dim`] on) when neither this frame nor those it predicts from since the
    /// keyframe coded a coefficient, the levels' codes hold none there and the fine-motion maps
    /// put none there ([`crate::MotionOps::keeps_zero_from`]; every stream of a shipped model up
    /// to the default quality), else 0. The reconstruction then works on the
    /// other values only, and a renderer may leave them out (it trusts this field). Set by
    /// [`TokenState::reconstruct`] and [`TokenState::reconstruct_after`]; 0 when the state holds
    /// no latent. A hint about the latent, not part of the state: equality leaves it out (the
    /// two reconstructions may know more or less of the same latent).
    pub zero_tail: usize,
}

impl PartialEq for TokenState {
    /// Every field but [`TokenState::zero_tail`] (a hint about `latent`).
    fn eq(&self, o: &Self) -> bool {
        // every field named, so that a new one cannot be left out unnoticed
        let Self {
            levels,
            height,
            width,
            coded,
            idx,
            mode,
            motion,
            far,
            latent,
            enh_dims,
            step,
            coef,
            zero_tail: _,
        } = self;
        (*levels, *height, *width, *coded) == (o.levels, o.height, o.width, o.coded)
            && *idx == o.idx
            && *mode == o.mode
            && *motion == o.motion
            && *far == o.far
            && *latent == o.latent
            && (*enh_dims, *step) == (o.enh_dims, o.step)
            && *coef == o.coef
    }
}

impl Eq for TokenState {}

/// A fixed-point latent (a [`TokenState::latent`], here or sent elsewhere) as `f32`: the value
/// each entry stands for, what the decoder network reads.
pub fn latent_f32(latent: &[i32]) -> Vec<f32> {
    let scale = 1.0 / (1u32 << LATENT_FRAC_BITS) as f32;
    latent.iter().map(|&v| v as f32 * scale).collect()
}

impl TokenState {
    pub(crate) fn empty(levels: usize, height: usize, width: usize, coded: usize) -> Self {
        Self {
            levels,
            height,
            width,
            coded,
            idx: vec![NONE; levels * height * width],
            mode: vec![Mode::Intra; height * width],
            motion: vec![0; height * width],
            far: vec![0; height * width],
            latent: Vec::new(),
            enh_dims: 0,
            step: 0,
            coef: Vec::new(),
            zero_tail: 0,
        }
    }

    /// This state with room for `dims` enhancement coefficients a position and step index
    /// `step`.
    pub(crate) fn with_enhancement(mut self, dims: usize, step: u8) -> Self {
        self.enh_dims = dims;
        self.step = if dims == 0 { 0 } else { step };
        // a frame without a step holds no coefficients (a base 1920×1080 frame's would be 8 MB
        // of zeros to make, copy and clone for every frame)
        self.coef = if self.step > 0 {
            vec![0; self.height * self.width * dims]
        } else {
            Vec::new()
        };
        self
    }

    /// Puts the symbols of `part` (a state of the same width and levels holding some of this
    /// frame's rows) in at row `first`.
    fn put_rows(&mut self, part: &TokenState, first: usize) {
        let (n, m) = (self.height * self.width, part.height * part.width);
        let a = first * self.width;
        self.mode[a..a + m].copy_from_slice(&part.mode);
        self.motion[a..a + m].copy_from_slice(&part.motion);
        self.far[a..a + m].copy_from_slice(&part.far);
        if self.step > 0 {
            let d = self.enh_dims;
            self.coef[a * d..(a + m) * d].copy_from_slice(&part.coef);
        }
        for l in 0..self.levels {
            self.idx[l * n + a..l * n + a + m].copy_from_slice(&part.idx[l * m..(l + 1) * m]);
        }
    }

    /// The indices of the coded levels (`coded × height × width`, level-major; [`NONE`] where
    /// a position coded no index at that level).
    pub fn coded_indices(&self) -> &[u16] {
        &self.idx[..self.coded * self.height * self.width]
    }

    /// Mean number of indices coded per position.
    pub fn mean_depth(&self) -> f64 {
        self.coded_pairs() as f64 / (self.height * self.width).max(1) as f64
    }

    /// The (position, level) pairs that hold an index.
    pub fn coded_pairs(&self) -> usize {
        self.coded_indices().iter().filter(|&&v| v != NONE).count()
    }

    /// Positions coded as copies of the previous frame.
    pub fn copies(&self) -> usize {
        self.mode.iter().filter(|&&m| m == Mode::Copy).count()
    }

    /// Positions whose prediction is shifted (a nonzero motion or a far motion).
    pub fn moved(&self) -> usize {
        self.motion
            .iter()
            .zip(&self.far)
            .filter(|&(&m, &f)| m != 0 || f != 0)
            .count()
    }

    /// The position of the previous frame each position predicts from (its far motion, then
    /// its whole-position motion, clamped to the grid; a fine motion reads around it).
    pub(crate) fn sources(&self) -> Vec<usize> {
        (0..self.mode.len())
            .map(|p| {
                let b = displaced(p, self.width, self.height, self.far[p]);
                shifted(b, self.width, self.height, self.motion[p])
            })
            .collect()
    }

    /// Positions with a far motion.
    pub fn far_moved(&self) -> usize {
        self.far.iter().filter(|&&f| f != 0).count()
    }

    /// Positions coded as inter (prediction plus a residual).
    pub fn inters(&self) -> usize {
        self.mode
            .iter()
            .filter(|m| matches!(m, Mode::Inter(_)))
            .count()
    }

    /// The latent as `f32` (the value each fixed-point entry stands for), for the decoder
    /// network; empty when the state holds none.
    pub fn latent_f32(&self) -> Vec<f32> {
        latent_f32(&self.latent)
    }

    /// Computes [`TokenState::latent`] from the indices, modes and motions with `books`,
    /// predicting from `prev` (the previous frame's latent). Integer sums in a fixed order (the
    /// mode's base, then levels in order, wrapping on overflow), so that every decoder computes
    /// the same.
    /// Leaves the latent empty when a position predicts and `prev` is `None` or empty, or uses
    /// a fine motion that `books` has no motion maps for (none, or of a smaller range).
    ///
    /// # Panics
    /// If `books`'s shape does not match the state (a caller bug).
    pub fn reconstruct(&mut self, books: &Codebooks, prev: Option<&[i32]>) {
        self.reconstruct_on(books, prev, band_threads(self.height * self.width));
    }

    /// [`TokenState::reconstruct`] predicting from `prev`'s latent, whose
    /// [`TokenState::zero_tail`] saves reading its enhancement values (what a stream's decoder
    /// and encoder do frame after frame). The same latent.
    pub fn reconstruct_after(&mut self, books: &Codebooks, prev: Option<&TokenState>) {
        let prev = prev.map(|s| (s.latent.as_slice(), Some(s.zero_tail)));
        self.reconstruct_with(books, prev, band_threads(self.height * self.width));
    }

    /// [`TokenState::reconstruct`] on `threads` threads (one: on the caller's), each computing
    /// a band of positions: every position reads only `prev` and its own symbols, so the result
    /// is the same for any number. [`TokenState::reconstruct`] picks the number by the latent's
    /// size: one for small frames and in WebAssembly, up to four from 8,192 positions on.
    pub fn reconstruct_on(&mut self, books: &Codebooks, prev: Option<&[i32]>, threads: usize) {
        self.reconstruct_with(books, prev.map(|p| (p, None)), threads);
    }

    /// The reconstruction from `prev`'s latent and, when known, its [`TokenState::zero_tail`]
    /// (else its enhancement values are read).
    fn reconstruct_with(
        &mut self,
        books: &Codebooks,
        prev: Option<(&[i32], Option<usize>)>,
        threads: usize,
    ) {
        let (n, dim) = (self.height * self.width, books.dim());
        assert_eq!(books.levels(), self.levels, "codebook levels");
        self.zero_tail = 0;
        let prev = prev.filter(|p| p.0.len() == n * dim);
        let predicts = self.mode.iter().any(|&m| m != Mode::Intra);
        let ops = books.motion();
        let motions = usize::from(FIRST_FINE) + ops.map_or(0, |o| fine_count(o.range()));
        let unknown = self.motion.iter().any(|&m| usize::from(m) >= motions)
            || self.far.iter().any(|&f| usize::from(f) > FAR_COUNT);
        let enhancement = self.step > 0 && self.enh_dims > 0;
        let fits = !enhancement || (self.enh_dims <= dim && self.coef.len() == n * self.enh_dims);
        if (prev.is_none() && predicts) || unknown || !fits {
            self.latent.clear();
            return;
        }
        // nothing in the enhancement's values (the last `tail` of each position): no step here,
        // fine-motion maps that put nothing there, none in the codes this frame adds (18,432
        // values to look at for the shipped models) and none in what it predicts from
        let tail = dim - books.net_dim().min(dim);
        let prev_empty = |(p, known): (&[i32], Option<usize>)| match known {
            Some(k) => k >= tail,
            None => p
                .chunks_exact(dim)
                .all(|v| v[dim - tail..].iter().all(|&v| v == 0)),
        };
        let maps_keep = || books.motion().is_none_or(|o| o.keeps_zero_from(dim - tail));
        let empty = tail > 0
            && !enhancement
            && books.codes_zero_from(dim - tail, self.coded)
            && (!predicts || (maps_keep() && prev.is_none_or(prev_empty)));
        let values = if empty { dim - tail } else { dim };
        let prev = prev.map(|p| p.0);
        let mut latent = vec![0i32; n * dim];
        let band = n.div_ceil(threads.clamp(1, n.max(1))).max(1);
        if band >= n {
            self.reconstruct_band(books, prev, values, 0, &mut latent);
        } else {
            let this = &*self;
            std::thread::scope(|scope| {
                for (k, out) in latent.chunks_mut(band * dim).enumerate() {
                    scope.spawn(move || this.reconstruct_band(books, prev, values, k * band, out));
                }
            });
        }
        self.latent = latent;
        self.zero_tail = if empty { tail } else { 0 };
    }

    /// The latent of the positions from `first` on, as many as `out` holds (zeros on entry):
    /// the first `values` of each position (the rest stay zero: an empty enhancement).
    fn reconstruct_band(
        &self,
        books: &Codebooks,
        prev: Option<&[i32]>,
        values: usize,
        first: usize,
        out: &mut [i32],
    ) {
        let (n, dim) = (self.height * self.width, books.dim());
        let ops = books.motion();
        for (p, out) in (first..).zip(out.chunks_exact_mut(dim)) {
            if self.mode[p] != Mode::Intra
                && let Some(prev) = prev
            {
                let m = self.motion[p];
                let b = displaced(p, self.width, self.height, self.far[p]);
                if m >= FIRST_FINE
                    && let Some(ops) = ops
                {
                    let d = fine_motion(ops.range(), usize::from(m - FIRST_FINE));
                    let at = (b % self.width, b / self.width);
                    ops.predict(prev, (self.width, self.height), at, d, out);
                } else {
                    let q = shifted(b, self.width, self.height, m);
                    out[..values].copy_from_slice(&prev[q * dim..q * dim + values]);
                }
            }
            let out = &mut out[..values];
            for l in 0..self.coded {
                let v = self.idx[l * n + p];
                if v != NONE {
                    for (o, c) in out.iter_mut().zip(books.fixed_code(l, usize::from(v))) {
                        *o = o.wrapping_add(*c);
                    }
                }
            }
            let s = crate::coefs::step_units(self.step);
            if s != 0 && self.enh_dims > 0 {
                let d = self.enh_dims;
                let tail = &mut out[dim - d..];
                for (o, &c) in tail.iter_mut().zip(&self.coef[p * d..(p + 1) * d]) {
                    *o = o.wrapping_add(c.wrapping_mul(s));
                }
            }
        }
    }
}

/// Threads for work on `positions` latent positions that each position does alone (the
/// reconstruction, the device search's costs): one below 8,192 positions (640×360 is 3,600; a
/// thread's start, tens of µs, would cost more than it saves), else up to four (1920×1080 is
/// 32,400: its reconstruction with fine motion took 1.8 ms on one core of the development
/// machine). In WebAssembly, one.
fn band_threads(positions: usize) -> usize {
    if cfg!(target_arch = "wasm32") || positions < 1 << 13 {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The position position `p`'s whole-position motion `m` predicts from: shifted by
/// [`MOTIONS`]`[m]`, clamped to the `width × height` grid (fine motions: `p` itself).
#[inline]
pub(crate) fn shifted(p: usize, width: usize, height: usize, m: u8) -> usize {
    let (dx, dy) = MOTIONS.get(usize::from(m)).copied().unwrap_or((0, 0));
    let x = (p % width) as isize + isize::from(dx);
    let y = (p / width) as isize + isize::from(dy);
    let x = x.clamp(0, width as isize - 1) as usize;
    let y = y.clamp(0, height as isize - 1) as usize;
    y * width + x
}

/// The position far motion `far` reads the previous frame at from `p`: displaced by
/// [`far_offset`], clamped to the `width × height` grid.
#[inline]
pub(crate) fn displaced(p: usize, width: usize, height: usize, far: u8) -> usize {
    if far == 0 {
        return p;
    }
    let (dx, dy) = far_offset(far);
    let x = ((p % width) as isize + isize::from(dx)).clamp(0, width as isize - 1) as usize;
    let y = ((p / width) as isize + isize::from(dy)).clamp(0, height as isize - 1) as usize;
    y * width + x
}

/// The coefficient context at position `(p, x, y)` of `state`: how many of its left and above
/// neighbours coded any enhancement coefficient.
#[inline]
fn coef_near(state: &TokenState, (p, x, y, width): (usize, usize, usize, usize)) -> usize {
    let d = state.enh_dims;
    let any = |q: usize| usize::from(state.coef[q * d..(q + 1) * d].iter().any(|&c| c != 0));
    if d == 0 {
        return 0;
    }
    (if x > 0 { any(p - 1) } else { 0 }) + if y > 0 { any(p - width) } else { 0 }
}

/// How a position's indices are coded: each class has its own index, stop and neighbour models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Key = 0,
    Intra = 1,
    Inter = 2,
}

const CLASSES: usize = 3;

/// The index trees' context from the parent code (the index one level up at the same position
/// in this frame): its top `PARENT_BITS` bits, or none at a position's first level.
const PARENT_BITS: u32 = 4;

/// Parent contexts: `2^PARENT_BITS` classes and none (the last).
const PARENT_CTX: usize = (1 << PARENT_BITS) + 1;

impl Class {
    fn of(kind: FrameKind, mode: Mode) -> Self {
        match (kind, mode) {
            (FrameKind::Key, _) => Class::Key,
            (_, Mode::Inter(_)) => Class::Inter,
            _ => Class::Intra,
        }
    }
}

/// Adaptive models of one stream: one set per slice of the frame's rows
/// ([`Contexts::with_slices`]), each carried from frame to frame; all reset at every keyframe.
#[derive(Debug, Clone)]
pub struct Contexts {
    slices: Vec<Models>,
}

/// The most slices a frame may be coded in (docs/bitstream.md, "Slices").
pub const MAX_SLICES: usize = 16;

/// Positions per slice the encoder aims at by default: a slice's models learn from fewer
/// symbols than a whole frame's, so frames are cut only where each slice keeps thousands of
/// positions (1920×1080 at 8 pixels a position: 32,400 positions, 4 slices; 640×360: 1).
pub const SLICE_POSITIONS: usize = 8192;

/// The slices an encoder cuts a `rows × columns` latent grid into by default: one per
/// [`SLICE_POSITIONS`] positions (rounded up), at most 8 and at most one per row.
pub fn default_slices(rows: usize, columns: usize) -> usize {
    (rows * columns)
        .div_ceil(SLICE_POSITIONS)
        .clamp(1, 8)
        .min(rows.max(1))
}

/// The latent rows of slice `k` of `slices` on a grid of `rows` rows: `⌊k·rows/slices⌋` up to
/// `⌊(k+1)·rows/slices⌋`.
pub fn slice_rows(rows: usize, slices: usize, k: usize) -> std::ops::Range<usize> {
    k * rows / slices..(k + 1) * rows / slices
}

impl Contexts {
    /// Fresh models for `levels` levels of `2^bits` codes, one slice.
    pub fn new(levels: usize, bits: u32) -> Self {
        Self {
            slices: vec![Models::new(levels, bits)],
        }
    }

    /// The same models for a stream whose fine-motion range is `range` (0: none).
    pub fn with_fine_motion(mut self, range: u8) -> Self {
        for m in &mut self.slices {
            m.set_fine_motion(range);
        }
        self
    }

    /// The same models for a stream whose positions may refine `dims` enhancement values
    /// (0: none; [`crate::coefs`]).
    pub fn with_enhancement(mut self, dims: usize) -> Self {
        for m in &mut self.slices {
            m.coefs = CoefModels::new(dims);
        }
        self
    }

    /// Each slice's models, in slice order.
    pub(crate) fn slice_models(&mut self) -> &mut [Models] {
        &mut self.slices
    }

    /// Enhancement values a position may refine.
    pub fn enhance_dims(&self) -> usize {
        self.slices[0].coefs.dims()
    }

    /// These models for frames coded in `slices` slices (1..=[`MAX_SLICES`]): each slice starts
    /// from a copy of the first slice's models as they are (fresh ones, as every caller here
    /// makes them).
    ///
    /// # Panics
    /// For 0 or more than [`MAX_SLICES`] slices (a caller bug: headers are checked first).
    pub fn with_slices(mut self, slices: usize) -> Self {
        assert!((1..=MAX_SLICES).contains(&slices), "{slices} slices");
        let first = self.slices.swap_remove(0);
        self.slices = vec![first; slices];
        self
    }

    /// Fresh models for the stream `header` describes (reset to these at every keyframe).
    pub fn for_header(header: &crate::Header) -> Self {
        Self::new(header.levels.into(), header.codebook_bits.into())
            .with_fine_motion(header.fine_motion)
            .with_enhancement(header.enhance_dims.into())
            .with_slices(header.slices.into())
    }
}

/// The adaptive models of one slice.
#[derive(Debug, Clone)]
pub(crate) struct Models {
    levels: usize,
    copy: [BitModel; 3],
    intra: [BitModel; 3],
    moved: [BitModel; 3],
    direction: BitTree,
    fine_range: u8,
    fine: [BitModel; 3],
    fine_tree: BitTree,
    far: [BitModel; 3],
    far_same: [BitModel; 2],
    far_pick: BitModel,
    far_tree: BitTree,
    far_more: BitModel,
    start: [BitModel; INTER_STARTS.len()],
    same_left: Vec<BitModel>,
    same_above: Vec<BitModel>,
    /// Per (class, level, parent context).
    trees: Vec<BitTree>,
    /// How far an index shifts right to give its parent class.
    parent_shift: u32,
    stop: Vec<BitModel>,
    /// The enhancement's coefficients (no values unless [`Contexts::with_enhancement`]).
    coefs: CoefModels,
}

/// Stop-flag contexts per level and class: left and above positions that ended by this level
/// (0, 1 or 2).
const STOP_CTX: usize = 3;

impl Models {
    /// Fresh models for `levels` levels of `2^bits` codes.
    fn new(levels: usize, bits: u32) -> Self {
        Self {
            levels,
            copy: [BitModel::new(); 3],
            intra: [BitModel::new(); 3],
            moved: [BitModel::new(); 3],
            direction: BitTree::new(2),
            fine_range: 0,
            fine: [BitModel::new(); 3],
            fine_tree: BitTree::new(1),
            far: [BitModel::new(); 3],
            far_same: [BitModel::new(); 2],
            far_pick: BitModel::new(),
            far_tree: BitTree::new(FAR_BITS),
            far_more: BitModel::new(),
            start: [BitModel::new(); INTER_STARTS.len()],
            same_left: vec![BitModel::new(); CLASSES * levels * 2],
            same_above: vec![BitModel::new(); CLASSES * levels],
            trees: vec![BitTree::new(bits); CLASSES * levels * PARENT_CTX],
            parent_shift: bits.saturating_sub(PARENT_BITS),
            stop: vec![BitModel::new(); CLASSES * levels * STOP_CTX],
            coefs: CoefModels::new(0),
        }
    }

    /// Fine motion of range `range` pixels (0: none) for fresh models.
    fn set_fine_motion(&mut self, range: u8) {
        self.fine_range = range;
        if range > 0 {
            let bits = usize::BITS - (fine_count(range) - 1).leading_zeros();
            self.fine_tree = BitTree::new(bits);
        }
    }

    /// Context of the stop flag of `level` at position `p` from where the positions already
    /// coded ended (`end`: one past each position's last coded level; 0 for a copy).
    #[inline]
    fn stop_ctx(
        &self,
        end: &[u8],
        level: usize,
        (p, x, y, width): (usize, usize, usize, usize),
        class: Class,
    ) -> usize {
        let ended = |q: usize| usize::from(usize::from(end[q]) <= level);
        let n = if x > 0 { ended(p - 1) } else { 0 } + if y > 0 { ended(p - width) } else { 0 };
        ((class as usize) * self.levels + level) * STOP_CTX + n
    }

    /// The parent context of an index whose parent (the same position's index one level up
    /// in this frame) is `parent` (none at a position's first level).
    #[inline]
    fn parent_ctx(&self, parent: Option<u16>) -> usize {
        // a decoded index is below 2^bits; tokens a caller re-encodes may not be
        parent.map_or(PARENT_CTX - 1, |v| {
            usize::from(v >> self.parent_shift).min(PARENT_CTX - 2)
        })
    }
}

/// The mode contexts at a position: how many of its left and above neighbours are copies, how
/// many are intra, and how many moved.
#[derive(Debug, Clone, Copy)]
struct ModeCtx {
    copies: usize,
    intras: usize,
    moved: usize,
    fine: usize,
    far: usize,
    /// The far motions of the left and above positions, distinct and nonzero (0: none).
    fars: [u8; 2],
}

impl ModeCtx {
    #[inline(always)]
    fn new(state: &TokenState, (p, x, y, width): (usize, usize, usize, usize)) -> Self {
        let mut c = Self {
            copies: 0,
            intras: 0,
            moved: 0,
            fine: 0,
            far: 0,
            fars: [0; 2],
        };
        for q in [(x > 0).then(|| p - 1), (y > 0).then(|| p - width)]
            .into_iter()
            .flatten()
        {
            c.copies += usize::from(state.mode[q] == Mode::Copy);
            c.intras += usize::from(state.mode[q] == Mode::Intra);
            c.moved += usize::from(state.motion[q] != 0 || state.far[q] != 0);
            c.fine += usize::from(state.motion[q] >= FIRST_FINE);
            c.far += usize::from(state.far[q] != 0);
            let f = state.far[q];
            if f != 0 && c.fars[0] != f {
                c.fars[usize::from(c.fars[0] != 0)] = f;
            }
        }
        c
    }
}

/// A position's motion: its far motion (0: none; [`far_offset`]) and the shift applied there
/// (0: none; an index into [`MOTIONS`], or a fine motion from [`FIRST_FINE`] on).
type Motion = (u8, u8);

/// Bits to code motion `(far, m)` (after a copy or inter mode).
#[inline]
fn motion_cost(ctx: &Models, mc: ModeCtx, (far, m): Motion) -> f32 {
    let moved = ctx.moved[mc.moved];
    if far == 0 && m == 0 {
        return moved.cost(false);
    }
    let mut bits = moved.cost(true) + ctx.far[mc.far].cost(far != 0);
    if far != 0 {
        bits += far_value_cost(ctx, mc, far) + ctx.far_more.cost(m != 0);
        if m == 0 {
            return bits;
        }
    }
    bits + shift_cost(ctx, mc, m)
}

/// How many far motions a position may repeat from its left and above neighbours (0..=2).
#[inline]
fn far_candidates(mc: ModeCtx) -> usize {
    usize::from(mc.fars[0] != 0) + usize::from(mc.fars[1] != 0)
}

/// Bits to code a nonzero far motion: "the same as a neighbour's" (and which), or its value.
#[inline]
fn far_value_cost(ctx: &Models, mc: ModeCtx, far: u8) -> f32 {
    let n = far_candidates(mc);
    if n == 0 {
        return ctx.far_tree.cost(u32::from(far - 1));
    }
    let same = ctx.far_same[n - 1];
    match mc.fars[..n].iter().position(|&f| f == far) {
        Some(i) => {
            same.cost(true)
                + if n == 2 {
                    ctx.far_pick.cost(i == 1)
                } else {
                    0.0
                }
        }
        None => same.cost(false) + ctx.far_tree.cost(u32::from(far - 1)),
    }
}

/// Bits to code a nonzero shift `m`.
#[inline]
fn shift_cost(ctx: &Models, mc: ModeCtx, m: u8) -> f32 {
    let mut bits = 0.0;
    if ctx.fine_range > 0 {
        bits += ctx.fine[mc.fine].cost(m >= FIRST_FINE);
    }
    if m >= FIRST_FINE {
        bits + ctx.fine_tree.cost(u32::from(m - FIRST_FINE))
    } else {
        bits + ctx.direction.cost(u32::from(m - 1))
    }
}

fn write_motion(enc: &mut RangeEncoder, ctx: &mut Models, mc: ModeCtx, (far, m): Motion) {
    enc.encode(&mut ctx.moved[mc.moved], far != 0 || m != 0);
    if far == 0 && m == 0 {
        return;
    }
    enc.encode(&mut ctx.far[mc.far], far != 0);
    if far != 0 {
        let n = far_candidates(mc);
        let i = mc.fars[..n].iter().position(|&f| f == far);
        if n > 0 {
            enc.encode(&mut ctx.far_same[n - 1], i.is_some());
            if n == 2
                && let Some(i) = i
            {
                enc.encode(&mut ctx.far_pick, i == 1);
            }
        }
        if i.is_none() {
            ctx.far_tree.encode(enc, u32::from(far - 1));
        }
        enc.encode(&mut ctx.far_more, m != 0);
        if m == 0 {
            return;
        }
    }
    if ctx.fine_range > 0 {
        enc.encode(&mut ctx.fine[mc.fine], m >= FIRST_FINE);
    }
    if m >= FIRST_FINE {
        ctx.fine_tree.encode(enc, u32::from(m - FIRST_FINE));
    } else {
        ctx.direction.encode(enc, u32::from(m - 1));
    }
}

fn read_motion(
    dec: &mut RangeDecoder<'_>,
    ctx: &mut Models,
    mc: ModeCtx,
) -> Result<Motion, String> {
    if !dec.decode(&mut ctx.moved[mc.moved]) {
        return Ok((0, 0));
    }
    let mut far = 0u8;
    if dec.decode(&mut ctx.far[mc.far]) {
        let n = far_candidates(mc);
        if n > 0 && dec.decode(&mut ctx.far_same[n - 1]) {
            far = mc.fars[usize::from(n == 2 && dec.decode(&mut ctx.far_pick))];
        } else {
            let k = ctx.far_tree.decode(dec) as usize;
            if k >= FAR_COUNT {
                return Err(format!("far motion {k} of {FAR_COUNT}"));
            }
            far = k as u8 + 1;
        }
        if !dec.decode(&mut ctx.far_more) {
            return Ok((far, 0));
        }
    }
    if ctx.fine_range > 0 && dec.decode(&mut ctx.fine[mc.fine]) {
        let k = ctx.fine_tree.decode(dec) as usize;
        let count = fine_count(ctx.fine_range);
        if k >= count {
            return Err(format!("fine motion {k} of {count}"));
        }
        return Ok((far, FIRST_FINE + k as u8));
    }
    Ok((far, 1 + ctx.direction.decode(dec) as u8))
}

/// The inter start levels a frame with `coded` levels offers.
pub(crate) fn starts(coded: usize) -> &'static [u8] {
    let k = INTER_STARTS
        .iter()
        .take_while(|&&s| usize::from(s) < coded)
        .count();
    &INTER_STARTS[..k]
}

/// Bits to code `mode` (a delta frame's position).
#[inline]
fn mode_cost(ctx: &Models, mc: ModeCtx, starts: &[u8], mode: Mode) -> f32 {
    let copy = ctx.copy[mc.copies];
    if mode == Mode::Copy {
        return copy.cost(true);
    }
    let mut bits = copy.cost(false);
    if starts.is_empty() {
        return bits;
    }
    let intra = ctx.intra[mc.intras];
    bits += intra.cost(mode == Mode::Intra);
    if let Mode::Inter(s) = mode {
        for (i, &t) in starts[..starts.len() - 1].iter().enumerate() {
            bits += ctx.start[i].cost(t == s);
            if t == s {
                break;
            }
        }
    }
    bits
}

fn write_mode(enc: &mut RangeEncoder, ctx: &mut Models, mc: ModeCtx, starts: &[u8], mode: Mode) {
    enc.encode(&mut ctx.copy[mc.copies], mode == Mode::Copy);
    if mode == Mode::Copy || starts.is_empty() {
        return;
    }
    enc.encode(&mut ctx.intra[mc.intras], mode == Mode::Intra);
    if let Mode::Inter(s) = mode {
        for (i, &t) in starts[..starts.len() - 1].iter().enumerate() {
            enc.encode(&mut ctx.start[i], t == s);
            if t == s {
                break;
            }
        }
    }
}

fn read_mode(dec: &mut RangeDecoder<'_>, ctx: &mut Models, mc: ModeCtx, starts: &[u8]) -> Mode {
    if dec.decode(&mut ctx.copy[mc.copies]) {
        return Mode::Copy;
    }
    if starts.is_empty() || dec.decode(&mut ctx.intra[mc.intras]) {
        return Mode::Intra;
    }
    for (i, &t) in starts[..starts.len() - 1].iter().enumerate() {
        if dec.decode(&mut ctx.start[i]) {
            return Mode::Inter(t);
        }
    }
    Mode::Inter(starts[starts.len() - 1])
}

/// The first level a position of `mode` codes (none for a copy).
#[inline]
pub(crate) fn first_level(mode: Mode) -> Option<usize> {
    match mode {
        Mode::Intra => Some(0),
        Mode::Copy => None,
        Mode::Inter(s) => Some(usize::from(s)),
    }
}

/// The spatial candidates for a new index at one position and level: the indices already
/// chosen to the left and above at that level (positions that coded it), without repeats.
#[derive(Debug, Clone, Copy)]
struct Neighbours {
    class: Class,
    level: usize,
    levels: usize,
    left: Option<u16>,
    above: Option<u16>,
    /// Context of the same-as-left flag: the left and above indices agree.
    agree: bool,
}

impl Neighbours {
    #[inline]
    fn new(
        class: Class,
        (level, levels): (usize, usize),
        idx: &[u16],
        (p, x, y, width): (usize, usize, usize, usize),
    ) -> Self {
        let left = (x > 0).then(|| idx[p - 1]).filter(|&v| v != NONE);
        let above = (y > 0).then(|| idx[p - width]).filter(|&v| v != NONE);
        let agree = left.is_some() && left == above;
        let above = above.filter(|&a| Some(a) != left);
        Self {
            class,
            level,
            levels,
            left,
            above,
            agree,
        }
    }

    #[inline]
    fn left_ctx(&self) -> usize {
        ((self.class as usize) * self.levels + self.level) * 2 + usize::from(self.agree)
    }

    #[inline]
    fn above_ctx(&self) -> usize {
        (self.class as usize) * self.levels + self.level
    }

    /// The bit tree of a new index whose parent context is `pc`.
    #[inline]
    fn tree(&self, pc: usize) -> usize {
        ((self.class as usize) * self.levels + self.level) * PARENT_CTX + pc
    }
}

/// Bits to code `v` as a new index (parent context `pc`).
#[inline]
fn index_cost(ctx: &Models, n: &Neighbours, pc: usize, v: u16) -> f32 {
    let mut bits = 0.0;
    if let Some(l) = n.left {
        let m = ctx.same_left[n.left_ctx()];
        if v == l {
            return m.cost(true);
        }
        bits += m.cost(false);
    }
    if let Some(a) = n.above {
        let m = ctx.same_above[n.above_ctx()];
        if v == a {
            return bits + m.cost(true);
        }
        bits += m.cost(false);
    }
    bits + ctx.trees[n.tree(pc)].cost(u32::from(v))
}

#[inline]
fn write_index(enc: &mut RangeEncoder, ctx: &mut Models, n: &Neighbours, pc: usize, v: u16) {
    if let Some(l) = n.left {
        enc.encode(&mut ctx.same_left[n.left_ctx()], v == l);
        if v == l {
            return;
        }
    }
    if let Some(a) = n.above {
        enc.encode(&mut ctx.same_above[n.above_ctx()], v == a);
        if v == a {
            return;
        }
    }
    ctx.trees[n.tree(pc)].encode(enc, u32::from(v));
}

#[inline]
fn read_index(dec: &mut RangeDecoder<'_>, ctx: &mut Models, n: &Neighbours, pc: usize) -> u16 {
    if let Some(l) = n.left
        && dec.decode(&mut ctx.same_left[n.left_ctx()])
    {
        return l;
    }
    if let Some(a) = n.above
        && dec.decode(&mut ctx.same_above[n.above_ctx()])
    {
        return a;
    }
    ctx.trees[n.tree(pc)].decode(dec) as u16
}

/// What the encoder decided for a frame.
#[derive(Debug, Clone)]
pub struct FrameCode {
    /// The payload.
    pub payload: Vec<u8>,
    /// The state a decoder will hold after it (with the reconstructed latent).
    pub state: TokenState,
    /// Squared latent error summed over positions (in the codebooks' metric space when they
    /// have one).
    pub distortion: f64,
    /// Where the payload's bits went.
    pub bits: SymbolBits,
}

/// A frame's bits by syntax element: each decision's code length `−log2 p` under the models'
/// state when it was coded (the range coder spends these within its flush, a few bytes per
/// frame). What `vqcodec encode` reports, to see where a stream's bits go.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SymbolBits {
    /// Delta frames' modes (copy, intra, inter start).
    pub mode: f64,
    /// Motions of copy and inter positions (moved flag, fine flag, direction or fine shift).
    pub motion: f64,
    /// Stop flags (a position's depth).
    pub stop: f64,
    /// Code indices (same-as-left/above flags included) at keyframe positions.
    pub index_key: f64,
    /// Code indices at delta frames' intra positions.
    pub index_intra: f64,
    /// Code indices at inter positions (the residual against the prediction).
    pub index_inter: f64,
    /// Enhancement coefficients (version 9; [`crate::coefs`]).
    pub enhancement: f64,
}

impl SymbolBits {
    /// All of them.
    pub fn total(&self) -> f64 {
        self.mode
            + self.motion
            + self.stop
            + self.index_key
            + self.index_intra
            + self.index_inter
            + self.enhancement
    }
}

impl std::ops::AddAssign for SymbolBits {
    fn add_assign(&mut self, o: Self) {
        self.mode += o.mode;
        self.motion += o.motion;
        self.stop += o.stop;
        self.index_key += o.index_key;
        self.index_intra += o.index_intra;
        self.index_inter += o.index_inter;
        self.enhancement += o.enhancement;
    }
}

/// Encoder choices for one frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameParams<'a> {
    /// Key or delta.
    pub kind: FrameKind,
    /// Levels to code.
    pub levels: usize,
    /// Latent squared error per bit: how much distortion a cheaper choice may add per bit saved.
    pub lambda: f32,
    /// Paths of the encoder's beam search over each position's indices (1: greedy).
    pub beam: usize,
    /// A factor on λ per position (raster order), or `None` (1 everywhere): the encoder's
    /// lookahead spends more bits where later frames will reuse what is coded.
    pub lambda_scale: Option<&'a [f32]>,
    /// Whether to code the enhancement's coefficients (when the models have an enhancement:
    /// [`Contexts::with_enhancement`]), at a step set by λ ([`crate::rate::coefficient_step`]).
    pub enhance: bool,
}

/// Quantises `latent` (`h·w × dim`, position-major) and codes it. At every position of a
/// delta frame the encoder tries each mode — copy the previous frame's latent, code the
/// residual against it from each inter start level, or code intra — and at every level the
/// candidates the syntax makes cheap (the left and above indices, when λ > 0) against the nearest
/// codes (a beam of `params.beam` paths), by `distortion + λ·bits` with the models' current
/// costs, distortion measured in the codebooks' metric space when they have one
/// ([`crate::Metric`]); each chain ends at the depth whose
/// `error + λ·bits` is least (every level when λ is 0).
///
/// # Panics
/// If `prev` is `None` or holds no latent for a delta frame, or shapes disagree (caller bugs).
pub fn encode_frame(
    latent: &[f32],
    (height, width): (usize, usize),
    books: &Codebooks,
    params: FrameParams<'_>,
    ctx: &mut Contexts,
    prev: Option<&TokenState>,
) -> FrameCode {
    let (levels, dim) = (books.levels(), books.dim());
    let n = height * width;
    assert_eq!(latent.len(), n * dim, "latent shape");
    let coded = params.levels.clamp(1, levels);
    let kind = params.kind;
    if let Some(s) = params.lambda_scale {
        assert_eq!(s.len(), n, "one λ factor per position");
    }
    let reference = match kind {
        FrameKind::Delta => {
            let s = prev.expect("a delta frame needs a reference");
            assert_eq!(s.latent.len(), n * dim, "the reference holds its latent");
            Some(s)
        }
        FrameKind::Key => None,
    };
    // the encoder's choices compare latents in its metric's space (the model's own latent
    // space when it has no metric); the motion maps work on the reference as it is
    let metric = books.metric();
    let raw = latent;
    // the enhancement's coefficients: how many a position has, the frame's step, and how much
    // their squared error weighs in the metric's space (its block's mean diagonal)
    let enh_dims = ctx.enhance_dims();
    assert!(
        enh_dims <= dim,
        "models of {enh_dims} refined values for a latent of {dim}"
    );
    let net = dim - enh_dims;
    // each refined value's weight: the metric's diagonal (`AᵀA`), 1 without one
    let enh_wd: Vec<f32> = (net..dim)
        .map(|i| {
            metric.map_or(1.0, |m| {
                let a = m.matrix();
                (0..=i)
                    .map(|r| a[r * dim + i] * a[r * dim + i])
                    .sum::<f32>()
            })
        })
        .collect();
    let enh_w = enh_wd.iter().sum::<f32>() / enh_dims.max(1) as f32;
    let step_idx = if params.enhance && enh_dims > 0 {
        crate::coefs::step_index(crate::rate::coefficient_step(params.lambda, enh_w))
    } else {
        0
    };
    let step = crate::coefs::step_units(step_idx) as f32 * LATENT_SCALE;
    let to_search = |v: &[f32]| metric.map(|m| m.apply_all(v));
    let search = metric.map_or(books, Metric::search);
    let prev_raw = reference.map(TokenState::latent_f32);
    let prev_moved = prev_raw.as_deref().and_then(to_search);
    let prev = prev_moved.as_deref().or(prev_raw.as_deref());
    let latent_moved = to_search(latent);
    let latent = latent_moved.as_deref().unwrap_or(latent);
    let starts = starts(coded);
    let fine = books.motion().filter(|_| ctx.slices[0].fine_range > 0);
    if let Some(ops) = fine {
        assert_eq!(
            ops.range(),
            ctx.slices[0].fine_range,
            "the models' fine-motion range"
        );
    }
    // each slice of rows with its own models and coder, on threads when the frame is large:
    // its positions' contexts see the positions of their own slice only, and its state holds
    // its own rows (`q` a position in the slice, `p` in the frame, where the latents are read)
    let slices = ctx.slices.len();
    let coded_slices = on_slices(&mut ctx.slices, slice_threads(n, slices), |k, ctx| {
        let rows = slice_rows(height, slices, k);
        let n = rows.len() * width;
        let mut state = TokenState::empty(levels, rows.len(), width, coded)
            .with_enhancement(enh_dims, step_idx);
        let mut end = vec![0u8; n];
        let mut chain = Chain::new(coded, dim, params.beam);
        let (mut coef_try, mut coef_best, mut resid) = (
            vec![0i32; enh_dims],
            vec![0i32; enh_dims],
            vec![0f32; enh_dims],
        );
        let (mut delta, mut moved) = (vec![0f32; dim], vec![0f32; dim]);
        let (mut fine_raw, mut far_raw) = (vec![0f32; dim], vec![0f32; dim]);
        let mut distortion = 0f64;
        let mut bits = SymbolBits::default();
        let (mut fine_pred, mut fine_f32, mut fine_s, mut far_f32) = (
            vec![0i32; dim],
            vec![0f32; dim],
            vec![0f32; dim],
            vec![0f32; dim],
        );
        let mut enc = RangeEncoder::new();
        for q in 0..n {
            let p = rows.start * width + q;
            let (y, x) = (q / width, q % width);
            let at = (q, x, y, width);
            let z = &latent[p * dim..(p + 1) * dim];
            let z_raw = &raw[p * dim..(p + 1) * dim];
            let lambda = params.lambda * params.lambda_scale.map_or(1.0, |s| s[p]);
            let near = if step_idx > 0 {
                coef_near(&state, at)
            } else {
                0
            };
            coef_best.fill(0);
            // a candidate's `(error, J)` with the refined values' coefficients coded against
            // what it reconstructs (its prediction `base_raw`, none for intra, plus its codes
            // `idx` from level `first`), the coefficients in `out`
            let mut with_coefs = |class: Class,
                                  base_raw: Option<&[f32]>,
                                  (idx, first): (&[u16], usize),
                                  (e, j): (f32, f32),
                                  out: &mut Vec<i32>|
             -> (f32, f32) {
                if step_idx == 0 {
                    return (e, j);
                }
                for (k, r) in resid.iter_mut().enumerate() {
                    let i = net + k;
                    let mut v = base_raw.map_or(0.0, |b| b[i]);
                    for (l, &c) in idx.iter().enumerate().skip(first) {
                        if c == NONE {
                            break;
                        }
                        v += books.code(l, usize::from(c))[i];
                    }
                    *r = z_raw[i] - v;
                }
                let (_, bits) = crate::coefs::choose(
                    &ctx.coefs,
                    class as usize,
                    near,
                    &resid,
                    step,
                    &enh_wd,
                    lambda,
                    out,
                );
                // the refined values' error before and after, in the metric's space (the
                // chain's error `e` holds the first: exactly so when every value is refined)
                let mut sq = |d: &[f32]| match metric {
                    Some(m) => {
                        m.apply(d, &mut moved);
                        moved.iter().map(|v| v * v).sum::<f32>()
                    }
                    None => d.iter().map(|v| v * v).sum::<f32>(),
                };
                delta[net..].copy_from_slice(&resid);
                let before = sq(&delta);
                for (k, (d, &r)) in delta[net..].iter_mut().zip(&resid).enumerate() {
                    *d = r - out[k] as f32 * step;
                }
                let after = sq(&delta);
                (e - before + after, j - before + after + lambda * bits)
            };
            let pos = Position {
                at,
                n,
                kind,
                lambda,
            };
            let (mode, motion, stop_at, error) = match &prev {
                None => {
                    let (stop_at, error, j) =
                        chain.run(z, None, 0, search, ctx, (&state, &end), &pos, 0.0);
                    chain.best.copy_from_slice(&chain.idx);
                    let class = Class::of(kind, Mode::Intra);
                    let (error, _) =
                        with_coefs(class, None, (&chain.idx, 0), (error, j), &mut coef_best);
                    (Mode::Intra, (0, 0), stop_at, error)
                }
                Some(prev) => {
                    let mc = ModeCtx::new(&state, at);
                    let sq = |v: &[f32]| -> f32 {
                        z.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum()
                    };
                    let whole_at = |q: usize| &prev[q * dim..(q + 1) * dim];
                    // each motion's prediction error (a copy's error), once
                    let mut err = [0f32; MOTIONS.len()];
                    for (m, e) in err.iter_mut().enumerate() {
                        *e = sq(whole_at(shifted(p, width, height, m as u8)));
                    }
                    // the motions tried: none, and the shift whose prediction is closest (with the
                    // bits of saying so) when that is another
                    let mut moved = (0u8, f32::INFINITY);
                    for m in 1..MOTIONS.len() as u8 {
                        if shifted(p, width, height, m) == p {
                            continue; // clamped at the edge: the same prediction as no motion
                        }
                        let j = err[usize::from(m)] + lambda * motion_cost(ctx, mc, (0, m));
                        if j < moved.1 {
                            moved = (m, j);
                        }
                    }
                    // the fine motions (pixels, through the model's maps) worth trying at position
                    // `b`, with their (approximate) errors, where the prediction without them leaves
                    // more error than saying "fine motion" costs
                    let mut fine_at = |b: usize, far: u8, e_none: f32, best: &mut (u8, f32)| {
                        if let (Some(ops), Some(_)) = (fine, reference)
                            && e_none > lambda * motion_cost(ctx, mc, (far, FIRST_FINE))
                        {
                            let raw = prev_raw.as_deref().unwrap_or_default();
                            let f = fine_search(
                                ops,
                                raw,
                                (width, height),
                                (b % width, b / width),
                                z,
                                (&mut fine_f32, &mut fine_s),
                                metric,
                            );
                            for (d, e) in f.into_iter().flatten() {
                                let m = FIRST_FINE + fine_index(ops.range(), d) as u8;
                                let j = e + lambda * motion_cost(ctx, mc, (far, m));
                                if j < best.1 {
                                    *best = (m, j);
                                }
                            }
                        }
                    };
                    fine_at(p, 0, err[0], &mut moved);
                    // far motions: the previous latent up to FAR_RANGE positions away, where the
                    // best motion so far costs more than saying "far" does; the one of least
                    // `error + λ·bits` if it beats that motion, then fine motions around it
                    let cheapest = if mc.fars[0] != 0 { mc.fars[0] } else { 1 };
                    let j_none = err[0] + lambda * motion_cost(ctx, mc, (0, 0));
                    let j_best = moved.1.min(j_none);
                    let mut far = (0u8, 0u8, j_best);
                    if j_best > lambda * motion_cost(ctx, mc, (cheapest, 0)) {
                        // the bits every far motion costs at least (its value's may be few)
                        let floor = lambda
                            * (ctx.moved[mc.moved].cost(true)
                                + ctx.far[mc.far].cost(true)
                                + ctx.far_more.cost(false));
                        // `error + λ·bits` of far motion `k` if it beats `far`: the error summed four
                        // values at a time above the floor, given up once it cannot; then the bits
                        let try_far = |k: u8, far: &mut (u8, u8, f32)| {
                            let q = displaced(p, width, height, k);
                            if q == p {
                                return;
                            }
                            let mut e = floor;
                            for (a, b) in z.chunks(4).zip(whole_at(q).chunks(4)) {
                                e += a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
                                if e >= far.2 {
                                    return;
                                }
                            }
                            let j = e - floor + lambda * motion_cost(ctx, mc, (k, 0));
                            if j < far.2 {
                                *far = (k, 0, j);
                            }
                        };
                        // the neighbours' far motions first (cheap to say), then every displacement
                        for k in mc.fars.into_iter().filter(|&k| k != 0) {
                            try_far(k, &mut far);
                        }
                        for k in 1..=FAR_COUNT as u8 {
                            try_far(k, &mut far);
                        }
                        if far.0 != 0 {
                            let b = displaced(p, width, height, far.0);
                            let mut best = (0u8, far.2);
                            fine_at(b, far.0, sq(whole_at(b)), &mut best);
                            far.1 = best.0;
                        }
                    }
                    // the kept fine predictions, exactly as the decoder makes them
                    let mut exact = |(f, m): Motion, pred: &mut [f32], raw: &mut [f32]| -> f32 {
                        let (Some(ops), Some(r)) = (fine, reference) else {
                            return f32::INFINITY;
                        };
                        let b = displaced(p, width, height, f);
                        let d = fine_motion(ops.range(), usize::from(m - FIRST_FINE));
                        ops.predict(
                            &r.latent,
                            (width, height),
                            (b % width, b / width),
                            d,
                            &mut fine_pred,
                        );
                        for (o, &v) in fine_s.iter_mut().zip(&fine_pred) {
                            *o = v as f32 * LATENT_SCALE;
                        }
                        raw.copy_from_slice(&fine_s);
                        match metric {
                            Some(mt) => mt.apply(&fine_s, pred),
                            None => pred.copy_from_slice(&fine_s),
                        }
                        sq(pred)
                    };
                    let err_fine = if moved.0 >= FIRST_FINE {
                        exact((0, moved.0), &mut fine_f32, &mut fine_raw)
                    } else {
                        f32::INFINITY
                    };
                    let err_far = match far {
                        (0, _, _) => f32::INFINITY,
                        (f, 0, _) => sq(whole_at(displaced(p, width, height, f))),
                        (f, m, _) => exact((f, m), &mut far_f32, &mut far_raw),
                    };
                    let err_of = |(f, m): Motion| match (f, m) {
                        (0, m) if m >= FIRST_FINE => err_fine,
                        (0, m) => err[usize::from(m)],
                        _ => err_far,
                    };
                    let grid = (p, width, height);
                    let pred_at = |m: Motion| motion_pred(grid, m, whole_at, (&fine_f32, &far_f32));
                    // the same predictions in the latent's own space (the coefficients' residual)
                    let raw_at = |q: usize| {
                        prev_raw
                            .as_deref()
                            .map_or(&[][..], |r| &r[q * dim..(q + 1) * dim])
                    };
                    let pred_raw_at =
                        |m: Motion| motion_pred(grid, m, raw_at, (&fine_raw, &far_raw));
                    let mut motions = [(0u8, 0u8); 3];
                    let mut tried = 1;
                    if moved.1 < j_none {
                        motions[tried] = (0, moved.0);
                        tried += 1;
                    }
                    if far.0 != 0 {
                        let j = err_far + lambda * motion_cost(ctx, mc, (far.0, far.1));
                        if j < j_best {
                            motions[tried] = (far.0, far.1);
                            tried += 1;
                        }
                    }
                    let motions = &motions[..tried];
                    // a plain copy is always a valid choice, whatever the costs compare to (a
                    // non-finite latent makes every comparison false)
                    let copy_j = |m: Motion| {
                        let e = err_of(m);
                        let bits = mode_cost(ctx, mc, starts, Mode::Copy) + motion_cost(ctx, mc, m);
                        (e, e + lambda * bits)
                    };
                    let (e0, j0) = copy_j((0, 0));
                    let mut best = (Mode::Copy, (0u8, 0u8), 0usize, e0, j0);
                    for &m in &motions[1..] {
                        let (e, j) = copy_j(m);
                        if j < best.4 {
                            best = (Mode::Copy, m, 0, e, j);
                        }
                    }
                    let candidates = std::iter::once((Mode::Intra, (0u8, 0u8))).chain(
                        motions
                            .iter()
                            .flat_map(|&m| starts.iter().map(move |&s| (Mode::Inter(s), m))),
                    );
                    for (mode, m) in candidates {
                        let mut mbits = mode_cost(ctx, mc, starts, mode);
                        if mode != Mode::Intra {
                            mbits += motion_cost(ctx, mc, m);
                        }
                        if lambda * mbits >= best.4 {
                            continue;
                        }
                        let first = first_level(mode).unwrap_or(0);
                        let base = (mode != Mode::Intra).then(|| pred_at(m));
                        let (stop_at, e, j) =
                            chain.run(z, base, first, search, ctx, (&state, &end), &pos, mbits);
                        let base_raw = (mode != Mode::Intra).then(|| pred_raw_at(m));
                        let class = Class::of(kind, mode);
                        let (e, j) =
                            with_coefs(class, base_raw, (&chain.idx, first), (e, j), &mut coef_try);
                        if j < best.4 {
                            best = (mode, m, stop_at, e, j);
                            chain.best.copy_from_slice(&chain.idx);
                            coef_best.copy_from_slice(&coef_try);
                        }
                    }
                    (best.0, best.1, best.2, best.3)
                }
            };
            // write what was chosen
            if kind == FrameKind::Delta {
                let mc = ModeCtx::new(&state, at);
                bits.mode += f64::from(mode_cost(ctx, mc, starts, mode));
                write_mode(&mut enc, ctx, mc, starts, mode);
                if mode != Mode::Intra {
                    bits.motion += f64::from(motion_cost(ctx, mc, motion));
                    write_motion(&mut enc, ctx, mc, motion);
                }
            }
            state.mode[q] = mode;
            (state.far[q], state.motion[q]) = motion;
            let class = Class::of(kind, mode);
            if let Some(first) = first_level(mode) {
                for l in first..coded {
                    if l > first {
                        let c = ctx.stop_ctx(&end, l, at, class);
                        bits.stop += f64::from(ctx.stop[c].cost(l == stop_at));
                        enc.encode(&mut ctx.stop[c], l == stop_at);
                    }
                    if l == stop_at {
                        break;
                    }
                    let plane = l * n;
                    let value = chain.best[l];
                    let nb = Neighbours::new(class, (l, levels), &state.idx[plane..plane + n], at);
                    let pc = ctx.parent_ctx((l > first).then(|| chain.best[l - 1]));
                    *match class {
                        Class::Key => &mut bits.index_key,
                        Class::Intra => &mut bits.index_intra,
                        Class::Inter => &mut bits.index_inter,
                    } += f64::from(index_cost(ctx, &nb, pc, value));
                    write_index(&mut enc, ctx, &nb, pc, value);
                    state.idx[plane + q] = value;
                }
            }
            end[q] = stop_at as u8;
            if step_idx > 0 && mode != Mode::Copy {
                let c = class as usize;
                bits.enhancement += f64::from(ctx.coefs.cost(c, near, &coef_best));
                ctx.coefs.write(&mut enc, c, near, &coef_best);
                state.coef[q * enh_dims..(q + 1) * enh_dims].copy_from_slice(&coef_best);
            }
            distortion += f64::from(error);
        }
        (state, enc.finish(), distortion, bits)
    });
    let mut state =
        TokenState::empty(levels, height, width, coded).with_enhancement(enh_dims, step_idx);
    let (mut payloads, mut distortion, mut bits) =
        (Vec::with_capacity(slices), 0f64, SymbolBits::default());
    for (k, (part, payload, d, b)) in coded_slices.into_iter().enumerate() {
        state.put_rows(&part, slice_rows(height, slices, k).start);
        payloads.push(payload);
        distortion += d;
        bits += b;
    }
    state.reconstruct_after(books, reference);
    FrameCode {
        payload: join_slices(payloads),
        state,
        distortion,
        bits,
    }
}

/// The prediction motion `(far, m)` gives position `p` of a `width × height` grid: the
/// previous latent at the position a whole-position or far motion points to (`whole`), or the
/// fine prediction made for it (`fine` in place, `far` at a far position).
#[inline]
fn motion_pred<'a>(
    (p, width, height): (usize, usize, usize),
    (f, m): Motion,
    whole: impl Fn(usize) -> &'a [f32],
    (fine, far): (&'a [f32], &'a [f32]),
) -> &'a [f32] {
    match (f, m) {
        (0, m) if m >= FIRST_FINE => fine,
        (0, m) => whole(shifted(p, width, height, m)),
        (f, 0) => whole(displaced(p, width, height, f)),
        _ => far,
    }
}

/// The value of one fixed-point latent unit.
const LATENT_SCALE: f32 = 1.0 / (1u32 << LATENT_FRAC_BITS) as f32;

/// The fine motions worth trying at `(x, y)` for the latent `z`, with their prediction errors:
/// the best horizontal shift, the best vertical one, and the two together (a search of
/// `4r + 1` predictions rather than `(2r + 1)² − 1`), in `f32` on the reference as `f32` (the
/// caller recomputes the one it keeps exactly), compared with `z` in the metric's space when
/// there is one. `scratch` and `raw` hold `dim` values each.
fn fine_search(
    ops: &MotionOps,
    prev: &[f32],
    grid: (usize, usize),
    at: (usize, usize),
    z: &[f32],
    (scratch, raw): (&mut [f32], &mut [f32]),
    metric: Option<&Metric>,
) -> [Option<((i8, i8), f32)>; 3] {
    let r = ops.range() as i8;
    let mut error = |d: (i8, i8)| {
        match metric {
            Some(m) => {
                ops.predict_approx(prev, grid, at, d, raw);
                m.apply(raw, scratch);
            }
            None => ops.predict_approx(prev, grid, at, d, scratch),
        }
        let e: f32 = z
            .iter()
            .zip(scratch.iter())
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        (d, e)
    };
    let shifts = || (-r..=r).filter(|&d| d != 0);
    let least = |a: &((i8, i8), f32), b: &((i8, i8), f32)| a.1.total_cmp(&b.1);
    let h = shifts().map(|d| error((d, 0))).min_by(least);
    let v = shifts().map(|d| error((0, d))).min_by(least);
    let both = h.zip(v).map(|(h, v)| error((h.0.0, v.0.1)));
    [h, v, both]
}

/// Where a position is and how it is coded: `(p, x, y, width)`, positions per level, frame
/// kind, λ.
struct Position {
    at: (usize, usize, usize, usize),
    n: usize,
    kind: FrameKind,
    lambda: f32,
}

/// The encoder's trial of one mode at one position: level by level from the mode's first
/// level, the indices chosen, with the residuals they leave. A beam of `width` paths: at each
/// level every path is extended by its `width` nearest codes (and, when λ > 0, the left and
/// above indices),
/// and the `width` extensions of least `error + λ·bits` go on (width 1: the greedy choice).
struct Chain {
    /// The chosen path's indices up to its depth ([`NONE`] after).
    idx: Vec<u16>,
    /// The indices of the best mode so far at this position.
    best: Vec<u16>,
    width: usize,
    /// The beam: per path, `coded` indices, `dim` residual values and its bits.
    paths: Beam,
    next: Beam,
    /// Extensions considered at one level: (cost, parent, code, error, bits).
    cands: Vec<(f32, usize, u16, f32, f32)>,
    near: Vec<(u16, f32)>,
}

struct Beam {
    idx: Vec<u16>,
    res: Vec<f32>,
    bits: Vec<f32>,
}

impl Chain {
    fn new(coded: usize, dim: usize, width: usize) -> Self {
        let width = width.max(1);
        let beam = || Beam {
            idx: vec![NONE; width * coded],
            res: vec![0.0; width * dim],
            bits: Vec::with_capacity(width),
        };
        Self {
            idx: vec![NONE; coded],
            best: vec![NONE; coded],
            width,
            paths: beam(),
            next: beam(),
            cands: Vec::with_capacity(width * (width + 2)),
            near: Vec::with_capacity(width),
        }
    }

    /// Codes `z − base` (or `z`) from level `first`: a beam search over the indices of each
    /// level (the nearest codes, and the left or above index), ranked by `error + λ·bits`, then
    /// the path and depth `d` in `first+1..=coded` whose `error + λ·(bits of the levels before
    /// d + the stop flag at d)` is least (ties keep the shallower and the earlier path; the
    /// least error at `coded` when λ is 0); the search ends once every path's bits alone cost
    /// more than the best depth so far. Returns (the depth's end level, its squared error, its
    /// cost `error + λ·(mode_bits + bits)`); `self.idx` holds the indices up to it. Costs come
    /// from the models' state before the position.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        z: &[f32],
        base: Option<&[f32]>,
        first: usize,
        books: &Codebooks,
        ctx: &Models,
        (state, end): (&TokenState, &[u8]),
        pos: &Position,
        mode_bits: f32,
    ) -> (usize, f32, f32) {
        let Position {
            at,
            n,
            kind,
            lambda,
        } = *pos;
        let (coded, dim) = (self.idx.len(), z.len());
        let class = Class::of(
            kind,
            if base.is_some() {
                Mode::Inter(first as u8)
            } else {
                Mode::Intra
            },
        );
        let energy = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>();
        // one path: the residual of the prediction, no index yet
        let paths = &mut self.paths;
        paths.idx[..coded].fill(NONE);
        match base {
            Some(b) => {
                for ((r, a), b) in paths.res[..dim].iter_mut().zip(z).zip(b) {
                    *r = a - b;
                }
            }
            None => paths.res[..dim].copy_from_slice(z),
        }
        paths.bits.clear();
        paths.bits.push(mode_bits);
        self.idx.fill(NONE);
        let (mut best_d, mut best_j, mut best_e) = (coded, f32::INFINITY, 0f32);
        // whether `self.idx` holds a chosen path (costs that are not finite choose none)
        let mut chosen = false;
        for l in first..coded {
            let stop_m = (l > first).then(|| ctx.stop[ctx.stop_ctx(end, l, at, class)]);
            let paths = &self.paths;
            if let Some(m) = stop_m
                && lambda > 0.0
            {
                for (p, &bits) in paths.bits.iter().enumerate() {
                    let e = energy(&paths.res[p * dim..(p + 1) * dim]);
                    let j = e + lambda * (bits + m.cost(true));
                    if j < best_j {
                        (best_d, best_j, best_e) = (l, j, e);
                        self.idx[..l].copy_from_slice(&paths.idx[p * coded..p * coded + l]);
                        self.idx[l..].fill(NONE);
                        chosen = true;
                    }
                }
                let least = paths.bits.iter().copied().fold(f32::INFINITY, f32::min);
                if chosen && lambda * least >= best_j {
                    // every deeper depth costs at least these bits
                    return (best_d, best_e, best_j);
                }
            }
            let nb = Neighbours::new(class, (l, state.levels), &state.idx[l * n..(l + 1) * n], at);
            let go_bits = stop_m.map_or(0.0, |m| m.cost(false));
            self.cands.clear();
            // one parent: rank by the index's own bits, exactly as the greedy search always did
            let one = paths.bits.len() == 1;
            for (p, &bits) in paths.bits.iter().enumerate() {
                let res = &paths.res[p * dim..(p + 1) * dim];
                books.nearest_k(l, res, self.width, &mut self.near);
                let pc = ctx.parent_ctx((l > first).then(|| paths.idx[p * coded + l - 1]));
                let mut push = |v: u16, d: f32| {
                    let b = index_cost(ctx, &nb, pc, v);
                    let total = bits + (go_bits + b);
                    let key = d + lambda * if one { b } else { total };
                    // a latent that is not finite ranks last, never first
                    let key = if key.is_nan() { f32::INFINITY } else { key };
                    self.cands.push((key, p, v, d, total));
                };
                for &(v, d) in &self.near {
                    push(v, d);
                }
                if lambda > 0.0 {
                    for v in [nb.left, nb.above].into_iter().flatten() {
                        if !self.near.iter().any(|&(c, _)| c == v) {
                            push(v, books.distance(l, usize::from(v), res));
                        }
                    }
                }
            }
            // the `width` cheapest extensions, in order (a stable sort: ties keep the earlier)
            self.cands.sort_by(|a, b| a.0.total_cmp(&b.0));
            self.cands.truncate(self.width);
            let next = &mut self.next;
            next.bits.clear();
            for (q, &(_, p, v, _, b)) in self.cands.iter().enumerate() {
                let (from, to) = (p * coded, q * coded);
                next.idx[to..to + coded].copy_from_slice(&paths.idx[from..from + coded]);
                next.idx[to + l] = v;
                let code = books.code(l, usize::from(v));
                let (src, dst) = (
                    &paths.res[p * dim..(p + 1) * dim],
                    &mut next.res[q * dim..(q + 1) * dim],
                );
                for ((o, r), c) in dst.iter_mut().zip(src).zip(code) {
                    *o = r - c;
                }
                next.bits.push(b);
            }
            std::mem::swap(&mut self.paths, &mut self.next);
        }
        let paths = &self.paths;
        let mut full = false;
        for (p, &bits) in paths.bits.iter().enumerate() {
            let e = energy(&paths.res[p * dim..(p + 1) * dim]);
            let j = e + lambda * bits;
            // at λ = 0 every level is coded: the least error wins
            let better = if lambda == 0.0 {
                !full || e < best_e
            } else {
                j < best_j
            };
            if better {
                full = true;
                (best_d, best_j, best_e) = (coded, j, e);
                self.idx
                    .copy_from_slice(&paths.idx[p * coded..(p + 1) * coded]);
            }
        }
        if !chosen && !full {
            // no cost compared (a latent that is not finite): the first path at every level, as
            // the greedy search always coded it; a chain never ends without its indices
            self.idx.copy_from_slice(&paths.idx[..coded]);
            best_d = coded;
        }
        (best_d, best_e, best_j)
    }
}

/// Codes a frame whose modes and indices are already chosen (a position's depth ends at its
/// first [`NONE`] after its first level). Used to re-encode tokens and to time the entropy
/// coder alone.
///
/// # Panics
/// If shapes disagree (caller bugs).
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
pub fn write_frame(state: &TokenState, kind: FrameKind, ctx: &mut Contexts) -> Vec<u8> {
    write_counted(state, kind, ctx).0
}

/// [`write_frame`], with the bits of each syntax element as they were coded.
pub(crate) fn write_counted(
    state: &TokenState,
    kind: FrameKind,
    ctx: &mut Contexts,
) -> (Vec<u8>, SymbolBits) {
    let threads = slice_threads(state.height * state.width, ctx.slices.len());
    write_counted_on(state, kind, ctx, threads)
}

/// [`write_counted`] with the slices on up to `threads` threads.
fn write_counted_on(
    state: &TokenState,
    kind: FrameKind,
    ctx: &mut Contexts,
    threads: usize,
) -> (Vec<u8>, SymbolBits) {
    let (height, slices) = (state.height, ctx.slices.len());
    let coded = on_slices(&mut ctx.slices, threads, |k, models| {
        write_slice(state, kind, models, slice_rows(height, slices, k))
    });
    let mut bits = SymbolBits::default();
    let mut payloads = Vec::with_capacity(slices);
    for (payload, b) in coded {
        payloads.push(payload);
        bits += b;
    }
    let dims = ctx.enhance_dims();
    assert!(
        state.step == 0 || state.enh_dims == dims,
        "a state of {} enhancement values for models of {dims}",
        state.enh_dims
    );
    (join_slices(payloads), bits)
}

/// Threads for the slices of a frame of `positions` positions: one for a frame of one slice,
/// a small one (as [`band_threads`]) or in WebAssembly; else one per slice, up to the cores.
fn slice_threads(positions: usize, slices: usize) -> usize {
    if slices < 2 || cfg!(target_arch = "wasm32") || positions < 1 << 13 {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(slices))
}

/// `f(k, models)` for every slice `k` and its models, on up to `threads` threads (each takes a
/// run of consecutive slices); the results in slice order. Slices share nothing, so the results
/// are the same for any number of threads.
fn on_slices<T: Send>(
    models: &mut [Models],
    threads: usize,
    f: impl Fn(usize, &mut Models) -> T + Sync,
) -> Vec<T> {
    let n = models.len();
    let per = n.div_ceil(threads.clamp(1, n.max(1))).max(1);
    if per >= n {
        return models
            .iter_mut()
            .enumerate()
            .map(|(k, m)| f(k, m))
            .collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let runs: Vec<_> = models
            .chunks_mut(per)
            .enumerate()
            .map(|(c, run)| {
                scope.spawn(move || {
                    run.iter_mut()
                        .enumerate()
                        .map(|(i, m)| f(c * per + i, m))
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|r| r.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// A frame's payload from its slices' coded bytes: the lengths of all but the last as
/// varints, then the slices in order (one slice: its bytes alone).
fn join_slices(mut payloads: Vec<Vec<u8>>) -> Vec<u8> {
    if payloads.len() == 1 {
        return payloads.pop().unwrap_or_default();
    }
    let total: usize = payloads.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total + 3 * payloads.len());
    for p in &payloads[..payloads.len() - 1] {
        crate::container::put_varint(&mut out, p.len() as u32);
    }
    for p in &payloads {
        out.extend_from_slice(p);
    }
    out
}

/// The coded bytes of each of a payload's `slices` slices ([`join_slices`]); `Err` says why a
/// payload cannot hold them (a length that is no varint, or runs past the payload).
fn split_slices(payload: &[u8], slices: usize) -> Result<Vec<&[u8]>, String> {
    let mut at = 0;
    let mut lens = Vec::with_capacity(slices);
    for k in 0..slices.saturating_sub(1) {
        match crate::container::get_varint(&payload[at..]) {
            Ok(Some((len, used))) => {
                at += used;
                lens.push(len as usize);
            }
            Ok(None) => return Err(format!("the payload ended inside slice {k}'s length")),
            Err(()) => return Err(format!("slice {k}'s length is no valid varint")),
        }
    }
    let mut parts = Vec::with_capacity(slices);
    for (k, len) in lens.into_iter().enumerate() {
        let left = payload.len() - at;
        if len > left {
            return Err(format!(
                "slice {k} of {len} bytes runs past the payload ({left} bytes left)"
            ));
        }
        parts.push(&payload[at..at + len]);
        at += len;
    }
    parts.push(&payload[at..]);
    Ok(parts)
}

/// The symbols of the positions of latent rows `rows` of `state`, coded with one slice's
/// models.
fn write_slice(
    state: &TokenState,
    kind: FrameKind,
    ctx: &mut Models,
    rows: std::ops::Range<usize>,
) -> (Vec<u8>, SymbolBits) {
    let (height, width, coded, levels) = (state.height, state.width, state.coded, state.levels);
    let n = height * width;
    let starts = starts(coded);
    let mut end = vec![0u8; n];
    let mut enc = RangeEncoder::new();
    let mut bits = SymbolBits::default();
    for p in rows.start * width..rows.end * width {
        let (y, x) = (p / width - rows.start, p % width);
        let at = (p, x, y, width);
        let mode = state.mode[p];
        if kind == FrameKind::Delta {
            // the contexts read the positions before this one only
            let mc = ModeCtx::new(state, at);
            bits.mode += f64::from(mode_cost(ctx, mc, starts, mode));
            write_mode(&mut enc, ctx, mc, starts, mode);
            if mode != Mode::Intra {
                let motion = (state.far[p], state.motion[p]);
                bits.motion += f64::from(motion_cost(ctx, mc, motion));
                write_motion(&mut enc, ctx, mc, motion);
            }
        }
        let class = Class::of(kind, mode);
        let mut e = 0u8;
        if let Some(first) = first_level(mode) {
            e = first as u8;
            for l in first..coded {
                let plane = l * n;
                let value = state.idx[plane + p];
                if l > first {
                    let c = ctx.stop_ctx(&end, l, at, class);
                    bits.stop += f64::from(ctx.stop[c].cost(value == NONE));
                    enc.encode(&mut ctx.stop[c], value == NONE);
                }
                if value == NONE {
                    break;
                }
                let nb = Neighbours::new(class, (l, levels), &state.idx[plane..plane + n], at);
                let pc = ctx.parent_ctx((l > first).then(|| state.idx[plane - n + p]));
                *match class {
                    Class::Key => &mut bits.index_key,
                    Class::Intra => &mut bits.index_intra,
                    Class::Inter => &mut bits.index_inter,
                } += f64::from(index_cost(ctx, &nb, pc, value));
                write_index(&mut enc, ctx, &nb, pc, value);
                e += 1;
            }
        }
        end[p] = e;
        if state.step > 0 && mode != Mode::Copy {
            let d = state.enh_dims;
            let c = &state.coef[p * d..(p + 1) * d];
            let near = coef_near(state, at);
            bits.enhancement += f64::from(ctx.coefs.cost(class as usize, near, c));
            ctx.coefs.write(&mut enc, class as usize, near, c);
        }
    }
    (enc.finish(), bits)
}

/// The bits of each decision a search made away from the coder (the engine's device search,
/// [`crate::SearchPlan`]) weighs, from the models' state `ctx` (the encoder's, before the previous
/// frame; of a frame in slices, the first slice's models price every position). A search that
/// decides every position at once cannot know its neighbours' choices, so the contexts that
/// read them are taken as the reference frame left them (mode and motion) or as one of two
/// neighbours (stop flags); indices cost their bit tree's code, as if neither neighbour had
/// the same one (level 0's tree without a parent; deeper levels, the mean over their parent
/// contexts' trees). Returns `(index, stop, mode, motion)`: `CLASSES × coded × size` bits per
/// code (classes key, intra, inter), `CLASSES × coded × 2` (stop, go on), and for delta frames
/// `n × (2 + |T|)` (copy, intra, inter from each start) and `n × MOTIONS.len()` per position.
pub(crate) fn search_costs(
    ctx: &Contexts,
    kind: FrameKind,
    sizes: (usize, usize),
    reference: Option<&TokenState>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let threads = reference.map_or(1, |r| band_threads(r.height * r.width));
    search_costs_on(&ctx.slices[0], kind, sizes, reference, threads)
}

/// [`search_costs`] with the positions' costs in bands on `threads` threads.
fn search_costs_on(
    ctx: &Models,
    kind: FrameKind,
    (coded, size): (usize, usize),
    reference: Option<&TokenState>,
    threads: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let levels = ctx.levels;
    let mut index = Vec::with_capacity(CLASSES * coded * size);
    let mut stop = Vec::with_capacity(CLASSES * coded * 2);
    for class in 0..CLASSES {
        for l in 0..coded {
            // the search does not follow each position's parent: level 0 has none, and deeper
            // levels cost the mean of their parent contexts' trees
            let trees = &ctx.trees[(class * levels + l) * PARENT_CTX..][..PARENT_CTX];
            let trees = if l == 0 {
                &trees[PARENT_CTX - 1..]
            } else {
                trees
            };
            let mean = 1.0 / trees.len() as f32;
            index.extend(
                (0..size as u32).map(|k| trees.iter().map(|t| t.cost(k)).sum::<f32>() * mean),
            );
            let m = ctx.stop[(class * levels + l) * STOP_CTX + 1];
            stop.extend([m.cost(true), m.cost(false)]);
        }
    }
    let (mut mode, mut motion) = (Vec::new(), Vec::new());
    if let (FrameKind::Delta, Some(r)) = (kind, reference) {
        let starts = starts(coded);
        let n = r.height * r.width;
        let (wm, wv) = (2 + starts.len(), MOTIONS.len());
        mode = vec![0f32; n * wm];
        motion = vec![0f32; n * wv];
        // each position's costs read only the reference's symbols: in bands of positions, on
        // as many threads as a reconstruction uses (the same floats either way)
        let band = |first: usize, mode: &mut [f32], motion: &mut [f32]| {
            let positions = mode.chunks_exact_mut(wm).zip(motion.chunks_exact_mut(wv));
            for (p, (mode, motion)) in (first..).zip(positions) {
                let mc = ModeCtx::new(r, (p, p % r.width, p / r.width, r.width));
                mode[0] = mode_cost(ctx, mc, starts, Mode::Copy);
                mode[1] = mode_cost(ctx, mc, starts, Mode::Intra);
                for (m, &s) in mode[2..].iter_mut().zip(starts) {
                    *m = mode_cost(ctx, mc, starts, Mode::Inter(s));
                }
                for (v, m) in motion.iter_mut().zip(0u8..) {
                    *v = motion_cost(ctx, mc, (0, m));
                }
            }
        };
        let per = n.div_ceil(threads.clamp(1, n.max(1))).max(1);
        if per >= n {
            band(0, &mut mode, &mut motion);
        } else {
            let band = &band;
            std::thread::scope(|scope| {
                let bands = mode.chunks_mut(per * wm).zip(motion.chunks_mut(per * wv));
                for (k, (mode, motion)) in bands.enumerate() {
                    scope.spawn(move || band(k * per, mode, motion));
                }
            });
        }
    }
    (index, stop, mode, motion)
}

/// The state of a frame whose choices were made elsewhere: each position's mode, motion (an
/// index into [`MOTIONS`]) and end (one past its last coded level), and the indices
/// (`coded × n`, level-major; read only where a position codes). Checks what the syntax can
/// say; `Err` names the first position it cannot. `enh_dims`: the stream's refined values (the
/// state has room for their coefficients, as a decoder's has; a search codes none).
pub(crate) fn searched_state(
    (levels, height, width, coded): (usize, usize, usize, usize),
    enh_dims: usize,
    kind: FrameKind,
    (mode, motion, end): (&[Mode], &[u8], &[u8]),
    idx: &[u16],
    size: usize,
) -> Result<TokenState, String> {
    let n = height * width;
    if mode.len() != n || motion.len() != n || end.len() != n || idx.len() != coded * n {
        return Err(format!(
            "choices for {n} positions and {coded} levels expected"
        ));
    }
    let starts = starts(coded);
    let mut state = TokenState::empty(levels, height, width, coded).with_enhancement(enh_dims, 0);
    for p in 0..n {
        let (m, e) = (mode[p], usize::from(end[p]));
        let ok_mode = match (kind, m) {
            (FrameKind::Key, Mode::Intra) | (FrameKind::Delta, Mode::Intra | Mode::Copy) => true,
            (FrameKind::Delta, Mode::Inter(s)) => starts.contains(&s),
            _ => false,
        };
        let ok_motion =
            usize::from(motion[p]) < MOTIONS.len() && (m != Mode::Intra || motion[p] == 0);
        let ok_end = match first_level(m) {
            None => e == 0,
            Some(f) => e > f && e <= coded,
        };
        if !(ok_mode && ok_motion && ok_end) {
            return Err(format!(
                "position {p}: mode {m:?}, motion {}, end {e} (coded levels {coded})",
                motion[p]
            ));
        }
        state.mode[p] = m;
        state.motion[p] = motion[p];
        if let Some(f) = first_level(m) {
            for l in f..e {
                let v = idx[l * n + p];
                if usize::from(v) >= size {
                    return Err(format!("position {p}: index {v} at level {l}"));
                }
                state.idx[l * n + p] = v;
            }
        }
    }
    Ok(state)
}

/// Symbols (mode, motion and stop flags, motion directions, indices) a frame codes: what the
/// entropy-coder benchmark counts (a direction counts as one symbol, as an index does).
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
/// (A whole-position motion in a stream with fine motion also codes the fine flag: counted when
/// `fine_range > 0`.)
pub fn symbol_count(state: &TokenState, kind: FrameKind, fine_range: u8, slices: usize) -> usize {
    let n = state.height * state.width;
    // the row each position's slice starts at (its far-motion candidates see that slice only)
    let top = |y: usize| {
        (0..slices.max(1))
            .map(|k| slice_rows(state.height, slices.max(1), k))
            .find(|r| r.contains(&y))
            .map_or(0, |r| r.start)
    };
    let starts = starts(state.coded).len();
    let mut count = 0;
    for p in 0..n {
        let mode = state.mode[p];
        if kind == FrameKind::Delta {
            count += match mode {
                Mode::Copy => 1,
                _ if starts == 0 => 1,
                Mode::Intra => 2,
                Mode::Inter(s) => {
                    let i = INTER_STARTS.iter().position(|&t| t == s).unwrap_or(0);
                    2 + (i + 1).min(starts - 1)
                }
            };
            if mode != Mode::Intra {
                // the moved flag; if moved, the far flag (then a far motion and whether a shift
                // follows), and a shift: the fine flag (if the stream has fine motion) and a
                // direction or fine motion
                let (far, m) = (state.far[p], state.motion[p]);
                count += 1;
                if far != 0 || m != 0 {
                    // the far flag; a far motion: "same as a neighbour's" (and which) or its
                    // value, then whether a shift follows
                    count += 1;
                    if far != 0 {
                        let y = p / state.width;
                        let mc = ModeCtx::new(state, (p, p % state.width, y - top(y), state.width));
                        let n = far_candidates(mc);
                        let same = mc.fars[..n].contains(&far);
                        count += usize::from(n > 0)
                            + usize::from(same && n == 2)
                            + usize::from(!same)
                            + 1;
                    }
                    count += match m {
                        0 => 0,
                        m if m >= FIRST_FINE => 2,
                        _ => 1 + usize::from(fine_range > 0),
                    };
                }
            }
        }
        let Some(first) = first_level(mode) else {
            continue;
        };
        for l in first..state.coded {
            let v = state.idx[l * n + p];
            count += usize::from(l > first);
            if v == NONE {
                break;
            }
            count += 1;
        }
    }
    count
}

/// Decodes a frame payload of `coded` levels and enhancement step `step` (the chunk's; 0: no
/// coefficients) to its modes, indices and coefficients (no latent: see
/// [`TokenState::reconstruct`]).
///
/// # Errors
/// A reason string when the payload does not decode to a valid frame (a code index outside
/// the codebook, a step for a stream without refined values, or a payload that needed more
/// bytes than it has).
pub fn decode_frame(
    payload: &[u8],
    kind: FrameKind,
    (coded, step): (usize, u8),
    (levels, height, width): (usize, usize, usize),
    codebook_size: usize,
    ctx: &mut Contexts,
) -> Result<TokenState, String> {
    let threads = slice_threads(height * width, ctx.slices.len());
    decode_frame_on(
        payload,
        kind,
        (coded, step),
        (levels, height, width),
        codebook_size,
        ctx,
        threads,
    )
}

/// [`decode_frame`] with the slices on up to `threads` threads.
fn decode_frame_on(
    payload: &[u8],
    kind: FrameKind,
    (coded, step): (usize, u8),
    (levels, height, width): (usize, usize, usize),
    codebook_size: usize,
    ctx: &mut Contexts,
    threads: usize,
) -> Result<TokenState, String> {
    let slices = ctx.slices.len();
    let dims = ctx.enhance_dims();
    let parts = frame_slices(payload, step, dims, slices)?;
    let decoded = on_slices(&mut ctx.slices, threads, |k, models| {
        let rows = slice_rows(height, slices, k);
        decode_slice(
            parts[k],
            kind,
            (coded, step),
            (levels, rows.len(), width),
            codebook_size,
            models,
        )
    });
    join_states(decoded, (levels, height, width), (coded, step), dims)
}

/// A frame's payload cut into the coded bytes of its `slices` slices, after checking its step
/// against the `dims` refined values of the stream; `Err` says why the payload makes no frame.
pub(crate) fn frame_slices(
    payload: &[u8],
    step: u8,
    dims: usize,
    slices: usize,
) -> Result<Vec<&[u8]>, String> {
    if step > crate::coefs::MAX_STEP || (step > 0 && dims == 0) {
        return Err(format!(
            "enhancement step {step} in a stream of {dims} refined values"
        ));
    }
    split_slices(payload, slices)
}

/// The frame of its slices' states (each of its own rows, in slice order), or the first
/// slice's error, named by its slice when there are several.
pub(crate) fn join_states(
    decoded: Vec<Result<TokenState, String>>,
    (levels, height, width): (usize, usize, usize),
    (coded, step): (usize, u8),
    dims: usize,
) -> Result<TokenState, String> {
    let slices = decoded.len();
    if slices == 1 {
        return decoded
            .into_iter()
            .next()
            .unwrap_or_else(|| Err("no slice".into()));
    }
    let mut state = TokenState::empty(levels, height, width, coded.clamp(1, levels))
        .with_enhancement(dims, step);
    for (k, part) in decoded.into_iter().enumerate() {
        let part = part.map_err(|e| format!("slice {k}: {e}"))?;
        state.put_rows(&part, slice_rows(height, slices, k).start);
    }
    Ok(state)
}

/// One slice of [`decode_frame`]: its payload decoded with its models to the state of its
/// `height` rows alone (positions counted from the slice's first).
pub(crate) fn decode_slice(
    payload: &[u8],
    kind: FrameKind,
    (coded, step): (usize, u8),
    (levels, height, width): (usize, usize, usize),
    codebook_size: usize,
    ctx: &mut Models,
) -> Result<TokenState, String> {
    let n = height * width;
    let coded = coded.clamp(1, levels);
    let starts = starts(coded);
    let mut state =
        TokenState::empty(levels, height, width, coded).with_enhancement(ctx.coefs.dims(), step);
    let d = state.enh_dims;
    let mut end = vec![0u8; n];
    let mut dec = RangeDecoder::new(payload);
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        let at = (p, x, y, width);
        let (mode, (far, motion)) = match kind {
            FrameKind::Delta => {
                let mc = ModeCtx::new(&state, at);
                let mode = read_mode(&mut dec, ctx, mc, starts);
                let motion = if mode == Mode::Intra {
                    (0, 0)
                } else {
                    read_motion(&mut dec, ctx, mc)?
                };
                (mode, motion)
            }
            FrameKind::Key => (Mode::Intra, (0, 0)),
        };
        state.mode[p] = mode;
        state.motion[p] = motion;
        state.far[p] = far;
        let class = Class::of(kind, mode);
        let mut e = 0u8;
        if let Some(first) = first_level(mode) {
            e = first as u8;
            for l in first..coded {
                if l > first {
                    let c = ctx.stop_ctx(&end, l, at, class);
                    if dec.decode(&mut ctx.stop[c]) {
                        break;
                    }
                }
                let plane = l * n;
                let nb = Neighbours::new(class, (l, levels), &state.idx[plane..plane + n], at);
                let pc = ctx.parent_ctx((l > first).then(|| state.idx[plane - n + p]));
                let value = read_index(&mut dec, ctx, &nb, pc);
                if usize::from(value) >= codebook_size {
                    return Err(format!(
                        "code index {value} outside a codebook of {codebook_size}"
                    ));
                }
                state.idx[plane + p] = value;
                e += 1;
            }
        }
        end[p] = e;
        if state.step > 0 && mode != Mode::Copy {
            let near = coef_near(&state, at);
            ctx.coefs.read(
                &mut dec,
                class as usize,
                near,
                &mut state.coef[p * d..(p + 1) * d],
            )?;
        }
    }
    if dec.overrun() > crate::range::TRAILING_ZEROS {
        return Err(format!(
            "the payload ended {} bytes early",
            dec.overrun() - crate::range::TRAILING_ZEROS
        ));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delta frame's symbols that say a little of everything: intra, copies and inter from
    /// each start, every whole-position motion, some fine and far motion.
    fn varied_state(height: usize, width: usize) -> TokenState {
        let (levels, coded) = (3, 3);
        let mut s = TokenState::empty(levels, height, width, coded);
        let n = height * width;
        let starts = starts(coded);
        for p in 0..n {
            let r = (p * 7919 + p / width * 104_729) % 1009;
            s.mode[p] = match r % 4 {
                0 => Mode::Intra,
                1 => Mode::Copy,
                _ => Mode::Inter(starts[r % starts.len()]),
            };
            if s.mode[p] != Mode::Intra {
                s.motion[p] = (r % (usize::from(FIRST_FINE) + 3)) as u8;
                s.far[p] = u8::from(r.is_multiple_of(13));
            }
            if let Some(first) = first_level(s.mode[p]) {
                for l in first..coded {
                    s.idx[l * n + p] = ((r + 31 * l) % 128) as u16;
                }
            }
        }
        s
    }

    /// A frame in slices decodes to its symbols for any number of slices and threads, with
    /// models each slice carries to the next frame; each slice's bytes depend on its own rows
    /// only; slice lengths that do not fit the payload are refused.
    #[test]
    fn slices_code_their_rows_apart_and_decode_on_any_number_of_threads() {
        let (height, width) = (30, 20);
        let state = varied_state(height, width);
        let fresh = |slices| Contexts::new(3, 7).with_fine_motion(1).with_slices(slices);
        let dims = (3, height, width);
        for slices in [1, 2, 3, 7, 16] {
            let (mut enc, mut dec, mut dec_threads) = (fresh(slices), fresh(slices), fresh(slices));
            // two frames: the second codes with the models each slice carried over
            for frame in 0..2 {
                let (payload, _) = write_counted_on(&state, FrameKind::Delta, &mut enc, 1);
                let mut again = fresh(slices);
                if frame == 1 {
                    write_counted_on(&state, FrameKind::Delta, &mut again, 1);
                }
                let (threaded, _) = write_counted_on(&state, FrameKind::Delta, &mut again, 4);
                assert_eq!(threaded, payload, "{slices} slices written on threads");
                for (ctx, threads) in [(&mut dec, 1), (&mut dec_threads, 4)] {
                    let got = decode_frame_on(
                        &payload,
                        FrameKind::Delta,
                        (3, 0),
                        dims,
                        128,
                        ctx,
                        threads,
                    )
                    .unwrap();
                    assert_eq!(got, state, "{slices} slices on {threads} threads");
                }
                if slices == 3 && frame == 0 {
                    // a change in slice 1's rows (10..20) leaves slices 0 and 2 as they were
                    let mut changed = state.clone();
                    let p = 15 * width + 4;
                    changed.mode[p] = Mode::Intra;
                    changed.idx[p] = 5;
                    changed.idx[height * width + p] = 6;
                    changed.idx[2 * height * width + p] = 7;
                    (changed.motion[p], changed.far[p]) = (0, 0);
                    let other = write_frame(&changed, FrameKind::Delta, &mut fresh(3));
                    let (a, b) = (
                        split_slices(&payload, 3).unwrap(),
                        split_slices(&other, 3).unwrap(),
                    );
                    assert_eq!((a[0], a[2]), (b[0], b[2]));
                    assert_ne!(a[1], b[1]);
                }
            }
        }
        // lengths that do not fit: past the payload, cut inside, not the shortest form
        let payload = write_frame(&state, FrameKind::Delta, &mut fresh(3));
        for (bad, why) in [
            (vec![0xFF, 0x7F, 1, 2, 3], "runs past the payload"),
            (vec![], "ended inside slice 0's length"),
            (vec![3, 0x80], "ended inside slice 1's length"),
            (
                vec![0x80, 0x00, 1, 2],
                "slice 0's length is no valid varint",
            ),
        ] {
            let err =
                decode_frame(&bad, FrameKind::Delta, (3, 0), dims, 128, &mut fresh(3)).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        // a slice's bytes cut short: that slice's error, named
        let cut = &payload[..payload.len() - 40];
        let err =
            decode_frame(cut, FrameKind::Delta, (3, 0), dims, 128, &mut fresh(3)).unwrap_err();
        assert!(err.starts_with("slice 2:"), "{err}");
    }

    /// Enhancement coefficients (version 9): every coded position's coefficients (none at
    /// copies) decode as written, in slices on any number of threads; the latent adds
    /// `c · step` to the refined values; bad steps are refused.
    #[test]
    fn coefficients_decode_as_written_and_add_their_steps() {
        let (height, width, dims) = (12, 10, 6);
        let n = height * width;
        let mut state = varied_state(height, width).with_enhancement(dims, 40);
        for p in 0..n {
            if state.mode[p] == Mode::Copy {
                continue;
            }
            for j in 0..dims {
                let r = (p * 31 + j * 17) % 23;
                state.coef[p * dims + j] = match r {
                    0..=11 => 0,
                    12..=17 => 1,
                    18..=20 => -3,
                    21 => 40_000,
                    _ => -(r as i32),
                };
            }
        }
        let models = |slices| {
            Contexts::new(3, 7)
                .with_fine_motion(1)
                .with_enhancement(dims)
                .with_slices(slices)
        };
        let sizes = (3, height, width);
        for slices in [1, 3] {
            let (payload, bits) =
                write_counted_on(&state, FrameKind::Delta, &mut models(slices), 1);
            assert!(bits.enhancement > 0.0);
            for threads in [1, 4] {
                let got = decode_frame_on(
                    &payload,
                    FrameKind::Delta,
                    (3, 40),
                    sizes,
                    128,
                    &mut models(slices),
                    threads,
                )
                .unwrap();
                assert_eq!(got, state, "{slices} slices, {threads} threads");
            }
        }
        // without the step the frame codes no coefficient, and the same symbols otherwise
        let mut plain = state.clone();
        plain.step = 0;
        let payload = write_frame(&plain, FrameKind::Delta, &mut models(1));
        let got = decode_frame(
            &payload,
            FrameKind::Delta,
            (3, 0),
            sizes,
            128,
            &mut models(1),
        )
        .unwrap();
        assert!(got.coef.is_empty(), "no coefficients without a step");
        assert_eq!((got.mode, got.idx), (state.mode.clone(), state.idx.clone()));
        // a step beyond the table, or for a stream without refined values
        let payload = write_frame(&state, FrameKind::Delta, &mut models(1));
        let step = crate::coefs::MAX_STEP + 1;
        let err = decode_frame(
            &payload,
            FrameKind::Delta,
            (3, step),
            sizes,
            128,
            &mut models(1),
        )
        .unwrap_err();
        assert!(err.contains("enhancement step"), "{err}");
        let err = decode_frame(&payload, FrameKind::Delta, (3, 40), sizes, 128, &mut {
            Contexts::new(3, 7).with_fine_motion(1)
        })
        .unwrap_err();
        assert!(err.contains("0 refined values"), "{err}");
        // the latent: the codes' sum (a keyframe's positions, no prediction) plus c·step on the
        // last `dims` values
        let dim = 8;
        let data: Vec<f32> = (0..3 * 128 * dim)
            .map(|i| ((i % 37) as f32 - 18.0) / 64.0)
            .collect();
        let books = Codebooks::new(3, 128, dim, data).unwrap();
        let mut key = state.clone();
        key.mode.fill(Mode::Intra);
        key.motion.fill(0);
        key.far.fill(0);
        for p in 0..n {
            for l in 0..3 {
                key.idx[l * n + p] = ((p + l * 5) % 128) as u16;
            }
        }
        key.reconstruct(&books, None);
        let step = crate::coefs::step_units(40);
        for p in [0, 17, n - 1] {
            for i in 0..dim {
                let mut v = 0i32;
                for l in 0..3 {
                    v = v.wrapping_add(books.fixed_code(l, (p + l * 5) % 128)[i]);
                }
                if i >= dim - dims {
                    v = v.wrapping_add(key.coef[p * dims + i - (dim - dims)].wrapping_mul(step));
                }
                assert_eq!(key.latent[p * dim + i], v, "position {p}, value {i}");
            }
        }
    }

    #[test]
    fn the_search_costs_are_the_same_in_bands_on_several_threads() {
        let (height, width) = (9, 13);
        let reference = varied_state(height, width);
        // models that have seen this frame's symbols twice, so that contexts differ in cost
        let mut ctx = Contexts::new(3, 7).with_fine_motion(1);
        for _ in 0..2 {
            write_frame(&reference, FrameKind::Delta, &mut ctx);
        }
        let one = search_costs_on(
            &ctx.slices[0],
            FrameKind::Delta,
            (3, 128),
            Some(&reference),
            1,
        );
        assert_eq!(one.2.len(), height * width * (2 + starts(3).len()));
        assert_eq!(one.3.len(), height * width * MOTIONS.len());
        let distinct = |v: &[f32]| {
            let mut v: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        assert!(
            distinct(&one.2) > 10 && distinct(&one.3) > 5,
            "the costs vary"
        );
        for threads in [2, 3, 8, height * width + 3] {
            let banded = search_costs_on(
                &ctx.slices[0],
                FrameKind::Delta,
                (3, 128),
                Some(&reference),
                threads,
            );
            assert_eq!(banded, one, "{threads} threads");
        }
    }
}
