//! Frame syntax: the order of symbols in a chunk payload, their contexts, and the decoded
//! token state both sides keep. The encoder half makes its rate–distortion choices while it
//! codes, with the very model state the decoder will have, so the two cannot drift.
//!
//! Payload of a frame with `L'` coded levels on an `h × w` latent grid, raster order (the
//! normative text is docs/bitstream.md, "Frame syntax"):
//! ```text
//! for y in 0..h, x in 0..w, l in 0..L':
//!     r = reference index (previous frame, level l, here), if any
//!     if r: skip flag     context (l, left flag + above flag, flag of level l−1 here)
//!     if no r or not skipped: a new index:
//!         same as left?   context (l, frame kind, left == above)   [left exists, ≠ r]
//!         same as above?  context (l, frame kind)                  [above exists, ≠ left, ≠ r]
//!         else bit tree   per (frame kind, l)
//! ```

use crate::codebook::Codebooks;
use crate::container::FrameKind;
use crate::range::{BitModel, BitTree, RangeDecoder, RangeEncoder};

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

    /// The indices of the coded levels (`coded × height × width`, level-major).
    pub fn coded_indices(&self) -> &[u16] {
        &self.idx[..self.coded * self.height * self.width]
    }
}

/// Adaptive models of one stream; reset at every keyframe.
#[derive(Debug, Clone)]
pub struct Contexts {
    skip: Vec<BitModel>,
    same_left: Vec<BitModel>,
    same_above: Vec<BitModel>,
    key: Vec<BitTree>,
    delta: Vec<BitTree>,
}

const SKIP_CTX: usize = 3 * 2;

impl Contexts {
    /// Fresh models for `levels` levels of `2^bits` codes.
    pub fn new(levels: usize, bits: u32) -> Self {
        Self {
            skip: vec![BitModel::new(); levels * SKIP_CTX],
            same_left: vec![BitModel::new(); 2 * levels * 2],
            same_above: vec![BitModel::new(); 2 * levels],
            key: vec![BitTree::new(bits); levels],
            delta: vec![BitTree::new(bits); levels],
        }
    }

    /// Context of the skip flag of `level` at position `p` (column `x`, row `y`) from the flags
    /// already coded in this frame (`flags`: level-major, `n` positions per level): the flags
    /// to the left and above at this level, and of the level below here.
    #[inline]
    fn skip_ctx(
        flags: &[bool],
        level: usize,
        (p, x, y, width, n): (usize, usize, usize, usize, usize),
    ) -> usize {
        let plane = level * n;
        let left = x > 0 && flags[plane + p - 1];
        let above = y > 0 && flags[plane + p - width];
        let lower = level > 0 && flags[plane - n + p];
        level * SKIP_CTX + (usize::from(left) + usize::from(above)) * 2 + usize::from(lower)
    }

    #[inline]
    fn tree(&mut self, kind: FrameKind, level: usize) -> &mut BitTree {
        match kind {
            FrameKind::Key => &mut self.key[level],
            FrameKind::Delta => &mut self.delta[level],
        }
    }
}

/// The spatial candidates for a new index at one position and level: the indices already
/// chosen to the left and above, minus any that cannot occur (equal to each other, or equal
/// to the reference index, which would have been a skip).
#[derive(Debug, Clone, Copy)]
struct Neighbours {
    kind: FrameKind,
    level: usize,
    left: Option<u16>,
    above: Option<u16>,
    /// Context of the same-as-left flag: the left and above indices agree.
    agree: bool,
}

impl Neighbours {
    #[inline]
    fn new(
        kind: FrameKind,
        level: usize,
        idx: &[u16],
        (p, x, y, width): (usize, usize, usize, usize),
        reference: u16,
    ) -> Self {
        let left = (x > 0).then(|| idx[p - 1]);
        let above = (y > 0).then(|| idx[p - width]);
        let agree = left.is_some() && left == above;
        let excluded = |v: Option<u16>| v.filter(|&v| v != reference);
        let left = excluded(left);
        let above = excluded(above).filter(|&a| Some(a) != left && !agree);
        Self {
            kind,
            level,
            left,
            above,
            agree,
        }
    }

    #[inline]
    fn left_ctx(&self) -> usize {
        self.level * 4 + usize::from(self.kind == FrameKind::Delta) * 2 + usize::from(self.agree)
    }

