//! Fine motion: predicting a position's latent from the previous frame's latent as if the picture
//! had moved by a few *pixels*, not whole latent positions.
//!
//! A shift of the picture by `d` pixels along one axis is, for a near-linear latent, close to a
//! linear map of the two latents it straddles; a model ships one such map per axis and shift
//! (least squares on training pictures, `vqcodec-lab motion-ops`), and a 2-D shift is the
//! horizontal map followed by the vertical one. Every product is integer arithmetic on the
//! fixed-point reference latent, so all decoders hold exactly the same prediction
//! (docs/bitstream.md, "Fine motion"). Measured on carphone with the v2 model
//! (docs/results/fine-motion.md): prediction error 2.2× lower than with the whole-position
//! shifts, files a fifth smaller at equal PSNR.

use crate::codebook::LATENT_FRAC_BITS;
use crate::error::ConfigError;

/// The largest fine-motion range (pixels per axis) the format accepts.
pub const MAX_FINE_RANGE: u8 = 7;

/// Bits the reference latent loses before a product: inputs carry `16 − 6 = 10` fractional bits.
const IN_SHIFT: u32 = 6;
/// Fractional bits of the maps' weights.
const WEIGHT_FRAC: u32 = 12;
/// A weight beyond this magnitude is refused (fitted maps stay within ±1).
const MAX_WEIGHT: f32 = 8.0;

/// The fine motions of range `r`: every `(dx, dy)` in `[−r, r]²` but `(0, 0)`, in raster order
/// (dy, then dx, increasing).
pub fn fine_motions(r: u8) -> impl Iterator<Item = (i8, i8)> {
    let r = r as i8;
    (-r..=r)
        .flat_map(move |dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter(|&m| m != (0, 0))
}

/// Number of fine motions of range `r`.
pub fn fine_count(r: u8) -> usize {
    let side = 2 * usize::from(r) + 1;
    side * side - 1
}

/// The `k`-th fine motion of range `r` (see [`fine_motions`]).
pub fn fine_motion(r: u8, k: usize) -> (i8, i8) {
    let side = 2 * usize::from(r) + 1;
    let k = if k >= side * side / 2 { k + 1 } else { k };
    ((k % side) as i8 - r as i8, (k / side) as i8 - r as i8)
}

/// The index `k` of fine motion `(dx, dy)` of range `r` (the inverse of [`fine_motion`]).
pub fn fine_index(r: u8, (dx, dy): (i8, i8)) -> usize {
    let side = 2 * usize::from(r) + 1;
    let r = r as i8;
    let k = (dy + r) as usize * side + (dx + r) as usize;
    if k > side * side / 2 { k - 1 } else { k }
}

/// A model's fine-motion maps: for each axis (horizontal, then vertical) and each shift `d` in
/// `−r..=−1, 1..=r`, a `(2·dim + 1) × dim` matrix taking the two latents the shifted position
/// straddles (for `d > 0` the one before and the one at the position, for `d < 0` the one at
/// it and the one after; clamped to the grid) and a 1 to the shifted latent.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionOps {
    range: u8,
    dim: usize,
    /// Where the maps split in two blocks: the values before `split` are predicted from
    /// those before it alone, the rest from the rest alone, with no bias (an enhanced model's
    /// maps: its networks' values and its enhancement's apart). `dim` for maps that mix all.
    split: usize,
    /// The leading block: `[axis][shift][2·split][out]` weights (input-major: the order the
    /// exact product reads; inputs `a[..split]` then `b[..split]`) and `[axis][shift][out]`
    /// biases, fixed point.
    weights_t: Vec<i32>,
    bias: Vec<i32>,
    /// The same values as `f32` (latent units; weights `[axis][shift][out][2·split]`), for
    /// the encoder's search.
    weights_f32: Vec<f32>,
    bias_f32: Vec<f32>,
    /// The trailing block as the leading one (`dim − split` values, zero biases), or `None`
    /// when all of its weights are zero. Both blocks' products are the full product's values,
    /// bit for bit: a zero weight adds nothing to a wrapping sum.
    rest: Option<Box<Block>>,
    /// `closed[k]`: the values from `k` on read no bias and no earlier value (`dim + 1` of them).
    closed: Vec<bool>,
}

