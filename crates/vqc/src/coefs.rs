//! The enhancement layer's coefficients (format version 9): for a model whose last `E` latent
//! values are an enhancement (config `enhance_dims`: the projection of what its networks' picture
//! leaves of the frame on `E` fixed directions, which the decoder adds back linearly), a frame
//! may refine those values at each position it codes (not at copies) by `E` integers `c_j`, each
//! adding `c_j · S` to value `j` of the enhancement, `S` the frame's step ([`step_units`]) in
//! units of 2^-[`crate::LATENT_FRAC_BITS`]. Integers only: every decoder adds the same.
//!
//! A position's coefficients, in the order of the directions (decreasing energy):
//! ```text
//! any?      context (class, left and above positions that coded any: 0, 1, 2)
//! if any:   last     the index of the last nonzero coefficient, a bit tree per class
//!           for j in 0..=last:
//!               zero?  [j < last]  context (class, band of j, coefficient j−1 nonzero)
//!               if nonzero: > 1?  context (class, band);  > 2?  context (class, band)
//!                           if > 2: |c| − 3 as Exp-Golomb (order 0): the prefix's unary bits
//!                                   each with a model per position in the prefix, then its
//!                                   suffix bits direct
//!                           sign, one direct bit (1: negative)
//! ```
//! bands of `j`: 0, 1, 2, 3–4, 5–8, 9–16, 17–32, 33 and on.

use crate::range::{BitModel, BitTree, RangeDecoder, RangeEncoder};

/// The most enhancement values a model may have (the format's limit).
pub const MAX_ENHANCE_DIMS: usize = 64;

/// The largest step index a frame may code ([`step_units`]; 0: no coefficients).
pub const MAX_STEP: u8 = 120;

/// Longest Exp-Golomb prefix a decoder accepts: magnitudes stay below 2^22.
const MAX_PREFIX: u32 = 22;

/// Largest coefficient magnitude a decoder reads (what the longest prefix codes).
pub(crate) const MAX_DECODED: i32 = (1 << MAX_PREFIX) + 1;

/// Largest coefficient magnitude an encoder writes.
pub(crate) const MAX_MAGNITUDE: i32 = (1 << 21) - 1;

const BANDS: usize = 8;
const CLASSES: usize = 3;

/// Mantissas of the step table: `round(256 · 2^(i/8))`.
const STEP_MANTISSA: [i32; 8] = [256, 279, 304, 332, 362, 395, 431, 470];

/// The step of step index `k` in latent units (2^-16): `STEP_MANTISSA[k mod 8] · 2^⌊k/8⌋`, about
/// `2^(k/8) / 256` of a latent unit; 0 for `k` 0 (no coefficients) or beyond [`MAX_STEP`].
pub fn step_units(k: u8) -> i32 {
    if k == 0 || k > MAX_STEP {
        return 0;
    }
    STEP_MANTISSA[usize::from(k % 8)] << (k / 8)
}

/// The step index whose step is nearest (in log) to `step` latent values (not units), 1..=
/// [`MAX_STEP`].
pub fn step_index(step: f32) -> u8 {
    if step.is_nan() || step <= 0.0 {
        return 1;
    }
    let k = (8.0 * (step * 256.0).log2()).round();
    k.clamp(1.0, f32::from(MAX_STEP)) as u8
}

#[inline]
fn band(j: usize) -> usize {
    match j {
        0..=2 => j,
        3..=4 => 3,
        5..=8 => 4,
        9..=16 => 5,
        17..=32 => 6,
        _ => 7,
    }
}

/// The adaptive models of the coefficients (one set per slice, reset at keyframes).
#[derive(Debug, Clone)]
pub(crate) struct CoefModels {
    dims: usize,
    any: [BitModel; CLASSES * 3],
    last: Vec<BitTree>,
    zero: [BitModel; CLASSES * BANDS * 2],
    gt1: [BitModel; CLASSES * BANDS],
    gt2: [BitModel; CLASSES * BANDS],
    prefix: [BitModel; MAX_PREFIX as usize],
}

