//! The RVQ codebooks on the CPU, for the encoder's closed-loop decisions.
//!
//! The encoder quantises the network's latent here rather than on the device, so that it can
//! weigh copying or predicting from the previous frame against coding anew with the entropy
//! coder's actual costs; the decoder reconstructs latents from the same fixed-point values.
//! Only the encoder's *choices* use floating point; the symbols it writes are integers that
//! every decoder reads back identically.

use crate::error::ConfigError;
use crate::motion::MotionOps;

/// Fractional bits of the fixed-point latent that decoders reconstruct: codebook values are
/// rounded to multiples of 2^-16, and a decoded latent is an `i32` sum of them in a fixed order,
/// so every decoder holds the very same prediction reference (docs/bitstream.md).
pub const LATENT_FRAC_BITS: u32 = 16;

/// The largest codebook value magnitude the format accepts (trained latents stay within ±10;
/// hostile or broken codebooks beyond it are refused). A sum of 15 codes at the limit would pass
/// `i32`'s range: reconstruction wraps (defined, the same everywhere) rather than saturating.
const MAX_CODE_VALUE: f32 = 4096.0;

/// `levels × size × dim` codebooks: values on the fixed-point grid (multiples of
/// 2^-[`LATENT_FRAC_BITS`]) as `f32` for the encoder's search and as `i32` for reconstruction,
/// with each code's squared norm.
#[derive(Debug, Clone, PartialEq)]
pub struct Codebooks {
    levels: usize,
    size: usize,
    dim: usize,
    data: Vec<f32>,
    fixed: Vec<i32>,
    norms: Vec<f32>,
    /// The values again, per level dimension-major in blocks of [`LANES`] codes (`levels ×
    /// blocks × dim × LANES`, the last block padded with zero codes): the search computes
    /// [`LANES`] codes' distances at once.
    lanes: Vec<f32>,
    /// Per level, the values its codes use: 1 + the last value any of them holds not zero
    /// (an enhanced model's base levels: its network values only). The search's dot products
    /// stop where both these and the residual's end ([`Codebooks::each_block`]).
    live: Vec<usize>,
    motion: Option<std::sync::Arc<MotionOps>>,
    metric: Option<std::sync::Arc<Metric>>,
    /// Levels open at every quality (all but an enhancement's; see
    /// [`Codebooks::with_enhancement`]).
    base_levels: usize,
    /// Latent values the base levels code (all but an enhancement's).
    net_dim: usize,
}

/// The encoder's distance between latents (not part of the format): `|A·δ|²` with `AᵀA = M`,
/// the decoded picture's squared error per latent error `δ` (the decoder's `E[JᵀJ]`, measured
/// by `vqcodec-lab metric`), scaled to a mean of 1 per dimension (per network dimension for an
/// enhanced model: [`Codebooks::with_enhancement`]). The encoder searches in the
/// space `A·z`, with the codes moved there once.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    a: Vec<f32>,
    dim: usize,
    /// Where `A` splits in two blocks (no term between the values before and after it: an
    /// enhanced model's metric without the terms between its two parts); `dim` if it does not.
    split: usize,
    search: Codebooks,
}

impl Metric {
    /// `out = A·v`.
    #[inline]
    pub fn apply(&self, v: &[f32], out: &mut [f32]) {
        let (k, d) = (self.split, self.dim);
        // A is upper triangular: row i starts at column i; the leading block's rows end at k
        for (i, o) in out[..k].iter_mut().enumerate() {
            *o = dot(&self.a[i * d + i..i * d + k], &v[i..k]);
        }
        let rest = &mut out[k..];
        if v[k..].iter().all(|&x| x == 0.0) {
            // nothing in the trailing block (an enhancement a latent does not use)
            rest.fill(0.0);
            return;
        }
        for (j, o) in rest.iter_mut().enumerate() {
            let i = k + j;
            *o = dot(&self.a[i * d + i..(i + 1) * d], &v[i..]);
        }
    }

