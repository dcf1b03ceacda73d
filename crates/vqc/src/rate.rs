//! Rate control: constant quality (a fixed RVQ depth and λ per quality step) and a target
//! bitrate (per-frame search over quality steps against a leaky bucket).

/// How the encoder spends bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateControl {
    /// Constant quality, 0 (smallest) ..= 100 (best): picks the RVQ depth and λ.
    Quality(u8),
    /// Target bitrate in kbit/s; each frame gets the best quality that fits its share.
    Bitrate(f64),
}

impl Default for RateControl {
    fn default() -> Self {
        RateControl::Quality(DEFAULT_QUALITY)
    }
}

/// The default `--quality`.
pub const DEFAULT_QUALITY: u8 = 80;

/// λ at quality 99 (λ is 0 at 100): latent squared error per bit.
const LAMBDA_TOP: f32 = 1e-5;
/// λ grows tenfold every this many quality steps below 99.
const STEPS_PER_DECADE: f32 = 22.5;
/// Below this quality the encoder also drops RVQ levels (keyframes cost less).
const FULL_DEPTH_FROM: u8 = 20;

/// Maps a quality step to (levels to code, λ) for a model with `levels` RVQ levels.
///
/// Measured on the validation clips (docs/bitstream.md): at equal rate, coding every level
/// and a larger λ (more skips then; more copies and shallower positions now) beats dropping levels, so quality 20..=100 keeps the full
/// depth and only moves λ, geometrically from 10⁻⁵ at 99 to ~3·10⁻² at 20; 100 is λ = 0
/// (exactly the indices of plain RVQ). Below 20 λ keeps growing at the same pace (2.5·10⁻¹
/// at 0) and the depth falls too, which is what shrinks keyframes: a tenth of the depth per 3
/// steps, rounded up — one level per 10 steps for the shipped three-level models, four per 10
/// for a twelve-level one. (Until 2026-12-06 λ stayed at λ(20) below 20: qualities 0 and 5,
/// 10 and 15 made the same files, and a twelve-level model's smallest file kept 10 levels at
/// 0.05 bpp on carphone; docs/results/quality-map.md.)
pub fn quality_params(quality: u8, levels: usize) -> (usize, f32) {
    let q = quality.min(100);
    if q == 100 {
        return (levels, 0.0);
    }
    let lambda = LAMBDA_TOP * 10f32.powf(f32::from(99 - q) / STEPS_PER_DECADE);
    // no levels dropped from FULL_DEPTH_FROM up
    let drop = (usize::from(FULL_DEPTH_FROM.saturating_sub(q)) * levels).div_ceil(30);
    (levels.saturating_sub(drop).max(1), lambda)
}

/// Below this quality the encoder codes only a model's base levels, not its enhancement's
/// ([`quality_params_gated`]).
pub const ENHANCE_FROM: u8 = 50;
/// From this quality up every enhancement level is open.
pub const ENHANCE_ALL_FROM: u8 = 70;

/// [`quality_params`] for a model whose levels from `base` on are an enhancement's (more
/// latent values for what its networks cannot carry): below [`ENHANCE_FROM`] the model codes
/// as it would without them (its own levels' depth and λ), from there they open one after
/// another up to [`ENHANCE_ALL_FROM`]. An enhancement lifts the model's ceiling but spends its
/// bits less well than the networks' own levels at low rates (docs/results/enhance.md).
pub fn quality_params_gated(quality: u8, levels: usize, base: usize) -> (usize, f32) {
    if base >= levels {
        return quality_params(quality, levels);
    }
    let q = usize::from(quality.min(100));
    let (from, all) = (usize::from(ENHANCE_FROM), usize::from(ENHANCE_ALL_FROM));
    if q < from {
        return quality_params(quality, base);
    }
    let (depth, lambda) = quality_params(quality, levels);
    let extra = levels - base;
    let open = if q >= all {
        extra
    } else {
        ((q - from + 1) * extra).div_ceil(all - from)
    };
    (depth.min(base + open), lambda)
}

/// Whether an encoder aiming at `rate` may code an enhancement's levels (from `base` on, of
/// `levels`): if not, the enhancement's latent values need not be computed at all.
pub fn opens_enhancement(rate: RateControl, levels: usize, base: usize) -> bool {
    match rate {
        _ if base >= levels => false,
        RateControl::Quality(q) => quality_params_gated(q, levels, base).0 > base,
        RateControl::Bitrate(_) => true,
    }
}