/// The trailing block of [`MotionOps`].
#[derive(Debug, Clone, PartialEq)]
struct Block {
    weights_t: Vec<i32>,
    zeros: Vec<i32>,
    weights_f32: Vec<f32>,
}

/// The arithmetic a map runs in: exact fixed point (what every decoder holds) or `f32` (the
/// encoder's search, which only ranks candidates and recomputes the one it keeps exactly).
trait Arith: Copy + Default {
    fn apply(ops: &MotionOps, m: usize, a: &[Self], b: &[Self], out: &mut [Self]);
}

impl Arith for i32 {
    fn apply(ops: &MotionOps, m: usize, a: &[i32], b: &[i32], out: &mut [i32]) {
        let k = ops.split;
        let (out, rest) = out.split_at_mut(k);
        let arch = pulp::Arch::new();
        arch.dispatch(Product {
            rows: &ops.weights_t[m * 2 * k * k..(m + 1) * 2 * k * k],
            bias: &ops.bias[m * k..(m + 1) * k],
            a: &a[..k],
            b: &b[..k],
            out,
        });
        let (ra, rb) = (&a[k..], &b[k..]);
        match &ops.rest {
            // no inputs there (a stream that has coded none of an enhancement's values), or
            // no weights: the rounding of a zero sum
            Some(block) if ra.iter().chain(rb).any(|&v| v != 0) => {
                let e = rest.len();
                arch.dispatch(Product {
                    rows: &block.weights_t[m * 2 * e * e..(m + 1) * 2 * e * e],
                    bias: &block.zeros,
                    a: ra,
                    b: rb,
                    out: rest,
                });
            }
            _ => rest.fill(0),
        }
    }
}

/// One exact map product, compiled for the best vector instructions the CPU has (chosen at run
/// time: x86-64's baseline has no 32-bit vector multiply; AVX2 does, and a reconstruction
/// with fine motion spent most of its time here without it). Integer results do not depend
/// on it.
struct Product<'a> {
    /// `[2·dim][dim]`, input-major.
    rows: &'a [i32],
    bias: &'a [i32],
    a: &'a [i32],
    b: &'a [i32],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Product<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Product {
            rows,
            bias,
            a,
            b,
            out,
        } = self;
        // the shipped models' width as a constant: the sums stay in registers
        if let Ok(out) = <&mut [i32; 16]>::try_from(&mut *out) {
            let mut acc = [0i32; 16];
            product_into(rows, bias, (a, b), &mut acc);
            *out = acc;
        } else {
            product_into(rows, bias, (a, b), out);
        }
    }
}

/// `acc` = the product: each input scales one row of weights into all outputs at once (no sum
/// across lanes per output; wrapping sums do not depend on their order).
#[inline(always)]
fn product_into(rows: &[i32], bias: &[i32], (a, b): (&[i32], &[i32]), acc: &mut [i32]) {
    acc.copy_from_slice(bias);
    for (&v, w) in a.iter().chain(b).zip(rows.chunks_exact(acc.len())) {
        let x = v >> IN_SHIFT;
        for (o, &w) in acc.iter_mut().zip(w) {
            *o = o.wrapping_add(x.wrapping_mul(w));
        }
    }
    let round = 1 << (WEIGHT_FRAC - IN_SHIFT - 1);
    for o in acc.iter_mut() {
        *o = o.wrapping_add(round) >> (WEIGHT_FRAC - IN_SHIFT);
    }
}