    /// `A·v` for every `dim` values of `v` (vectors one after another).
    pub(crate) fn apply_all(&self, v: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; v.len()];
        for (a, b) in v.chunks_exact(self.dim).zip(out.chunks_exact_mut(self.dim)) {
            self.apply(a, b);
        }
        out
    }

    /// `A` (`dim × dim`, row-major, upper triangular).
    pub fn matrix(&self) -> &[f32] {
        &self.a
    }

    /// The codebooks in the search space (fixed-point values unchanged: reconstruction stays the
    /// model's).
    pub(crate) fn search(&self) -> &Codebooks {
        &self.search
    }
}

impl Codebooks {
    /// Wraps `data` (`levels × size × dim`, row-major), rounded to the fixed-point grid.
    ///
    /// # Errors
    /// [`ConfigError::Codebooks`] if the length does not match the shape, or a value is not
    /// finite or beyond ±4096.
    pub fn new(
        levels: usize,
        size: usize,
        dim: usize,
        data: Vec<f32>,
    ) -> Result<Self, ConfigError> {
        if levels == 0 || size == 0 || dim == 0 || data.len() != levels * size * dim {
            return Err(ConfigError::Codebooks {
                got: format!("of {} values", data.len()),
                expected: format!("{levels}x{size}x{dim}"),
            });
        }
        if let Some(bad) = data
            .iter()
            .find(|v| !(v.is_finite() && v.abs() <= MAX_CODE_VALUE))
        {
            return Err(ConfigError::Codebooks {
                got: format!("a value {bad}"),
                expected: format!("finite values within ±{MAX_CODE_VALUE}"),
            });
        }
        let scale = (1u32 << LATENT_FRAC_BITS) as f32;
        let fixed: Vec<i32> = data.iter().map(|v| (v * scale).round() as i32).collect();
        let data: Vec<f32> = fixed.iter().map(|&q| q as f32 / scale).collect();
        let norms = norms(&data, dim);
        let lanes = lanes(&data, levels, size, dim);
        let live = live(&data, levels, dim);
        Ok(Self {
            levels,
            size,
            dim,
            data,
            fixed,
            norms,
            lanes,
            live,
            motion: None,
            metric: None,
            base_levels: levels,
            net_dim: dim,
        })
    }

    /// The same codebooks, of which the levels from `base` on belong to a model's enhancement
    /// (config `enhance_dims`: the latent values from `net_dim` on, which the levels before
    /// `base` do not code): the encoder opens them only from quality 50 up, all of them from
    /// 70, and below that codes as the model without them would (docs/results/enhance.md);
    /// the metric keeps the scale of its first `net_dim` values' block. Encoder only: streams
    /// do not change format.
    ///
    /// # Errors
    /// [`ConfigError::Codebooks`] for `base` 0 or more than the levels, or `net_dim` 0 or
    /// more than the dimension.
    pub fn with_enhancement(mut self, base: usize, net_dim: usize) -> Result<Self, ConfigError> {
        if base == 0 || base > self.levels || net_dim == 0 || net_dim > self.dim {
            return Err(ConfigError::Codebooks {
                got: format!("{base} base levels of {net_dim} values"),
                expected: format!("1..={} levels of 1..={} values", self.levels, self.dim),
            });
        }
        self.base_levels = base;
        self.net_dim = net_dim;
        Ok(self)
    }

    /// Levels open at every quality (all of them unless [`Codebooks::with_enhancement`]).
    pub fn base_levels(&self) -> usize {
        self.base_levels
    }

    /// Latent values the base levels code: those before an enhancement's (all of them
    /// without one).
    pub fn net_dim(&self) -> usize {
        self.net_dim
    }

    /// Whether every code of the first `levels` levels is zero from value `k` on: those levels
    /// put nothing there (a scalar enhancement's values, which no level codes).
    pub fn codes_zero_from(&self, k: usize, levels: usize) -> bool {
        self.data[..levels.min(self.levels) * self.size * self.dim]
            .chunks_exact(self.dim)
            .all(|c| c[k.min(self.dim)..].iter().all(|&v| v == 0.0))
    }