impl CoefModels {
    /// Fresh models for `dims` values a position (0: none coded).
    pub(crate) fn new(dims: usize) -> Self {
        let bits = usize::BITS - dims.saturating_sub(1).leading_zeros();
        Self {
            dims,
            any: [BitModel::new(); CLASSES * 3],
            last: vec![BitTree::new(bits); CLASSES],
            zero: [BitModel::new(); CLASSES * BANDS * 2],
            gt1: [BitModel::new(); CLASSES * BANDS],
            gt2: [BitModel::new(); CLASSES * BANDS],
            prefix: [BitModel::new(); MAX_PREFIX as usize],
        }
    }

    /// Values a position codes.
    pub(crate) fn dims(&self) -> usize {
        self.dims
    }

    /// Bits of coding `c` (`dims` coefficients) at a position of `class` whose left and above
    /// neighbours coded any in `near` (0..=2) of them.
    pub(crate) fn cost(&self, class: usize, near: usize, c: &[i32]) -> f32 {
        let Some(last) = c.iter().rposition(|&v| v != 0) else {
            return self.any[class * 3 + near].cost(false);
        };
        let mut bits = self.any[class * 3 + near].cost(true) + self.last[class].cost(last as u32);
        let mut prev_nz = true;
        for (j, &v) in c[..=last].iter().enumerate() {
            let b = band(j);
            if j < last {
                bits += self.zero[(class * BANDS + b) * 2 + usize::from(prev_nz)].cost(v == 0);
            }
            prev_nz = v != 0;
            if v != 0 {
                bits += self.magnitude_cost(class, b, v.unsigned_abs()) + 1.0;
            }
        }
        bits
    }

    /// Bits of a nonzero magnitude `m` at band `b`.
    #[inline]
    pub(crate) fn magnitude_cost(&self, class: usize, b: usize, m: u32) -> f32 {
        let k = class * BANDS + b;
        let mut bits = self.gt1[k].cost(m > 1);
        if m > 1 {
            bits += self.gt2[k].cost(m > 2);
        }
        if m > 2 {
            let v = m - 3 + 1;
            let len = u32::BITS - 1 - v.leading_zeros();
            for i in 0..len.min(MAX_PREFIX) {
                bits += self.prefix[i as usize].cost(true);
            }
            if len < MAX_PREFIX {
                bits += self.prefix[len as usize].cost(false);
            }
            bits += len as f32;
        }
        bits
    }

    /// Bits of coefficient `j`'s zero flag (a coefficient before the last) being `zero`,
    /// after a coefficient that was nonzero or not.
    #[inline]
    pub(crate) fn zero_cost(&self, class: usize, j: usize, prev_nz: bool, zero: bool) -> f32 {
        self.zero[(class * BANDS + band(j)) * 2 + usize::from(prev_nz)].cost(zero)
    }

    /// Codes `c` ([`CoefModels::cost`]'s arguments).
    pub(crate) fn write(&mut self, enc: &mut RangeEncoder, class: usize, near: usize, c: &[i32]) {
        let last = c.iter().rposition(|&v| v != 0);
        enc.encode(&mut self.any[class * 3 + near], last.is_some());
        let Some(last) = last else { return };
        self.last[class].encode(enc, last as u32);
        let mut prev_nz = true;
        for (j, &v) in c[..=last].iter().enumerate() {
            let b = band(j);
            if j < last {
                enc.encode(
                    &mut self.zero[(class * BANDS + b) * 2 + usize::from(prev_nz)],
                    v == 0,
                );
            }
            prev_nz = v != 0;
            if v == 0 {
                continue;
            }
            let m = v.unsigned_abs();
            let k = class * BANDS + b;
            enc.encode(&mut self.gt1[k], m > 1);
            if m > 1 {
                enc.encode(&mut self.gt2[k], m > 2);
            }
            if m > 2 {
                let v = m - 3 + 1;
                let len = u32::BITS - 1 - v.leading_zeros();
                for i in 0..len {
                    enc.encode(&mut self.prefix[i as usize], true);
                }
                if len < MAX_PREFIX {
                    enc.encode(&mut self.prefix[len as usize], false);
                }
                if len > 0 {
                    enc.encode_direct(v - (1 << len), len);
                }
            }
            enc.encode_direct(u32::from(v < 0), 1);
        }
    }