impl Arith for f32 {
    fn apply(ops: &MotionOps, m: usize, a: &[f32], b: &[f32], out: &mut [f32]) {
        let k = ops.split;
        let rows = &ops.weights_f32[m * k * 2 * k..(m + 1) * k * 2 * k];
        let (out, rest) = out.split_at_mut(k);
        for (j, o) in out.iter_mut().enumerate() {
            let w = &rows[j * 2 * k..(j + 1) * 2 * k];
            *o = ops.bias_f32[m * k + j]
                + crate::codebook::dot(&w[..k], &a[..k])
                + crate::codebook::dot(&w[k..], &b[..k]);
        }
        let (ra, rb) = (&a[k..], &b[k..]);
        match &ops.rest {
            Some(block) if ra.iter().chain(rb).any(|&v| v != 0.0) => {
                let e = rest.len();
                let rows = &block.weights_f32[m * e * 2 * e..(m + 1) * e * 2 * e];
                for (j, o) in rest.iter_mut().enumerate() {
                    let w = &rows[j * 2 * e..(j + 1) * 2 * e];
                    *o = crate::codebook::dot(&w[..e], ra) + crate::codebook::dot(&w[e..], rb);
                }
            }
            _ => rest.fill(0.0),
        }
    }
}

impl MotionOps {
    /// Wraps `data` (`2 × 2r × (2·dim + 1) × dim`, row-major: axis, shift `−r..=−1, 1..=r`,
    /// input row, output column), rounded to the fixed-point grid (weights to 2^-12).
    ///
    /// # Errors
    /// [`ConfigError::Codebooks`] for a range outside `1..=7`, a length that does not match
    /// the shape, or a value that is not finite or beyond ±8 (weights) / ±4096 (biases).
    pub fn new(range: u8, dim: usize, data: &[f32]) -> Result<Self, ConfigError> {
        let bad = |got: String, expected: String| ConfigError::Codebooks { got, expected };
        if !(1..=MAX_FINE_RANGE).contains(&range) || dim == 0 {
            return Err(bad(
                format!("motion maps of range {range}, dimension {dim}"),
                format!("a range in 1..={MAX_FINE_RANGE}"),
            ));
        }
        let maps = 4 * usize::from(range);
        let rows = 2 * dim + 1;
        if data.len() != maps * rows * dim {
            return Err(bad(
                format!("motion maps of {} values", data.len()),
                format!("2x{}x{rows}x{dim}", 2 * range),
            ));
        }
        let mut weights = vec![0i32; maps * dim * 2 * dim];
        let mut bias = vec![0i32; maps * dim];
        for m in 0..maps {
            let map = &data[m * rows * dim..(m + 1) * rows * dim];
            for (row, values) in map.chunks_exact(dim).enumerate() {
                for (out, &v) in values.iter().enumerate() {
                    let is_bias = row == 2 * dim;
                    let limit = if is_bias { 4096.0 } else { MAX_WEIGHT };
                    if !(v.is_finite() && v.abs() <= limit) {
                        return Err(bad(
                            format!("a motion map value {v}"),
                            format!("finite values within ±{limit}"),
                        ));
                    }
                    if is_bias {
                        let frac = WEIGHT_FRAC + LATENT_FRAC_BITS - IN_SHIFT;
                        bias[m * dim + out] =
                            (f64::from(v) * f64::from(1u32 << frac)).round() as i32;
                    } else {
                        let w = (v * (1u32 << WEIGHT_FRAC) as f32).round() as i32;
                        weights[(m * dim + out) * 2 * dim + row] = w;
                    }
                }
            }
        }
        // for each `k`, whether the outputs from `k` on read no bias and no input before `k`
        // (of either latent): the first input each output reads, and which outputs have a bias
        let mut first_input = vec![dim; dim];
        for (mo, row) in weights.chunks_exact(2 * dim).enumerate() {
            if let Some(i) = row
                .iter()
                .enumerate()
                .filter(|(_, w)| **w != 0)
                .map(|(i, _)| i % dim)
                .min()
            {
                first_input[mo % dim] = first_input[mo % dim].min(i);
            }
        }
        let biased: Vec<bool> = (0..dim)
            .map(|j| bias.chunks_exact(dim).any(|b| b[j] != 0))
            .collect();
        let closed = (0..=dim)
            .map(|k| (k..dim).all(|j| !biased[j] && first_input[j] >= k))
            .collect();
        // `weights` is `[map][out][2·dim]`: the first split with no weight across it and no
        // bias after it
        let split = (1..=dim)
            .find(|&k| {
                weights.chunks_exact(2 * dim).enumerate().all(|(mo, row)| {
                    let out_after = mo % dim >= k;
                    row.iter()
                        .enumerate()
                        .all(|(i, &w)| w == 0 || (out_after == (i % dim >= k)))
                }) && bias
                    .iter()
                    .enumerate()
                    .all(|(mo, &b)| b == 0 || mo % dim < k)
            })
            .unwrap_or(dim);
        // one block's weights: outputs `range`, from a's and b's values in `range`
        let block = |range: std::ops::Range<usize>| -> (Vec<i32>, Vec<i32>) {
            let n = range.len();
            let mut input_major = vec![0i32; maps * 2 * n * n];
            let mut output_major = Vec::with_capacity(maps * n * 2 * n);
            for (m, map) in weights.chunks_exact(2 * dim * dim).enumerate() {
                for (out, row) in map
                    .chunks_exact(2 * dim)
                    .skip(range.start)
                    .take(n)
                    .enumerate()
                {
                    let row = [
                        &row[range.clone()],
                        &row[dim + range.start..dim + range.end],
                    ]
                    .concat();
                    for (input, &w) in row.iter().enumerate() {
                        input_major[(m * 2 * n + input) * n + out] = w;
                    }
                    output_major.extend(row);
                }
            }
            (input_major, output_major)
        };
        let to_f32 = |w: &[i32]| -> Vec<f32> {
            w.iter()
                .map(|&w| w as f32 / (1u32 << WEIGHT_FRAC) as f32)
                .collect()
        };
        let (weights_t, weights_k) = block(0..split);
        let rest = (split < dim)
            .then(|| block(split..dim))
            .filter(|(t, _)| t.iter().any(|&w| w != 0))
            .map(|(weights_t, output_major)| {
                Box::new(Block {
                    weights_t,
                    zeros: vec![0; dim - split],
                    weights_f32: to_f32(&output_major),
                })
            });
        let bias: Vec<i32> = bias
            .chunks_exact(dim)
            .flat_map(|b| b[..split].to_vec())
            .collect();
        let weights_f32 = to_f32(&weights_k);
        let frac = WEIGHT_FRAC + LATENT_FRAC_BITS - IN_SHIFT;
        let bias_f32 = bias
            .iter()
            .map(|&b| (f64::from(b) / f64::from(1u32 << frac)) as f32)
            .collect();
        Ok(Self {
            range,
            dim,
            split,
            weights_t,
            bias,
            weights_f32,
            bias_f32,
            rest,
            closed,
        })
    }