    /// The same codebooks with the model's fine-motion maps (docs/bitstream.md, "Fine motion").
    ///
    /// # Errors
    /// [`ConfigError::Codebooks`] if the maps work on another latent dimension.
    pub fn with_motion(mut self, ops: MotionOps) -> Result<Self, ConfigError> {
        if ops.dim() != self.dim || self.dim > crate::motion::MAX_DIM {
            return Err(ConfigError::Codebooks {
                got: format!("motion maps of dimension {}", ops.dim()),
                expected: format!("dimension {}", self.dim),
            });
        }
        self.motion = Some(std::sync::Arc::new(ops));
        Ok(self)
    }

    /// These codebooks with `from`'s fine-motion maps and encoder metric (an
    /// adapted codebook keeps the model's; the metric's search space is made for these codes).
    pub fn keep_motion(mut self, from: &Codebooks) -> Self {
        self.motion = from.motion.clone();
        self.base_levels = from.base_levels.min(self.levels);
        self.net_dim = from.net_dim.min(self.dim);
        self.metric = from
            .metric
            .as_ref()
            .filter(|m| m.dim == self.dim)
            .map(|m| std::sync::Arc::new(self.search_space(m.a.clone())));
        self
    }

    /// The same codebooks with the encoder's latent metric `m` (`dim × dim`, row-major,
    /// symmetric positive semi-definite; see [`Metric`]). Encoder only: streams do not change
    /// format, only the encoder's choices.
    ///
    /// # Errors
    /// [`ConfigError::Codebooks`] for a matrix of another size, not finite, or not positive
    /// definite enough to factor (after a small ridge).
    pub fn with_metric(mut self, m: &[f32]) -> Result<Self, ConfigError> {
        let d = self.dim;
        let bad = |why: &str| ConfigError::Codebooks {
            got: format!("a latent metric {why}"),
            expected: format!("a symmetric positive {d}×{d} matrix"),
        };
        if m.len() != d * d || m.iter().any(|v| !v.is_finite()) {
            return Err(bad(&format!("of {} values", m.len())));
        }
        // the networks' values' block (all of it without an enhancement) sets the scale, so an
        // enhanced model searches its own levels exactly as the model without the enhancement
        let n = self.net_dim;
        let trace: f64 = (0..n).map(|i| f64::from(m[i * d + i])).sum();
        if !(trace > 0.0 && trace.is_finite()) {
            return Err(bad("of trace ≤ 0"));
        }
        // scale to a mean of 1 per (network) dimension, a small ridge, then Cholesky:
        // M = L·Lᵀ, A = Lᵀ
        let scale = n as f64 / trace;
        let mut l = vec![0f64; d * d];
        for i in 0..d {
            for j in 0..=i {
                let sym = 0.5 * (f64::from(m[i * d + j]) + f64::from(m[j * d + i])) * scale;
                let mut v = sym + if i == j { 1e-4 } else { 0.0 };
                for k in 0..j {
                    v -= l[i * d + k] * l[j * d + k];
                }
                if i == j {
                    if !(v > 0.0 && v.is_finite()) {
                        return Err(bad("that is not positive definite"));
                    }
                    l[i * d + i] = v.sqrt();
                } else {
                    l[i * d + j] = v / l[j * d + j];
                }
            }
        }
        let mut a = vec![0f32; d * d];
        for i in 0..d {
            for j in i..d {
                a[i * d + j] = l[j * d + i] as f32;
            }
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(bad("whose factor is not finite"));
        }
        self.metric = Some(std::sync::Arc::new(self.search_space(a)));
        Ok(self)
    }

    /// The metric `A` (upper triangular, `dim × dim`) with these codes moved to its space.
    fn search_space(&self, a: Vec<f32>) -> Metric {
        let d = self.dim;
        // the first row count after which no row reaches back into the columns before it
        let split = (1..=d)
            .find(|&k| (0..k).all(|i| a[i * d + k..(i + 1) * d].iter().all(|&x| x == 0.0)))
            .unwrap_or(d);
        let mut metric = Metric {
            a,
            dim: d,
            split,
            search: Codebooks {
                motion: None,
                metric: None,
                ..self.clone()
            },
        };
        let data = metric.apply_all(&self.data);
        metric.search.norms = norms(&data, d);
        metric.search.lanes = lanes(&data, self.levels, self.size, d);
        metric.search.live = live(&data, self.levels, d);
        metric.search.data = data;
        metric
    }

