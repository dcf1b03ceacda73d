//! Frame syntax: the order of symbols in a chunk payload, their contexts, and the decoded
//! token state both sides keep. The encoder half makes its rate–distortion choices while it
//! codes, with the very model state the decoder will have, so the two cannot drift.
//!
//! Payload of a frame with `L'` coded levels on an `h × w` latent grid, raster order:
//! ```text
//! for y in 0..h, x in 0..w, l in 0..L':
//!     delta frame and the reference holds level l here:
//!         skip flag   context (l, left flag + above flag, flag of level l−1 here)
//!     not skipped:
//!         index       bit tree per (frame kind, l)
//! ```

use super::codebook::Codebooks;
use super::container::FrameKind;
use super::range::{BitModel, BitTree, RangeDecoder, RangeEncoder};

/// Marks a level that the frame did not code.
pub const NONE: u16 = u16::MAX;

/// The code indices a decoder holds after a frame: `levels × height × width`, with [`NONE`]
/// for levels the frame did not code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    /// The model's RVQ levels.
    pub levels: usize,
    /// Latent rows.
    pub height: usize,
    /// Latent columns.
    pub width: usize,
    /// Levels coded in this frame (the first `coded` hold indices).
    pub coded: usize,
    /// Indices, level-major.
    pub idx: Vec<u16>,
}

impl TokenState {
    fn empty(levels: usize, height: usize, width: usize, coded: usize) -> Self {
        Self {
            levels,
            height,
            width,
            coded,
            idx: vec![NONE; levels * height * width],
        }
    }

    /// The coded levels as engine tokens (`1 × coded × h × w`).
    pub fn tokens(&self) -> crate::Tokens {
        let plane = self.height * self.width;
        crate::Tokens {
            batch: 1,
            levels: self.coded,
            height: self.height,
            width: self.width,
            data: self.idx[..self.coded * plane]
                .iter()
                .map(|&v| u32::from(v))
                .collect(),
        }
    }
}

/// Adaptive models of one stream; reset at every keyframe.
#[derive(Debug, Clone)]
pub struct Contexts {
    skip: Vec<BitModel>,
    key: Vec<BitTree>,
    delta: Vec<BitTree>,
}

const SKIP_CTX: usize = 3 * 2;

impl Contexts {
    /// Fresh models for `levels` levels of `2^bits` codes.
    pub fn new(levels: usize, bits: u32) -> Self {
        Self {
            skip: vec![BitModel::new(); levels * SKIP_CTX],
            key: vec![BitTree::new(bits); levels],
            delta: vec![BitTree::new(bits); levels],
        }
    }

    #[inline]
    fn skip_ctx(level: usize, left: bool, above: bool, lower: bool) -> usize {
        level * SKIP_CTX + (usize::from(left) + usize::from(above)) * 2 + usize::from(lower)
    }

    fn tree(&mut self, kind: FrameKind, level: usize) -> &mut BitTree {
        match kind {
            FrameKind::Key => &mut self.key[level],
            FrameKind::Delta => &mut self.delta[level],
        }
    }
}

/// What the encoder decided for a frame.
#[derive(Debug, Clone)]
pub struct FrameCode {
    /// The payload.
    pub payload: Vec<u8>,
    /// The state a decoder will hold after it.
    pub state: TokenState,
    /// Squared latent error summed over positions.
    pub distortion: f64,
    /// Positions × levels sent as skips.
    pub skipped: usize,
}

/// Encoder choices for one frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameParams {
    /// Key or delta.
    pub kind: FrameKind,
    /// Levels to code.
    pub levels: usize,
    /// Latent squared error per bit: how much distortion a skip may add to save one bit.
    pub lambda: f32,
}

/// Quantises `latent` (`h·w × dim`, position-major) and codes it.
///
/// # Panics
/// If `prev` is `None` for a delta frame, or shapes disagree (caller bugs).
pub fn encode_frame(
    latent: &[f32],
    (height, width): (usize, usize),
    books: &Codebooks,
    params: FrameParams,
    ctx: &mut Contexts,
    prev: Option<&TokenState>,
) -> FrameCode {
    let (levels, dim) = (books.levels(), books.dim());
    let n = height * width;
    assert_eq!(latent.len(), n * dim, "latent shape");
    let coded = params.levels.clamp(1, levels);
    let delta = params.kind == FrameKind::Delta;
    let prev = if delta {
        Some(prev.expect("a delta frame needs a reference"))
    } else {
        None
    };
    let mut state = TokenState::empty(levels, height, width, coded);
    let mut flags = vec![false; coded * n];
    let mut enc = RangeEncoder::new();
    let mut residual = vec![0f32; dim];
    let (mut distortion, mut skipped) = (0f64, 0usize);
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        residual.copy_from_slice(&latent[p * dim..(p + 1) * dim]);
        for l in 0..coded {
            let plane = l * n;
            let reference = prev.map_or(NONE, |s| s.idx[plane + p]);
            let (near, d_near) = books.nearest(l, &residual);
            let chosen = if reference != NONE {
                let left = x > 0 && flags[plane + p - 1];
                let above = y > 0 && flags[plane + p - width];
                let lower = l > 0 && flags[plane - n + p];
                let c = Contexts::skip_ctx(l, left, above, lower);
                let skip = if near == reference {
                    true
                } else {
                    let d_ref = books.distance(l, usize::from(reference), &residual);
                    let m = ctx.skip[c];
                    let keep = d_ref + params.lambda * m.cost(true);
                    let send = d_near
                        + params.lambda
                            * (m.cost(false) + ctx.delta[l].cost(u32::from(near)));
                    keep <= send
                };
                enc.encode(&mut ctx.skip[c], skip);
                flags[plane + p] = skip;
                if skip {
                    skipped += 1;
                    reference
                } else {
                    ctx.delta[l].encode(&mut enc, u32::from(near));
                    near
                }
            } else {
                ctx.tree(params.kind, l).encode(&mut enc, u32::from(near));
                near
            };
            state.idx[plane + p] = chosen;
            for (r, c) in residual.iter_mut().zip(books.code(l, usize::from(chosen))) {
                *r -= c;
            }
        }
        distortion += residual.iter().map(|v| f64::from(v * v)).sum::<f64>();
    }
    FrameCode {
        payload: enc.finish(),
        state,
        distortion,
        skipped,
    }
}