    /// Decodes a position's coefficients into `out` (`dims` values, zeroed first).
    ///
    /// # Errors
    /// A last index beyond the position's values, or a magnitude prefix longer than the format
    /// allows.
    pub(crate) fn read(
        &mut self,
        dec: &mut RangeDecoder<'_>,
        class: usize,
        near: usize,
        out: &mut [i32],
    ) -> Result<(), String> {
        out.fill(0);
        if !dec.decode(&mut self.any[class * 3 + near]) {
            return Ok(());
        }
        let last = self.last[class].decode(dec) as usize;
        if last >= out.len() {
            return Err(format!(
                "enhancement coefficient {last} of a position of {}",
                out.len()
            ));
        }
        let mut prev_nz = true;
        for (j, o) in out[..=last].iter_mut().enumerate() {
            let b = band(j);
            let zero = j < last
                && dec.decode(&mut self.zero[(class * BANDS + b) * 2 + usize::from(prev_nz)]);
            prev_nz = !zero;
            if zero {
                continue;
            }
            let k = class * BANDS + b;
            let mut m = 1u32;
            if dec.decode(&mut self.gt1[k]) {
                m = 2;
                if dec.decode(&mut self.gt2[k]) {
                    let mut len = 0u32;
                    while len < MAX_PREFIX && dec.decode(&mut self.prefix[len as usize]) {
                        len += 1;
                    }
                    if len == MAX_PREFIX {
                        return Err("an enhancement coefficient beyond the format's range".into());
                    }
                    let v = (1u32 << len) + if len > 0 { dec.decode_direct(len) } else { 0 };
                    m = v - 1 + 3;
                }
            }
            let negative = dec.decode_direct(1) == 1;
            *o = if negative { -(m as i32) } else { m as i32 };
        }
        Ok(())
    }
}