    /// Whether the maps keep the values from `k` on at zero when both latents they read hold
    /// zeros there: no bias and no earlier value reaches them (an enhanced model's maps and its
    /// empty enhancement, [`crate::TokenState::zero_tail`]). True for `k` from `dim` on.
    pub fn keeps_zero_from(&self, k: usize) -> bool {
        self.closed.get(k).copied().unwrap_or(true)
    }

    /// The largest shift per axis, in pixels.
    pub fn range(&self) -> u8 {
        self.range
    }

    /// The latent dimension the maps work on.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Index of the map for `axis` (0 horizontal, 1 vertical) and shift `d ≠ 0`.
    #[inline]
    fn map(&self, axis: usize, d: i8) -> usize {
        let r = self.range as i8;
        let k = if d < 0 { d + r } else { d + r - 1 } as usize;
        axis * 2 * usize::from(self.range) + k
    }

    /// The horizontal shift `dx` (0: none) of `prev` at `(x, y)`, into `out`.
    fn horizontal<T: Arith>(
        &self,
        prev: &[T],
        width: usize,
        (x, y): (usize, usize),
        dx: i8,
        out: &mut [T],
    ) {
        let dim = self.dim;
        let at = |x: usize| &prev[(y * width + x) * dim..(y * width + x + 1) * dim];
        if dx == 0 {
            out.copy_from_slice(at(x));
        } else if dx > 0 {
            T::apply(self, self.map(0, dx), at(x.saturating_sub(1)), at(x), out);
        } else {
            T::apply(
                self,
                self.map(0, dx),
                at(x),
                at((x + 1).min(width - 1)),
                out,
            );
        }
    }