/// Whether an encoder aiming at `rate` codes a scalar enhancement's coefficients (a model
/// whose enhancement has no levels of its own: [`crate::coefs`]): from [`ENHANCE_FROM`] up, and
/// at any bitrate.
pub fn codes_coefficients(rate: RateControl) -> bool {
    match rate {
        RateControl::Quality(q) => q >= ENHANCE_FROM,
        RateControl::Bitrate(_) => true,
    }
}

/// The step (in latent values) of a scalar enhancement at `lambda` (squared error per bit in
/// the encoder's metric space) for coefficients whose squared error weighs `w` there: where a
/// uniform quantizer's `dD/dR` (`w·S²·ln 2 / 6` at high rate) meets λ (0.7 and 1.4 times
/// this step measured about the curve's own slope: docs/results/coefficients.md).
pub fn coefficient_step(lambda: f32, w: f32) -> f32 {
    (6.0 * lambda / (w.max(1e-9) * std::f32::consts::LN_2)).sqrt()
}

/// Leaky-bucket state for [`RateControl::Bitrate`].
#[derive(Debug, Clone)]
pub struct BitrateState {
    /// Bits per frame at the target rate.
    pub per_frame: f64,
    /// Bits spent minus bits budgeted so far.
    pub debt: f64,
}

impl BitrateState {
    /// For `kbps` at `fps` frames per second.
    pub fn new(kbps: f64, fps: f64) -> Self {
        Self {
            per_frame: kbps * 1000.0 / fps,
            debt: 0.0,
        }
    }

    /// Bits this frame may take: its share, less an eighth of the debt, more for keyframes
    /// (which predicted frames then repay).
    pub fn target(&self, key: bool) -> f64 {
        let base = (self.per_frame - self.debt / 8.0).max(self.per_frame * 0.1);
        if key { base * 4.0 } else { base }
    }

    /// Books a frame of `bits`.
    pub fn spend(&mut self, bits: f64) {
        self.debt += bits - self.per_frame;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_quality_20_lambda_keeps_growing_and_the_depth_falls_in_proportion() {
        for q in 0..=100u8 {
            // three levels (the shipped models): one level per 10 steps, as before
            let (three, lambda) = quality_params(q, 3);
            let old = if q >= 20 {
                3
            } else {
                3 - usize::from((20 - q).div_ceil(10)).min(2)
            };
            assert_eq!(three, old, "quality {q}");
            // deeper models lose a proportional share, never all of it
            let (twelve, lambda12) = quality_params(q, 12);
            assert_eq!(
                lambda, lambda12,
                "quality {q}: λ does not depend on the depth"
            );
            assert!((1..=12).contains(&twelve));
            if q >= 20 {
                assert_eq!(twelve, 12);
            }
        }
        assert_eq!(quality_params(10, 12).0, 8);
        assert_eq!(quality_params(5, 12).0, 6);
        assert_eq!(quality_params(0, 12).0, 4);
        assert_eq!(quality_params(0, 1).0, 1);
        // an enhancement's levels: closed below 50, all open from 70, in between one by one
        assert_eq!(quality_params_gated(49, 15, 3).0, 3);
        assert_eq!(quality_params_gated(50, 15, 3).0, 4);
        assert_eq!(quality_params_gated(60, 15, 3).0, 10);
        assert_eq!(quality_params_gated(69, 15, 3).0, 15);
        assert_eq!(quality_params_gated(70, 15, 3), quality_params(70, 15));
        assert_eq!(quality_params_gated(10, 15, 3), quality_params(10, 3));
        assert_eq!(quality_params_gated(30, 3, 3), quality_params(30, 3));
        // below the gate: the model's own levels as it would code them alone
        for q in 0..ENHANCE_FROM {
            assert_eq!(quality_params_gated(q, 15, 3), quality_params(q, 3));
            assert!(!opens_enhancement(RateControl::Quality(q), 15, 3));
        }
        assert!(opens_enhancement(RateControl::Quality(ENHANCE_FROM), 15, 3));
        assert!(opens_enhancement(RateControl::Bitrate(100.0), 15, 3));
        assert!(!opens_enhancement(RateControl::Quality(100), 3, 3));
        for q in 0..=100 {
            let (d, l) = quality_params_gated(q, 15, 3);
            assert_eq!(l, quality_params(q, 3).1, "λ does not depend on the depth");
            assert!(
                d >= quality_params_gated(q.saturating_sub(1), 15, 3).0,
                "depth grows with quality"
            );
        }
        // every step down costs more distortion per bit saved: λ grows, the depth never rises
        for q in 1..=100u8 {
            let (a, la) = quality_params(q - 1, 12);
            let (b, lb) = quality_params(q, 12);
            assert!(a <= b && la > lb, "quality {q}");
        }
        assert!((quality_params(0, 3).1 - 0.25).abs() < 0.01);
    }
}