/// Chooses a position's coefficients: the residual `r` (target minus prediction, latent
/// values) quantized with step `step` (latent values), each coefficient rounded to the nearest
/// level or one nearer zero, whichever costs less in `w_j·error² + λ·bits` with the models'
/// costs, and then all of it against coding none. Writes them into `out`; returns the weighted
/// squared error left and the bits.
#[allow(clippy::too_many_arguments)]
pub(crate) fn choose(
    models: &CoefModels,
    class: usize,
    near: usize,
    r: &[f32],
    step: f32,
    w: &[f32],
    lambda: f32,
    out: &mut [i32],
) -> (f32, f32) {
    let none_err: f32 = r.iter().zip(w).map(|(v, w)| w * v * v).sum::<f32>();
    let none_bits = models.cost(class, near, &[]);
    let mut err = 0f32;
    let mut prev_nz = true;
    let inv = 1.0 / step;
    for (j, ((o, &v), &w)) in out.iter_mut().zip(r).zip(w).enumerate() {
        let q = (v * inv)
            .round()
            .clamp(-(MAX_MAGNITUDE as f32), MAX_MAGNITUDE as f32) as i32;
        let e = |q: i32| {
            let d = v - q as f32 * step;
            w * d * d
        };
        let bits = |q: i32| {
            if q == 0 {
                models.zero_cost(class, j, prev_nz, true)
            } else {
                models.zero_cost(class, j, prev_nz, false)
                    + models.magnitude_cost(class, band(j), q.unsigned_abs())
                    + 1.0
            }
        };
        let mut best = (q, e(q) + lambda * bits(q));
        if q != 0 {
            let nearer = q - q.signum();
            let j2 = e(nearer) + lambda * bits(nearer);
            if j2 < best.1 {
                best = (nearer, j2);
            }
        }
        *o = best.0;
        err += e(best.0);
        prev_nz = best.0 != 0;
    }
    if out.iter().all(|&c| c == 0) {
        return (none_err, none_bits);
    }
    let bits = models.cost(class, near, out);
    if none_err + lambda * none_bits <= err + lambda * bits {
        out.fill(0);
        return (none_err, none_bits);
    }
    (err, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_grow_by_an_eighth_of_an_octave_and_index_back() {
        assert_eq!(step_units(0), 0);
        assert_eq!(step_units(MAX_STEP + 1), 0);
        for k in 1..MAX_STEP {
            let (a, b) = (step_units(k), step_units(k + 1));
            assert!(b > a, "{k}");
            let ratio = b as f64 / a as f64;
            assert!((ratio - 2f64.powf(0.125)).abs() < 0.01, "{k}: {ratio}");
            let value = a as f32 / 65536.0;
            assert_eq!(step_index(value), k, "{k}");
        }
        assert_eq!(step_index(0.0), 1);
        assert_eq!(step_index(f32::NAN), 1);
        assert_eq!(step_index(1e9), MAX_STEP);
    }

    #[test]
    fn coefficients_round_trip_with_their_costs() {
        let dims = 48;
        let mut rows: Vec<Vec<i32>> = Vec::new();
        let mut seed = 7u32;
        for i in 0..300 {
            let mut c = vec![0i32; dims];
            if i % 5 != 0 {
                for (j, v) in c.iter_mut().enumerate() {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let r = (seed >> 16) % 64;
                    *v = match r {
                        0..=40 => 0,
                        41..=50 => 1,
                        51..=55 => -2,
                        56..=60 => (r as i32) * 3 - (j as i32),
                        _ => -(1 << 20) + r as i32,
                    };
                }
            }
            rows.push(c);
        }
        let mut models = CoefModels::new(dims);
        let mut enc = RangeEncoder::new();
        let mut est = 0f64;
        for (i, c) in rows.iter().enumerate() {
            let (class, near) = (i % 3, (i / 3) % 3);
            est += f64::from(models.cost(class, near, c));
            models.write(&mut enc, class, near, c);
        }
        let bytes = enc.finish();
        let real = bytes.len() as f64 * 8.0;
        assert!(
            (real - est).abs() < 0.02 * est + 64.0,
            "{real} bits, {est} estimated"
        );
        let mut models = CoefModels::new(dims);
        let mut dec = RangeDecoder::new(&bytes);
        let mut out = vec![0i32; dims];
        for (i, c) in rows.iter().enumerate() {
            models.read(&mut dec, i % 3, (i / 3) % 3, &mut out).unwrap();
            assert_eq!(&out, c, "position {i}");
        }
    }

    #[test]
    fn choosing_spends_bits_only_where_they_pay() {
        let models = CoefModels::new(8);
        let r = [0.9f32, -0.31, 0.04, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut out = [0i32; 8];
        // no rate term: the nearest levels
        let w = [1f32; 8];
        let (err, bits) = choose(&models, 0, 0, &r, 0.1, &w, 0.0, &mut out);
        assert_eq!(out, [9, -3, 0, 0, 0, 0, 0, 0]);
        assert!(err < 0.01 && bits > 0.0);
        // a huge λ: nothing
        let (err, _) = choose(&models, 0, 0, &r, 0.1, &w, 1e6, &mut out);
        assert_eq!(out, [0; 8]);
        assert!((err - (0.81 + 0.0961 + 0.0016)).abs() < 1e-4);
    }
}