    /// The encoder's latent metric, if these codebooks have one.
    pub fn metric(&self) -> Option<&Metric> {
        self.metric.as_deref()
    }

    /// The model's fine-motion maps, if it has them.
    pub fn motion(&self) -> Option<&MotionOps> {
        self.motion.as_deref()
    }

    /// The fine-motion range a stream of these codebooks codes with (0: none).
    pub fn fine_range(&self) -> u8 {
        self.motion.as_ref().map_or(0, |m| m.range())
    }

    /// RVQ levels.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// Codes per level.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Code dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The values, `levels × size × dim`.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Code `k` of `level`.
    #[inline]
    pub fn code(&self, level: usize, k: usize) -> &[f32] {
        let at = (level * self.size + k) * self.dim;
        &self.data[at..at + self.dim]
    }

    /// Code `k` of `level` in fixed point (units of 2^-[`LATENT_FRAC_BITS`]).
    #[inline]
    pub fn fixed_code(&self, level: usize, k: usize) -> &[i32] {
        let at = (level * self.size + k) * self.dim;
        &self.fixed[at..at + self.dim]
    }

    /// The code of `level` nearest to `r` and its squared distance.
    #[inline]
    pub fn nearest(&self, level: usize, r: &[f32]) -> (u16, f32) {
        let rr: f32 = r.iter().map(|v| v * v).sum();
        let (mut best, mut best_d) = (0usize, f32::INFINITY);
        self.each_block(level, r, |first, block| {
            for (l, &d) in block.iter().enumerate() {
                if d < best_d {
                    best_d = d;
                    best = first + l;
                }
            }
        });
        (best as u16, (best_d + rr).max(0.0))
    }

    /// The code of `level` that minimises squared distance + `cost[k]` for `r` (entropy-
    /// constrained assignment: `cost` is λ times each code's length in bits), searched in the
    /// metric's space when these codebooks have one, as [`Codebooks::search_nearest`]; with
    /// its squared distance (without the cost). `cost` holds one value per code of the level.
    pub fn search_costed(
        &self,
        level: usize,
        r: &[f32],
        cost: &[f32],
        scratch: &mut Vec<f32>,
    ) -> (u16, f32) {
        assert_eq!(cost.len(), self.size, "one cost per code");
        let (books, r) = self.in_search_space(r, scratch);
        let rr: f32 = r.iter().map(|v| v * v).sum();
        let (mut best, mut best_j, mut best_d) = (0usize, f32::INFINITY, f32::INFINITY);
        books.each_block(level, r, |first, block| {
            for (l, &d) in block.iter().enumerate() {
                let j = d + cost[first + l];
                if j < best_j {
                    best_j = j;
                    best_d = d;
                    best = first + l;
                }
            }
        });
        (best as u16, (best_d + rr).max(0.0))
    }

    /// The code of `level` the encoder's greedy search picks for `r`: the nearest in its
    /// metric's space when these codebooks have one ([`Metric`]; `scratch` holds `A·r`), else
    /// [`Codebooks::nearest`]; with its squared distance in that space.
    pub fn search_nearest(&self, level: usize, r: &[f32], scratch: &mut Vec<f32>) -> (u16, f32) {
        let (books, r) = self.in_search_space(r, scratch);
        books.nearest(level, r)
    }

