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
//!     if not skipped:
//!         if l > 0: stop flag  context (l, key | delta with r | delta without r,
//!                                       left ended by l + above ended by l)
//!             stop: this position has no level l or deeper in this frame
//!         same as left?   context (l, frame kind, left == above)   [left exists, ≠ r]
//!         same as above?  context (l, frame kind)                  [above exists, ≠ left, ≠ r]
//!         else bit tree   per (frame kind, l)
//! ```

use crate::codebook::Codebooks;
use crate::container::FrameKind;
use crate::range::{BitModel, BitTree, RangeDecoder, RangeEncoder};

/// Marks a level that the frame did not code at a position: beyond the frame's coded levels,
/// or where the position's depth ended (a stop flag). It decodes as a zero vector.
pub const NONE: u16 = u16::MAX;

/// The code indices a decoder holds after a frame: `levels × height × width`, with [`NONE`]
/// for levels the frame did not code (all levels from the frame's `coded` on, and at each
/// position every level from the one where its depth ended).
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

    /// The indices of the coded levels (`coded × height × width`, level-major; [`NONE`] where
    /// a position's depth ended).
    pub fn coded_indices(&self) -> &[u16] {
        &self.idx[..self.coded * self.height * self.width]
    }

    /// Mean number of levels coded per position (`coded` when no position ended early).
    pub fn mean_depth(&self) -> f64 {
        self.coded_pairs() as f64 / (self.height * self.width).max(1) as f64
    }

    /// The (position, level) pairs that hold an index: each position up to its depth.
    pub fn coded_pairs(&self) -> usize {
        self.coded_indices().iter().filter(|&&v| v != NONE).count()
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
    stop: Vec<BitModel>,
}

const SKIP_CTX: usize = 3 * 2;
/// Stop-flag contexts per level: 3 classes (keyframe; delta frame with a reference index here;
/// delta frame whose reference ended here) × 3 (left and above positions that ended by this
/// level: 0, 1 or 2).
const STOP_CTX: usize = 3 * 3;

impl Contexts {
    /// Fresh models for `levels` levels of `2^bits` codes.
    pub fn new(levels: usize, bits: u32) -> Self {
        Self {
            skip: vec![BitModel::new(); levels * SKIP_CTX],
            same_left: vec![BitModel::new(); 2 * levels * 2],
            same_above: vec![BitModel::new(); 2 * levels],
            key: vec![BitTree::new(bits); levels],
            delta: vec![BitTree::new(bits); levels],
            stop: vec![BitModel::new(); levels * STOP_CTX],
        }
    }

    /// Context of the stop flag of `level` (≥ 1) at position `p` from the depths of the
    /// positions already coded (`depth`: levels coded per position), the frame kind and whether
    /// a reference index exists here.
    #[inline]
    fn stop_ctx(
        depth: &[u8],
        level: usize,
        (p, x, y, width): (usize, usize, usize, usize),
        kind: FrameKind,
        reference: u16,
    ) -> usize {
        let ended = |q: usize| usize::from(usize::from(depth[q]) <= level);
        let n = if x > 0 { ended(p - 1) } else { 0 } + if y > 0 { ended(p - width) } else { 0 };
        let class = match kind {
            FrameKind::Key => 0,
            FrameKind::Delta if reference != NONE => 1,
            FrameKind::Delta => 2,
        };
        level * STOP_CTX + class * 3 + n
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
        let lower = level > 0 && flags[level * n - n + p];
        Self::skip_ctx_lower(flags, level, (p, x, y, width, n), lower)
    }

