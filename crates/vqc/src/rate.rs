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
    let lambda = lambda_at(f32::from(q));
    // no levels dropped from FULL_DEPTH_FROM up
    let drop = (usize::from(FULL_DEPTH_FROM.saturating_sub(q)) * levels).div_ceil(30);
    (levels.saturating_sub(drop).max(1), lambda)
}

/// λ at a (fractional) quality step below 100.
fn lambda_at(quality: f32) -> f32 {
    LAMBDA_TOP * 10f32.powf((99.0 - quality) / STEPS_PER_DECADE)
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

/// At a set quality, a model refined by scalar coefficients ([`crate::coefs`]) codes them from
/// this quality up: the high-fidelity rungs, above the default. Up to the default its streams
/// are its networks' levels alone — those of the model without the enhancement, chunk for
/// chunk, encoded as fast —; from here up the ceiling of its 16-value latent is gone, at
/// several times the default's bits on busy content (docs/results/high-fidelity.md).
pub const FIDELITY_FROM: u8 = DEFAULT_QUALITY + 1;
/// The quality step of the coefficients' own curve (their λ coding them with the levels from
/// quality 50 up, as the lab measured it: docs/results/coefficients.md) that [`FIDELITY_FROM`]
/// codes at; 100 codes at 100 (λ = 0, every coefficient at the finest step).
/// At 75 the first rung is as good as the default or better on the static validation clips in
/// about as many bits (−8% / +8%; at 70 its MS-SSIM was lower), and 9.8 dB better on carphone.
const FIDELITY_START: f32 = 75.0;

/// Whether an encoder aiming at `rate` codes a scalar enhancement's coefficients (a model whose
/// enhancement has no levels of its own: [`crate::coefs`]): at a set quality from
/// [`FIDELITY_FROM`] up; never at a bitrate. A bitrate's search walks the levels' own steps, as
/// the model without the enhancement does: the first coefficient step costs several times the
/// default's bits on busy footage (6.6× on carphone), and with it in reach the leaky bucket saved
/// up for it over dozens of frames and spent it in a burst, 28 → 38 → 28 dB
/// (docs/results/high-fidelity.md).
pub fn codes_coefficients(rate: RateControl) -> bool {
    match rate {
        RateControl::Quality(q) => q >= FIDELITY_FROM,
        RateControl::Bitrate(_) => false,
    }
}

/// What a frame codes at set quality `quality`, for a model of `levels` levels, the first `base`
/// its networks' own ([`quality_params_gated`]), and (`scalar`) refined by scalar coefficients:
/// `(levels to code, λ, whether coefficients)`. (A bitrate's search calls it with `scalar`
/// false: [`codes_coefficients`].)
///
/// For a scalar-refined model, the steps up to the default are its networks' levels alone
/// ([`quality_params`]), and [`FIDELITY_FROM`]`..=100` the top of the coefficients' own curve
/// (the encoder coding them at one λ with the levels from quality 50 up: about as good as the
/// levels alone at equal PSNR-Y over their range, and above it the only way up;
/// docs/results/coefficients.md), from [`FIDELITY_START`] to 100.
pub fn step_params(
    quality: u8,
    (levels, base): (usize, usize),
    scalar: bool,
) -> (usize, f32, bool) {
    let q = quality.min(100);
    if !scalar {
        let (d, l) = quality_params_gated(q, levels, base);
        return (d, l, false);
    }
    if q >= FIDELITY_FROM {
        let top = f32::from(100 - FIDELITY_FROM);
        let at = FIDELITY_START + f32::from(q - FIDELITY_FROM) * (100.0 - FIDELITY_START) / top;
        let lambda = if q == 100 { 0.0 } else { lambda_at(at) };
        return (levels, lambda, true);
    }
    let (d, l) = quality_params(q, levels);
    (d, l, false)
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
        // a model refined by scalar coefficients: at a set quality the default and below are
        // its levels alone, the rungs above the coefficients' curve from 75 up
        let b = RateControl::Bitrate(100.0);
        for s in 0..=100u8 {
            let (l, lambda) = quality_params(s, 3);
            assert_eq!(step_params(s, (3, 3), false), (l, lambda, false));
            assert_eq!(
                step_params(s, (15, 3), false),
                (quality_params_gated(s, 15, 3).0, lambda, false),
                "no coefficients without a scalar enhancement"
            );
            let (d, fl, c) = step_params(s, (3, 3), true);
            assert_eq!(c, s >= FIDELITY_FROM, "quality {s}");
            assert_eq!(c, codes_coefficients(RateControl::Quality(s)));
            if s <= DEFAULT_QUALITY {
                assert_eq!((d, fl), (l, lambda), "quality {s}: the levels' own stream");
            } else {
                assert_eq!(d, 3);
                assert!(fl < step_params(s - 1, (3, 3), true).1 || s == FIDELITY_FROM);
            }
        }
        let first = step_params(FIDELITY_FROM, (3, 3), true).1;
        assert!((first / quality_params(75, 3).1 - 1.0).abs() < 1e-5);
        assert!(
            first > quality_params(DEFAULT_QUALITY, 3).1,
            "a coarser λ than the default's"
        );
        assert_eq!(step_params(100, (3, 3), true), (3, 0.0, true));
        assert!(step_params(99, (3, 3), true).1 > 0.0);
        assert!(!codes_coefficients(b), "a bitrate walks the levels' steps");
        // every step down costs more distortion per bit saved: λ grows, the depth never rises
        for q in 1..=100u8 {
            let (a, la) = quality_params(q - 1, 12);
            let (b, lb) = quality_params(q, 12);
            assert!(a <= b && la > lb, "quality {q}");
        }
        assert!((quality_params(0, 3).1 - 0.25).abs() < 0.01);
    }
}
