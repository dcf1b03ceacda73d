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
    motion: Option<std::sync::Arc<MotionOps>>,
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
        let norms = data
            .chunks_exact(dim)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        Ok(Self {
            levels,
            size,
            dim,
            data,
            fixed,
            norms,
            motion: None,
        })
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

    /// These codebooks with `from`'s fine-motion maps (an adapted codebook keeps the model's).
    pub fn keep_motion(mut self, from: &Codebooks) -> Self {
        self.motion = from.motion.clone();
        self
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
        let base = level * self.size;
        let (mut best, mut best_d) = (0usize, f32::INFINITY);
        for k in 0..self.size {
            let c = &self.data[(base + k) * self.dim..(base + k + 1) * self.dim];
            let d = self.norms[base + k] - 2.0 * dot(c, r);
            if d < best_d {
                best_d = d;
                best = k;
            }
        }
        (best as u16, (best_d + rr).max(0.0))
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