    /// [`Self::skip_ctx`] with the flag of level `level − 1` here given: the encoder's plan
    /// knows it before the flag is written.
    #[inline]
    fn skip_ctx_lower(
        flags: &[bool],
        level: usize,
        (p, x, y, width, n): (usize, usize, usize, usize, usize),
        lower: bool,
    ) -> usize {
        let plane = level * n;
        let left = x > 0 && flags[plane + p - 1];
        let above = y > 0 && flags[plane + p - width];
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
        // a neighbour whose depth ended before this level offers no candidate
        let left = (x > 0).then(|| idx[p - 1]).filter(|&v| v != NONE);
        let above = (y > 0).then(|| idx[p - width]).filter(|&v| v != NONE);
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
/// with the models' current costs; along that path it then ends the position at the depth
/// whose `error + λ·bits` is least (every level when λ is 0).
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
    let mut state = TokenState::empty(levels, height, width, coded);
    let mut flags = vec![false; coded * n];
    let mut depth = vec![0u8; n];
    let mut enc = RangeEncoder::new();
    let mut plan = Plan {
        choices: vec![Choice::default(); coded],
        residual: vec![0f32; dim],
    };
    let (mut distortion, mut skipped) = (0f64, 0usize);
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        let at = (p, x, y, width);
        let reference = |l: usize| prev.map_or(NONE, |s| s.idx[l * n + p]);
        let pos = Position {
            at,
            n,
            kind,
            lambda: params.lambda,
        };
        let (stop_at, error) = plan.make(
            &latent[p * dim..(p + 1) * dim],
            books,
            ctx,
            (&state, &flags, &depth),
            &pos,
            &reference,
        );
        for l in 0..coded {
            let plane = l * n;
            let r = reference(l);
            let skip_c = Contexts::skip_ctx(&flags, l, (p, x, y, width, n));
            if l == stop_at {
                if r != NONE {
                    enc.encode(&mut ctx.skip[skip_c], false);
                }
                enc.encode(
                    &mut ctx.stop[Contexts::stop_ctx(&depth, l, at, kind, r)],
                    true,
                );
                break;
            }
            let Choice { value, skip, .. } = plan.choices[l];
            if r != NONE {
                enc.encode(&mut ctx.skip[skip_c], skip);
                flags[plane + p] = skip;
            }
            if skip {
                skipped += 1;
            } else {
                if l > 0 {
                    enc.encode(
                        &mut ctx.stop[Contexts::stop_ctx(&depth, l, at, kind, r)],
                        false,
                    );
                }
                let nb = Neighbours::new(kind, l, &state.idx[plane..plane + n], at, r);
                write_index(&mut enc, ctx, &nb, value);
            }
            state.idx[plane + p] = value;
        }
        depth[p] = stop_at as u8;
        distortion += f64::from(error);
    }
    FrameCode {
        payload: enc.finish(),
        state,
        distortion,
        skipped,
    }
}

/// Where a position is and how it is coded: `(p, x, y, width)`, positions per level, frame
/// kind, λ.
struct Position {
    at: (usize, usize, usize, usize),
    n: usize,
    kind: FrameKind,
    lambda: f32,
}

/// One level's choice at a position.
#[derive(Debug, Clone, Copy, Default)]
struct Choice {
    value: u16,
    skip: bool,
}

/// The encoder's choices at one position, made before any of its symbols is written.
struct Plan {
    choices: Vec<Choice>,
    residual: Vec<f32>,
}