    /// The prediction of position `(x, y)` from `prev` (`height × width × dim`, fixed point)
    /// moved by `(dx, dy)` pixels (each within the range), into `out` (`dim` values).
    ///
    /// # Panics
    /// If the shapes disagree or a shift is out of range (caller bugs).
    pub fn predict(
        &self,
        prev: &[i32],
        grid: (usize, usize),
        at: (usize, usize),
        d: (i8, i8),
        out: &mut [i32],
    ) {
        self.predict_in(prev, grid, at, d, out);
    }

    /// [`MotionOps::predict`] in `f32` on the latent as `f32`: within rounding of the exact
    /// prediction, for ranking candidates (the encoder's search); never what a stream reads.
    ///
    /// # Panics
    /// As [`MotionOps::predict`].
    pub fn predict_approx(
        &self,
        prev: &[f32],
        grid: (usize, usize),
        at: (usize, usize),
        d: (i8, i8),
        out: &mut [f32],
    ) {
        self.predict_in(prev, grid, at, d, out);
    }

    fn predict_in<T: Arith>(
        &self,
        prev: &[T],
        (width, height): (usize, usize),
        (x, y): (usize, usize),
        (dx, dy): (i8, i8),
        out: &mut [T],
    ) {
        let (dim, r) = (self.dim, self.range as i8);
        assert!(dim <= MAX_DIM && out.len() == dim && prev.len() == width * height * dim);
        assert!(dx.abs() <= r && dy.abs() <= r, "motion within the range");
        if dy == 0 {
            self.horizontal(prev, width, (x, y), dx, out);
            return;
        }
        let mut a = [T::default(); MAX_DIM];
        let mut b = [T::default(); MAX_DIM];
        let (ya, yb) = if dy > 0 {
            (y.saturating_sub(1), y)
        } else {
            (y, (y + 1).min(height - 1))
        };
        self.horizontal(prev, width, (x, ya), dx, &mut a[..dim]);
        self.horizontal(prev, width, (x, yb), dx, &mut b[..dim]);
        T::apply(self, self.map(1, dy), &a[..dim], &b[..dim], out);
    }
}