    /// The codebooks the encoder searches and `r` moved to their space: the metric's (`A·r`
    /// into `scratch`) when these codebooks have one, else these and `r` itself.
    fn in_search_space<'a>(
        &'a self,
        r: &'a [f32],
        scratch: &'a mut Vec<f32>,
    ) -> (&'a Codebooks, &'a [f32]) {
        match self.metric() {
            Some(m) => {
                scratch.resize(r.len(), 0.0);
                m.apply(r, scratch);
                (m.search(), &scratch[..])
            }
            None => (self, r),
        }
    }

    /// The `k` codes of `level` nearest to `r`, nearest first, with
    /// their squared distances, into `out` (cleared first). `k = 1` is [`Codebooks::nearest`].
    pub fn nearest_k(&self, level: usize, r: &[f32], k: usize, out: &mut Vec<(u16, f32)>) {
        out.clear();
        let k = k.clamp(1, self.size);
        let rr: f32 = r.iter().map(|v| v * v).sum();
        self.each_block(level, r, |first, block| {
            // a residual that is not finite: every code as far, the first one kept (as nearest)
            let far = |d: f32| if d.is_nan() { f32::INFINITY } else { d };
            if out.len() == k {
                // a block with no code nearer than the k-th: nothing below would take one
                let least = block.iter().fold(f32::INFINITY, |m, &d| m.min(far(d)));
                if least >= out[k - 1].1 {
                    return;
                }
            }
            for (l, &d) in block.iter().enumerate() {
                let d = far(d);
                if out.len() == k && d >= out[k - 1].1 {
                    continue;
                }
                // insertion into the sorted list (strictly after equals: the lower index wins ties)
                let at = out.partition_point(|&(_, e)| e <= d);
                if out.len() == k {
                    out.pop();
                }
                out.insert(at, ((first + l) as u16, d));
            }
        });
        for o in out.iter_mut() {
            o.1 = (o.1 + rr).max(0.0);
        }
    }

    /// Calls `f(first, d)` for every block of up to [`LANES`] codes of `level`, in order, with
    /// `d[l] = ‖c‖² − 2·c·r` for code `first + l`. The dot products run [`LANES`] codes at a time
    /// (one code per SIMD lane: no horizontal sums), each summed exactly as [`dot`] sums it, so
    /// every value is bit for bit the one a code-by-code loop computes.
    #[inline]
    fn each_block(&self, level: usize, r: &[f32], mut f: impl FnMut(usize, &[f32])) {
        let (dim, size) = (self.dim, self.size);
        let blocks = size.div_ceil(LANES);
        let (mut chunks, mut tail) = (dim / 8, dim % 8);
        // Past the level's codes' last value and the residual's last (a NaN counts), every
        // product is a zero, and adding a zero leaves each running sum as it is: those values
        // are left out, the sums bit for bit the same. An enhanced model's base levels on a
        // residual without enhancement (below quality 81) thus cost a quarter.
        let used = self.live[level].max(r.iter().rposition(|&v| v != 0.0).map_or(0, |i| i + 1));
        if used <= chunks * 8 {
            (chunks, tail) = (used.div_ceil(8), 0);
        }
        // the value `Iterator::sum` starts from (its sums here must round alike)
        let zero: f32 = std::iter::empty::<f32>().sum();
        let span = blocks * dim * LANES;
        let norms = &self.norms[level * size..(level + 1) * size];
        for (b, block) in self.lanes[level * span..(level + 1) * span]
            .chunks_exact(dim * LANES)
            .enumerate()
        {
            let at = |i: usize| &block[i * LANES..(i + 1) * LANES];
            // dot's eight running sums (acc[i] over dimensions 8j + i; all zero below eight
            // dimensions), added up in order of i
            let mut total = [zero; LANES];
            for i in 0..8 {
                let mut acc = [0f32; LANES];
                for j in 0..chunks {
                    let (v, w) = (r[8 * j + i], at(8 * j + i));
                    for l in 0..LANES {
                        acc[l] += w[l] * v;
                    }
                }
                for l in 0..LANES {
                    total[l] += acc[l];
                }
            }
            // the dimensions past the last eight, summed in order
            let mut rest = [zero; LANES];
            for t in chunks * 8..chunks * 8 + tail {
                let (v, w) = (r[t], at(t));
                for l in 0..LANES {
                    rest[l] += w[l] * v;
                }
            }
            let first = b * LANES;
            let n = LANES.min(size - first);
            let mut d = [0f32; LANES];
            for l in 0..n {
                d[l] = norms[first + l] - 2.0 * (total[l] + rest[l]);
            }
            f(first, &d[..n]);
        }
    }

    /// Squared distance from `r` to code `k` of `level` (summed in code order: the encoder's
    /// RD choices compare it with the entropy coder's costs).
    #[inline]
    pub fn distance(&self, level: usize, k: usize, r: &[f32]) -> f32 {
        self.code(level, k)
            .iter()
            .zip(r)
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }
}