/// Codes a frame whose indices are already chosen: a level is a skip wherever it equals the
/// reference's index there (which is exactly what [`encode_frame`] writes, as it never sends
/// a new index equal to the reference). Used to re-encode tokens and to time the entropy
/// coder alone.
///
/// # Panics
/// If `prev` is `None` for a delta frame or shapes disagree (caller bugs).
pub fn write_frame(
    state: &TokenState,
    kind: FrameKind,
    ctx: &mut Contexts,
    prev: Option<&TokenState>,
) -> Vec<u8> {
    let (height, width, coded) = (state.height, state.width, state.coded);
    let n = height * width;
    let prev = match kind {
        FrameKind::Delta => Some(prev.expect("a delta frame needs a reference")),
        FrameKind::Key => None,
    };
    let mut flags = vec![false; coded * n];
    let mut enc = RangeEncoder::new();
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        for l in 0..coded {
            let plane = l * n;
            let value = state.idx[plane + p];
            let reference = prev.map_or(NONE, |s| s.idx[plane + p]);
            if reference != NONE {
                let left = x > 0 && flags[plane + p - 1];
                let above = y > 0 && flags[plane + p - width];
                let lower = l > 0 && flags[plane - n + p];
                let skip = value == reference;
                enc.encode(&mut ctx.skip[Contexts::skip_ctx(l, left, above, lower)], skip);
                flags[plane + p] = skip;
                if !skip {
                    ctx.delta[l].encode(&mut enc, u32::from(value));
                }
            } else {
                ctx.tree(kind, l).encode(&mut enc, u32::from(value));
            }
        }
    }
    enc.finish()
}

/// Symbols (skip flags and indices) a frame codes: what the entropy-coder benchmark counts.
pub fn symbol_count(state: &TokenState, prev: Option<&TokenState>) -> usize {
    let n = state.height * state.width;
    (0..state.coded * n)
        .map(|i| match prev.map_or(NONE, |s| s.idx[i]) {
            NONE => 1,
            r if r == state.idx[i] => 1,
            _ => 2,
        })
        .sum()
}

/// Decodes a frame payload.
///
/// # Errors
/// A reason string when the payload does not decode to a valid frame (a code index outside
/// the codebook, or a payload that needed more bytes than it has).
#[allow(clippy::too_many_arguments)]
pub fn decode_frame(
    payload: &[u8],
    kind: FrameKind,
    coded: usize,
    (levels, height, width): (usize, usize, usize),
    codebook_size: usize,
    ctx: &mut Contexts,
    prev: Option<&TokenState>,
) -> Result<TokenState, String> {
    let n = height * width;
    let coded = coded.clamp(1, levels);
    let prev = match kind {
        FrameKind::Delta => Some(prev.ok_or("a delta frame needs a reference")?),
        FrameKind::Key => None,
    };
    let mut state = TokenState::empty(levels, height, width, coded);
    let mut flags = vec![false; coded * n];
    let mut dec = RangeDecoder::new(payload);
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        for l in 0..coded {
            let plane = l * n;
            let reference = prev.map_or(NONE, |s| s.idx[plane + p]);
            let value = if reference != NONE {
                let left = x > 0 && flags[plane + p - 1];
                let above = y > 0 && flags[plane + p - width];
                let lower = l > 0 && flags[plane - n + p];
                let c = Contexts::skip_ctx(l, left, above, lower);
                let skip = dec.decode(&mut ctx.skip[c]);
                flags[plane + p] = skip;
                if skip {
                    reference
                } else {
                    ctx.delta[l].decode(&mut dec) as u16
                }
            } else {
                ctx.tree(kind, l).decode(&mut dec) as u16
            };
            if usize::from(value) >= codebook_size {
                return Err(format!("code index {value} outside a codebook of {codebook_size}"));
            }
            state.idx[plane + p] = value;
        }
    }
    if dec.overrun() > 0 {
        return Err(format!(
            "the payload ended {} bytes early",
            dec.overrun()
        ));
    }
    Ok(state)
}