/// The largest latent dimension fine motion supports (the maps' inputs live on the stack).
pub const MAX_DIM: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// Maps that pick one input latent exactly (weight 1 on the diagonal of `a` or `b`).
    fn picking(range: u8, dim: usize, take_b: bool) -> MotionOps {
        let rows = 2 * dim + 1;
        let mut data = vec![0f32; 4 * usize::from(range) * rows * dim];
        for m in 0..4 * usize::from(range) {
            for j in 0..dim {
                let row = if take_b { dim + j } else { j };
                data[(m * rows + row) * dim + j] = 1.0;
            }
        }
        MotionOps::new(range, dim, &data).unwrap()
    }

    #[test]
    fn fine_motions_enumerate_the_square_without_zero() {
        for r in 1..=MAX_FINE_RANGE {
            let all: Vec<_> = fine_motions(r).collect();
            assert_eq!(all.len(), fine_count(r));
            for (k, &m) in all.iter().enumerate() {
                assert_eq!(fine_motion(r, k), m);
                assert_eq!(fine_index(r, m), k);
            }
            assert!(!all.contains(&(0, 0)));
        }
    }

    #[test]
    fn identity_maps_reproduce_the_straddled_latents_exactly() {
        let (w, h, dim) = (5, 4, 3);
        let prev: Vec<i32> = (0..w * h * dim).map(|i| (i as i32 - 30) << 12).collect();
        let before = picking(2, dim, false);
        let at = picking(2, dim, true);
        let mut out = vec![0; dim];
        let lat = |x: usize, y: usize| prev[(y * w + x) * dim..(y * w + x + 1) * dim].to_vec();
        // d > 0 takes (the position before, the position): `a` is the one before
        before.predict(&prev, (w, h), (2, 1), (1, 0), &mut out);
        assert_eq!(out, lat(1, 1));
        at.predict(&prev, (w, h), (2, 1), (1, 0), &mut out);
        assert_eq!(out, lat(2, 1));
        // d < 0 takes (the position, the one after); clamped at the edge
        at.predict(&prev, (w, h), (4, 1), (-2, 0), &mut out);
        assert_eq!(out, lat(4, 1));
        // both axes: the one before in x, then the one before in y
        before.predict(&prev, (w, h), (2, 2), (1, 1), &mut out);
        assert_eq!(out, lat(1, 1));
        before.predict(&prev, (w, h), (0, 0), (2, 2), &mut out);
        assert_eq!(out, lat(0, 0));
    }

    #[test]
    fn the_approximate_prediction_is_within_rounding_of_the_exact_one() {
        let (w, h, dim, r) = (6, 5, 8, 2u8);
        let rows = 2 * dim + 1;
        let data: Vec<f32> = (0..4 * usize::from(r) * rows * dim)
            .map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let ops = MotionOps::new(r, dim, &data).unwrap();
        let prev: Vec<i32> = (0..w * h * dim)
            .map(|i| ((i * 104_729) % 400_000) as i32 - 200_000)
            .collect();
        let prev_f32: Vec<f32> = prev.iter().map(|&v| v as f32 / 65536.0).collect();
        let (mut exact, mut approx) = (vec![0i32; dim], vec![0f32; dim]);
        for d in fine_motions(r) {
            for at in [(0, 0), (3, 2), (5, 4)] {
                ops.predict(&prev, (w, h), at, d, &mut exact);
                ops.predict_approx(&prev_f32, (w, h), at, d, &mut approx);
                for (e, a) in exact.iter().zip(&approx) {
                    assert!(
                        (*e as f32 / 65536.0 - a).abs() < 2e-3,
                        "{d:?} {at:?}: {e} {a}"
                    );
                }
            }
        }
    }

    /// The exact product, written the plain way from the maps' values (`[map][2·dim + 1][dim]`,
    /// as a weight file holds them): per output, a sum over the inputs in order, wrapping as
    /// the format says.
    fn product_by_definition(data: &[f32], dim: usize, m: usize, a: &[i32], b: &[i32]) -> Vec<i32> {
        let rows = 2 * dim + 1;
        let at = |row: usize, j: usize| data[(m * rows + row) * dim + j];
        let bias_frac = WEIGHT_FRAC + LATENT_FRAC_BITS - IN_SHIFT;
        (0..dim)
            .map(|j| {
                let mut acc =
                    (f64::from(at(2 * dim, j)) * f64::from(1u32 << bias_frac)).round() as i32;
                for (i, v) in a.iter().chain(b).enumerate() {
                    let w = (at(i, j) * (1u32 << WEIGHT_FRAC) as f32).round() as i32;
                    acc = acc.wrapping_add((v >> IN_SHIFT).wrapping_mul(w));
                }
                acc.wrapping_add(1 << (WEIGHT_FRAC - IN_SHIFT - 1)) >> (WEIGHT_FRAC - IN_SHIFT)
            })
            .collect()
    }

    #[test]
    fn the_vectorised_product_is_the_defined_one_bit_for_bit() {
        // 16: the shipped width, a specialised path; 5 and 64: the general one; 64 in two
        // blocks (an enhanced model's maps: 16 values and 48, the 48's weights zero or not):
        // two products. Latents up to the largest i32 make the sums wrap.
        for (dim, split, rest) in [
            (16, 16, false),
            (5, 5, false),
            (64, 64, false),
            (64, 16, false),
            (64, 16, true),
            (64, 7, true),
        ] {
            let rows = 2 * dim + 1;
            let data: Vec<f32> = (0..4 * rows * dim)
                .map(|i| {
                    let (row, j) = ((i / dim) % rows, i % dim);
                    let bias = row == 2 * dim;
                    let same_block = bias || (row % dim < split) == (j < split);
                    if same_block && (j < split || (rest && !bias)) {
                        ((i * 7919 + dim) % 2001) as f32 / 125.0 - 8.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let ops = MotionOps::new(1, dim, &data).unwrap();
            assert_eq!((ops.split, ops.rest.is_some()), (split, rest));
            for (scale, zero_rest) in [
                (1i64, false),
                (1 << 10, false),
                (1 << 20, false),
                (1 << 10, true),
            ] {
                let v = |i: usize| {
                    if zero_rest && i % dim >= split {
                        return 0;
                    }
                    ((((i * 104_729) % 2_000_001) as i64 - 1_000_000) * scale) as i32
                };
                let a: Vec<i32> = (0..dim).map(v).collect();
                let b: Vec<i32> = (dim..2 * dim).map(v).collect();
                for m in 0..4 {
                    let mut out = vec![7; dim];
                    <i32 as Arith>::apply(&ops, m, &a, &b, &mut out);
                    assert_eq!(
                        out,
                        product_by_definition(&data, dim, m, &a, &b),
                        "dim {dim} map {m}"
                    );
                    let mut approx = vec![7.0; dim];
                    let af: Vec<f32> = a.iter().map(|&x| x as f32).collect();
                    let bf: Vec<f32> = b.iter().map(|&x| x as f32).collect();
                    <f32 as Arith>::apply(&ops, m, &af, &bf, &mut approx);
                    if !rest || zero_rest {
                        assert!(approx[split..].iter().all(|&x| x == 0.0));
                    }
                }
            }
        }
    }

    #[test]
    fn the_values_a_map_keeps_empty_are_those_no_bias_or_earlier_value_reaches() {
        // 6 values; every output reads itself; output 4 also reads input 1 of the second latent
        let (dim, rows) = (6, 13);
        let mut data = vec![0.0; 4 * rows * dim];
        for m in 0..4 {
            for j in 0..dim {
                data[(m * rows + j) * dim + j] = 0.5;
                data[(m * rows + dim + j) * dim + j] = 0.5;
            }
            data[(m * rows + dim + 1) * dim + 4] = 0.25;
        }
        let ops = MotionOps::new(1, dim, &data).unwrap();
        let keeps: Vec<bool> = (0..=dim + 1).map(|k| ops.keeps_zero_from(k)).collect();
        assert_eq!(keeps, [true, true, false, false, false, true, true, true]);
        // a bias on output 5: no values from 5 or before stay empty, only the none beyond the end
        for m in 0..4 {
            data[(m * rows + 2 * dim) * dim + 5] = 1.0;
        }
        let ops = MotionOps::new(1, dim, &data).unwrap();
        let keeps: Vec<bool> = (0..=dim).map(|k| ops.keeps_zero_from(k)).collect();
        assert_eq!(keeps, [false, false, false, false, false, false, true]);
    }

    #[test]
    fn bad_maps_are_refused() {
        assert!(MotionOps::new(0, 4, &[]).is_err());
        assert!(MotionOps::new(8, 4, &vec![0.0; 32 * 9 * 4]).is_err());
        assert!(MotionOps::new(1, 4, &[0.0; 10]).is_err());
        let mut data = vec![0.0; 4 * 9 * 4];
        data[3] = f32::NAN;
        assert!(MotionOps::new(1, 4, &data).is_err());
        data[3] = 9.0;
        assert!(MotionOps::new(1, 4, &data).is_err());
    }
}