/// Codes per block of the search's lane layout ([`Codebooks::each_block`]).
const LANES: usize = 8;

/// `data` (`levels × size × dim`) per level in blocks of [`LANES`] codes, dimension-major within
/// a block, the last block padded with zeros.
fn lanes(data: &[f32], levels: usize, size: usize, dim: usize) -> Vec<f32> {
    let blocks = size.div_ceil(LANES);
    let mut out = vec![0f32; levels * blocks * dim * LANES];
    for l in 0..levels {
        for c in 0..size {
            let (b, lane) = (c / LANES, c % LANES);
            for i in 0..dim {
                out[((l * blocks + b) * dim + i) * LANES + lane] = data[(l * size + c) * dim + i];
            }
        }
    }
    out
}

/// Per level of `data` (`levels × codes × dim`), 1 + the last value any of its codes holds not
/// zero (0 for a level of zero codes).
fn live(data: &[f32], levels: usize, dim: usize) -> Vec<usize> {
    let per_level = data.len() / levels.max(1);
    (0..levels)
        .map(|l| {
            data[l * per_level..(l + 1) * per_level]
                .chunks_exact(dim)
                .map(|c| c.iter().rposition(|&v| v != 0.0).map_or(0, |i| i + 1))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// Each code's squared norm (`data`: codes of `dim` values one after another).
fn norms(data: &[f32], dim: usize) -> Vec<f32> {
    data.chunks_exact(dim)
        .map(|c| c.iter().map(|v| v * v).sum())
        .collect()
}

/// `a · b` in eight running sums, so that the compiler can keep them in SIMD registers (SSE on
/// x86-64, simd128 in wasm); a single running sum must be added in order and stays scalar.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_in_two_blocks_applies_as_the_whole_matrix() {
        // 6 values: a dense 2×2 block and a dense 4×4 block, nothing between them
        let d = 6;
        let mut m = vec![0f32; d * d];
        for i in 0..d {
            for j in 0..d {
                if (i < 2) == (j < 2) {
                    m[i * d + j] = if i == j { 2.0 + i as f32 } else { 0.3 };
                }
            }
        }
        let books = Codebooks::new(1, 2, d, vec![0.0; 2 * d]).unwrap();
        let metric = books.with_metric(&m).unwrap().metric.unwrap();
        assert_eq!(metric.split, 2);
        for v in [
            [0.5, -1.0, 0.25, 2.0, -0.75, 1.5],
            [0.5, -1.0, 0.0, 0.0, 0.0, 0.0],
        ] {
            let mut out = [9f32; 6];
            metric.apply(&v, &mut out);
            for (i, o) in out.iter().enumerate() {
                let whole: f32 = (i..d).map(|j| metric.a[i * d + j] * v[j]).sum();
                assert!(
                    (o - whole).abs() <= 1e-6 * whole.abs().max(1.0),
                    "{v:?} row {i}"
                );
            }
        }
    }

    #[test]
    fn a_metric_moves_the_search_to_its_space_and_leaves_reconstruction_alone() {
        // code 0 = (1, 0), code 1 = (0, 1); r is nearer code 1 in plain squared distance
        let books = Codebooks::new(1, 2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let r = [0.6f32, 0.7];
        assert_eq!(books.nearest(0, &r).0, 1);
        // a metric that weighs the first axis 9× the second: scaled to a mean of 1 per
        // dimension, M = diag(1.8, 0.2) (plus the ridge)
        let with = books.clone().with_metric(&[9.0, 0.0, 0.0, 1.0]).unwrap();
        let metric = with.metric().unwrap();
        let mut rs = [0f32; 2];
        metric.apply(&r, &mut rs);
        let (k, d) = metric.search().nearest(0, &rs);
        assert_eq!(k, 0, "the heavy axis decides");
        let expected = 1.8001 * 0.4f32.powi(2) + 0.2001 * 0.7f32.powi(2);
        assert!((d - expected).abs() < 1e-4, "{d} vs {expected}");
        // the search the encoder (and a codebook refit) makes: in the metric's space when
        // there is one
        let mut scratch = Vec::new();
        assert_eq!(with.search_nearest(0, &r, &mut scratch), (k, d));
        assert_eq!(
            books.search_nearest(0, &r, &mut scratch),
            books.nearest(0, &r)
        );
        // what decoders reconstruct with does not move
        for k in 0..2 {
            assert_eq!(metric.search().fixed_code(0, k), books.fixed_code(0, k));
            assert_eq!(with.code(0, k), books.code(0, k));
        }
        // a full matrix: |A·v|² = vᵀ·M·v for M scaled to trace 2
        let m = [2.0f32, 0.6, 0.6, 1.0];
        let full = books.clone().with_metric(&m).unwrap();
        let v = [0.3f32, -1.1];
        let mut av = [0f32; 2];
        full.metric().unwrap().apply(&v, &mut av);
        let s = 2.0 / 3.0;
        let quad = s * (m[0] * v[0] * v[0] + 2.0 * m[1] * v[0] * v[1] + m[3] * v[1] * v[1])
            + 1e-4 * (v[0] * v[0] + v[1] * v[1]);
        assert!((av[0] * av[0] + av[1] * av[1] - quad).abs() < 1e-4);
        // matrices that are no metric are refused
        for bad in [
            &[1.0f32, 2.0, 2.0, 1.0][..],
            &[1.0],
            &[f32::NAN, 0.0, 0.0, 1.0],
            &[0.0; 4],
            &[1.0, 3e38, 3e38, 1.0],
        ] {
            assert!(books.clone().with_metric(bad).is_err(), "{bad:?}");
        }
        // codebooks adapted from these keep the metric, with their own codes moved to its space
        let adapted = Codebooks::new(1, 2, 2, vec![0.5, 0.5, 0.0, 2.0])
            .unwrap()
            .keep_motion(&with);
        let am = adapted.metric().unwrap();
        for k in 0..2 {
            let mut moved = [0f32; 2];
            am.apply(adapted.code(0, k), &mut moved);
            assert_eq!(am.search().code(0, k), &moved);
        }
    }

    #[test]
    fn nearest_k_lists_the_closest_codes_in_order() {
        let (size, dim) = (50usize, 7usize);
        let data: Vec<f32> = (0..size * dim)
            .map(|i| ((i * 7919) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let books = Codebooks::new(1, size, dim, data).unwrap();
        let mut out = Vec::new();
        for t in 0..20 {
            let r: Vec<f32> = (0..dim)
                .map(|i| ((i * 31 + t * 17) % 23) as f32 / 11.0 - 1.0)
                .collect();
            let mut brute: Vec<(usize, f32)> =
                (0..size).map(|k| (k, books.distance(0, k, &r))).collect();
            brute.sort_by(|a, b| a.1.total_cmp(&b.1));
            for k in [1usize, 3, 8, 60] {
                books.nearest_k(0, &r, k, &mut out);
                assert_eq!(out.len(), k.min(size));
                for (i, &(c, d)) in out.iter().enumerate() {
                    assert!(
                        (d - brute[i].1).abs() < 1e-4,
                        "rank {i}: {d} vs {}",
                        brute[i].1
                    );
                    assert!((books.distance(0, usize::from(c), &r) - d).abs() < 1e-4);
                }
                if k == 1 {
                    assert_eq!(out[0], books.nearest(0, &r));
                }
            }
        }
    }

    /// Every code's distance term of `level` for `r` as the lane search computes it and as
    /// a code-by-code loop does (`‖c‖² − 2·c·r`), each as `(code, bits)`.
    fn lane_and_loop_distances(
        books: &Codebooks,
        level: usize,
        r: &[f32],
    ) -> (Vec<(usize, u32)>, Vec<(usize, u32)>) {
        let size = books.size;
        let mut lanes = Vec::new();
        books.each_block(level, r, |first, block| {
            lanes.extend(
                block
                    .iter()
                    .enumerate()
                    .map(|(l, d)| (first + l, d.to_bits())),
            );
        });
        let loop_ = (0..size)
            .map(|k| {
                let d = books.norms[level * size + k] - 2.0 * dot(books.code(level, k), r);
                (k, d.to_bits())
            })
            .collect();
        (lanes, loop_)
    }

    #[test]
    fn the_lane_search_computes_every_distance_as_a_code_by_code_loop_does() {
        // bit for bit: the encoder's choices (and so its streams) must not depend on the layout
        for (size, dim) in [(37usize, 3usize), (128, 16), (50, 21), (256, 64), (9, 8)] {
            let data: Vec<f32> = (0..2 * size * dim)
                .map(|i| ((i * 7919) % 1013) as f32 / 331.0 - 1.5)
                .collect();
            let books = Codebooks::new(2, size, dim, data).unwrap();
            for t in 0..10 {
                let r: Vec<f32> = (0..dim)
                    .map(|i| ((i * 31 + t * 17) % 29) as f32 / 7.0 - 2.0)
                    .collect();
                for level in 0..2 {
                    let (got, want) = lane_and_loop_distances(&books, level, &r);
                    assert_eq!(got, want, "{size} codes of {dim}");
                }
            }
        }
    }

    #[test]
    fn the_lane_search_leaves_out_values_nobody_holds_and_still_sums_alike() {
        // an enhanced model's base levels: codes zero past their network values; residuals
        // zero past some value (or not): every distance bit for bit the full dot product's
        for (size, dim, cut) in [(128usize, 64usize, 16usize), (37, 21, 5), (50, 24, 17)] {
            let data: Vec<f32> = (0..2 * size * dim)
                .map(|i| {
                    let (level, v) = (i / (size * dim), i % dim);
                    // level 0 holds nothing from `cut` on; level 1 everywhere
                    if level == 0 && v >= cut {
                        0.0
                    } else {
                        ((i * 7919) % 1013) as f32 / 331.0 - 1.5
                    }
                })
                .collect();
            let books = Codebooks::new(2, size, dim, data).unwrap();
            assert_eq!(books.live, [cut, dim]);
            for r_end in [0, 1, cut - 1, cut, cut + 3, dim] {
                let r: Vec<f32> = (0..dim)
                    .map(|i| {
                        if i < r_end {
                            (i * 31 % 29) as f32 / 7.0 - 2.0
                        } else {
                            0.0
                        }
                    })
                    .collect();
                for level in 0..2 {
                    let (got, want) = lane_and_loop_distances(&books, level, &r);
                    assert_eq!(
                        got, want,
                        "{size} codes of {dim}, level {level}, r to {r_end}"
                    );
                }
            }
            // a residual that is not finite past the codes' values still reaches the sums
            let mut r = vec![0.5f32; dim];
            r[dim - 1] = f32::NAN;
            let mut any_nan = false;
            books.each_block(0, &r, |_, block| {
                any_nan |= block.iter().any(|d| d.is_nan())
            });
            assert!(any_nan, "{size} codes of {dim}");
        }
    }

    #[test]
    fn nearest_finds_the_closest_code_for_odd_and_even_dimensions() {
        for dim in [3usize, 8, 16, 21] {
            let size = 37;
            let data: Vec<f32> = (0..size * dim)
                .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let books = Codebooks::new(1, size, dim, data).unwrap();
            for t in 0..20 {
                let r: Vec<f32> = (0..dim)
                    .map(|i| ((i * 31 + t * 17) % 23) as f32 / 11.0 - 1.0)
                    .collect();
                let brute = (0..size)
                    .map(|k| books.distance(0, k, &r))
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap();
                let (k, d) = books.nearest(0, &r);
                assert!((d - brute.1).abs() < 1e-4, "dim {dim}: {d} vs {}", brute.1);
                assert!(
                    (books.distance(0, usize::from(k), &r) - brute.1).abs() < 1e-4,
                    "dim {dim}: code {k} vs {}",
                    brute.0
                );
            }
        }
    }
}