    #[inline]
    fn above_ctx(&self) -> usize {
        usize::from(self.kind == FrameKind::Delta) + 2 * self.level
    }
}

/// Bits to code `v` as a new index.
#[inline]
fn index_cost(ctx: &Contexts, n: &Neighbours, v: u16) -> f32 {
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
    let tree = match n.kind {
        FrameKind::Key => &ctx.key[n.level],
        FrameKind::Delta => &ctx.delta[n.level],
    };
    bits + tree.cost(u32::from(v))
}

#[inline]
fn write_index(enc: &mut RangeEncoder, ctx: &mut Contexts, n: &Neighbours, v: u16) {
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
    ctx.tree(n.kind, n.level).encode(enc, u32::from(v));
}

#[inline]
fn read_index(dec: &mut RangeDecoder<'_>, ctx: &mut Contexts, n: &Neighbours) -> u16 {
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
    ctx.tree(n.kind, n.level).decode(dec) as u16
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
    /// Latent squared error per bit: how much distortion a cheaper choice may add per bit saved.
    pub lambda: f32,
}

/// Quantises `latent` (`h·w × dim`, position-major) and codes it. At every position and
/// level the encoder weighs the candidates the syntax makes cheap — the reference index (a
/// skip), the left and above indices — against the nearest code, by `distortion + λ·bits`
/// with the models' current costs.
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
    let kind = params.kind;
    let prev = match kind {
        FrameKind::Delta => Some(prev.expect("a delta frame needs a reference")),
        FrameKind::Key => None,
    };
    let lambda = params.lambda;
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
            let nb = Neighbours::new(
                kind,
                l,
                &state.idx[plane..plane + n],
                (p, x, y, width),
                reference,
            );
            let dist = |v: u16| books.distance(l, usize::from(v), &residual);
            // the best new index: the nearest code, or a cheaper neighbour when λ allows
            let new_bits = |v: u16| index_cost(ctx, &nb, v);
            let mut best = (near, d_near + lambda * new_bits(near));
            if lambda > 0.0 {
                for v in [nb.left, nb.above].into_iter().flatten() {
                    if v != near {
                        let c = dist(v) + lambda * new_bits(v);
                        if c < best.1 {
                            best = (v, c);
                        }
                    }
                }
            }
            let chosen = if reference != NONE {
                let c = Contexts::skip_ctx(&flags, l, (p, x, y, width, n));
                let m = ctx.skip[c];
                let skip = near == reference
                    || dist(reference) + lambda * m.cost(true) <= best.1 + lambda * m.cost(false);
                enc.encode(&mut ctx.skip[c], skip);
                flags[plane + p] = skip;
                if skip {
                    skipped += 1;
                    reference
                } else {
                    write_index(&mut enc, ctx, &nb, best.0);
                    best.0
                }
            } else {
                write_index(&mut enc, ctx, &nb, best.0);
                best.0
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
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
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
            let skip = reference != NONE && value == reference;
            if reference != NONE {
                let c = Contexts::skip_ctx(&flags, l, (p, x, y, width, n));
                enc.encode(&mut ctx.skip[c], skip);
                flags[plane + p] = skip;
            }
            if !skip {
                let nb = Neighbours::new(
                    kind,
                    l,
                    &state.idx[plane..plane + n],
                    (p, x, y, width),
                    reference,
                );
                write_index(&mut enc, ctx, &nb, value);
            }
        }
    }
    enc.finish()
}

/// Symbols (skip flags and indices) a frame codes: what the entropy-coder benchmark counts.
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
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
            let skip = reference != NONE && {
                let c = Contexts::skip_ctx(&flags, l, (p, x, y, width, n));
                dec.decode(&mut ctx.skip[c])
            };
            flags[plane + p] = skip;
            let value = if skip {
                reference
            } else {
                let nb = Neighbours::new(
                    kind,
                    l,
                    &state.idx[plane..plane + n],
                    (p, x, y, width),
                    reference,
                );
                read_index(&mut dec, ctx, &nb)
            };
            if usize::from(value) >= codebook_size {
                return Err(format!(
                    "code index {value} outside a codebook of {codebook_size}"
                ));
            }
            state.idx[plane + p] = value;
        }
    }
    if dec.overrun() > 0 {
        return Err(format!("the payload ended {} bytes early", dec.overrun()));
    }
    Ok(state)
}