impl Plan {
    /// Chooses level by level — the reference (skip), the left or above index, or the nearest
    /// code, by `distortion + λ·bits` — and returns the depth to code and the squared error it
    /// leaves. The depth is the `d` in `1..=coded` whose `error after d levels + λ·(bits of
    /// levels < d + the stop flag at d)` is least (ties keep the shallower), `coded` when λ is 0;
    /// the search ends once the bits alone cost more than the best depth so far. Costs come
    /// from the models' state before the position (its levels use separate models).
    fn make(
        &mut self,
        z: &[f32],
        books: &Codebooks,
        ctx: &Contexts,
        (state, flags, depth): (&TokenState, &[bool], &[u8]),
        pos: &Position,
        reference: &impl Fn(usize) -> u16,
    ) -> (usize, f32) {
        let Position {
            at,
            n,
            kind,
            lambda,
        } = *pos;
        let (p, x, y, width) = at;
        let coded = self.choices.len();
        let residual = &mut self.residual;
        residual.copy_from_slice(z);
        let energy = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>();
        let mut bits = 0f32;
        let mut lower_skip = false;
        let (mut best_d, mut best_j, mut best_e) = (coded, f32::INFINITY, 0f32);
        for l in 0..coded {
            let r = reference(l);
            // the skip flag's context as the coding loop will see it, this position's lower
            // flag from the plan
            let skip_m = (r != NONE).then(|| {
                ctx.skip
                    [Contexts::skip_ctx_lower(flags, l, (p, x, y, width, n), l > 0 && lower_skip)]
            });
            let stop_m = (l > 0).then(|| ctx.stop[Contexts::stop_ctx(depth, l, at, kind, r)]);
            if l > 0 && lambda > 0.0 {
                let e = energy(residual);
                let stop_bits =
                    skip_m.map_or(0.0, |m| m.cost(false)) + stop_m.map_or(0.0, |m| m.cost(true));
                let j = e + lambda * (bits + stop_bits);
                if j < best_j {
                    (best_d, best_j, best_e) = (l, j, e);
                }
                if lambda * bits >= best_j {
                    // every deeper depth costs at least these bits
                    return (best_d, best_e);
                }
            }
            let (near, d_near) = books.nearest(l, residual);
            let nb = Neighbours::new(kind, l, &state.idx[l * n..(l + 1) * n], at, r);
            let dist = |v: u16| books.distance(l, usize::from(v), residual);
            let go_bits = stop_m.map_or(0.0, |m| m.cost(false));
            // the best new index: the nearest code, or a cheaper neighbour when λ allows;
            // (index, its cost `d + λ·bits`, its bits)
            let near_bits = index_cost(ctx, &nb, near);
            let mut best = (near, d_near + lambda * near_bits, near_bits);
            if lambda > 0.0 {
                for v in [nb.left, nb.above].into_iter().flatten() {
                    if v != near {
                        let b = index_cost(ctx, &nb, v);
                        let c = dist(v) + lambda * b;
                        if c < best.1 {
                            best = (v, c, b);
                        }
                    }
                }
            }
            let skip = skip_m.is_some_and(|m| {
                near == r
                    || dist(r) + lambda * m.cost(true)
                        <= best.1 + lambda * (m.cost(false) + go_bits)
            });
            let (value, cost) = if skip {
                (r, skip_m.map_or(0.0, |m| m.cost(true)))
            } else {
                (
                    best.0,
                    skip_m.map_or(0.0, |m| m.cost(false)) + go_bits + best.2,
                )
            };
            self.choices[l] = Choice { value, skip };
            lower_skip = skip;
            bits += cost;
            for (v, c) in residual.iter_mut().zip(books.code(l, usize::from(value))) {
                *v -= c;
            }
        }
        let e = energy(residual);
        if lambda == 0.0 || e + lambda * bits < best_j {
            (best_d, best_e) = (coded, e);
        }
        (best_d, best_e)
    }
}

/// Codes a frame whose indices are already chosen: a level is a skip wherever it equals the
/// reference's index there (which is exactly what [`encode_frame`] writes, as it never sends
/// a new index equal to the reference), and a position's depth ends at its first [`NONE`].
/// Used to re-encode tokens and to time the entropy coder alone.
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
    let mut depth = vec![0u8; n];
    let mut enc = RangeEncoder::new();
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        let at = (p, x, y, width);
        let mut d_pos = 0u8;
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
                // level 0 has no stop flag: a position codes at least one level
                let stop = l > 0 && value == NONE;
                if l > 0 {
                    let c = Contexts::stop_ctx(&depth, l, at, kind, reference);
                    enc.encode(&mut ctx.stop[c], stop);
                }
                if stop {
                    break;
                }
                let nb = Neighbours::new(
                    kind,
                    l,
                    &state.idx[plane..plane + n],
                    (p, x, y, width),
                    reference,
                );
                write_index(&mut enc, ctx, &nb, value);
            }
            d_pos += 1;
        }
        depth[p] = d_pos;
    }
    enc.finish()
}

/// Symbols (skip flags, stop flags and indices) a frame codes: what the entropy-coder
/// benchmark counts.
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
pub fn symbol_count(state: &TokenState, prev: Option<&TokenState>) -> usize {
    let n = state.height * state.width;
    let mut count = 0;
    for p in 0..n {
        for l in 0..state.coded {
            let v = state.idx[l * n + p];
            let r = prev.map_or(NONE, |s| s.idx[l * n + p]);
            count += usize::from(r != NONE);
            if r != NONE && v == r {
                continue;
            }
            count += usize::from(l > 0);
            if v == NONE {
                break;
            }
            count += 1;
        }
    }
    count
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
    let mut depth = vec![0u8; n];
    let mut dec = RangeDecoder::new(payload);
    for p in 0..n {
        let (y, x) = (p / width, p % width);
        let at = (p, x, y, width);
        let mut d_pos = 0u8;
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
                if l > 0
                    && dec.decode(&mut ctx.stop[Contexts::stop_ctx(&depth, l, at, kind, reference)])
                {
                    break;
                }
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
            d_pos += 1;
        }
        depth[p] = d_pos;
    }
    if dec.overrun() > 0 {
        return Err(format!("the payload ended {} bytes early", dec.overrun()));
    }
    Ok(state)
}
