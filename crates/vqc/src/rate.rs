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
/// (exactly the indices of plain RVQ). Below 20 the depth falls one level per 10 steps, at
/// the largest λ, which is what shrinks keyframes.
pub fn quality_params(quality: u8, levels: usize) -> (usize, f32) {
    let q = quality.min(100);
    if q == 100 {
        return (levels, 0.0);
    }
    let lambda = |q: u8| LAMBDA_TOP * 10f32.powf(f32::from(99 - q) / STEPS_PER_DECADE);
    if q >= FULL_DEPTH_FROM {
        return (levels, lambda(q));
    }
    let drop = usize::from((FULL_DEPTH_FROM - q).div_ceil(10));
    (levels.saturating_sub(drop).max(1), lambda(FULL_DEPTH_FROM))
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
