//! The stream encoder: latents in, chunks out (send a frame, receive its packet).

use crate::ModelInfo;
use crate::codebook::Codebooks;
use crate::container::{FrameKind, Header, Limits, SourceChroma, write_chunk};
use crate::error::ConfigError;
use crate::patch::CodebookPatch;
use crate::rate::{BitrateState, RateControl, quality_params_gated};
use crate::search::{SearchChoice, SearchPlan};
use crate::syntax::{
    Contexts, FrameCode, FrameParams, Mode, TokenState, encode_frame, search_costs, searched_state,
    starts, write_counted,
};

/// What the encoder is asked to make.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// Constant quality or target bitrate.
    pub rate: RateControl,
    /// Most frames between keyframes (1: every frame is a keyframe).
    pub keyint: u32,
    /// Start a keyframe early when a predicted frame would cost nearly as much (a scene cut).
    pub scene_cut: bool,
    /// Search effort, 1..=[`crate::MAX_EFFORT`]: paths the encoder's beam search over each
    /// position's indices keeps (1: greedy, fastest). Costs encoding time, not decoding time;
    /// the stream's format is the same.
    pub effort: u8,
    /// Source chroma layout, recorded in the header.
    pub chroma: SourceChroma,
    /// Frames to come, when known (0: unknown).
    pub frame_count: u32,
    /// Frames the encoder looks ahead (0 or 1: none). With a lookahead it codes each window of
    /// frames (up to this many, within one keyframe interval) twice: first to see which positions
    /// later frames copy or predict from, then for the stream, spending more bits where what is
    /// coded will be reused (a keyframe's still background, the background a moving object
    /// uncovers) and fewer where the next frames replace it. Costs a second search per frame and
    /// the window's frames of latency ([`Encoder::encode_latents`] codes whole windows); the
    /// stream's format is the same. The keyframe interval is the useful window.
    pub lookahead: u32,
    /// Adaptive quantisation strength, 0..=[`crate::MAX_AQ`] (0: off): each position's λ is
    /// multiplied by `(activity / the frame's geometric mean)^aq`, a position's activity being
    /// the variance of the source's Y' over its block ([`Encoder::encode_analysed`]; the
    /// engine's pipeline measures it on the pixels), as x264's `--aq-mode 2`: more bits where
    /// the picture is flat and errors show, fewer in busy texture. Only frames coded with their
    /// activity use it; the stream's format is the same.
    pub aq: f64,
    /// Codebook levels adapted to the footage (the engine's `adapt`): the encoder quantises
    /// with them and the header carries them, so every decoder uses them too.
    pub codebook: Option<CodebookPatch>,
    /// Slices each frame is coded in (bands of latent rows coded apart, which a decoder may
    /// decode at once, for a little more rate), 1..=[`crate::MAX_SLICES`] and at most the
    /// latent rows; 0: one per [`crate::SLICE_POSITIONS`] latent positions, at most 8
    /// ([`crate::default_slices`]).
    pub slices: u8,
}

impl EncoderConfig {
    /// Defaults for a `width × height` source at [`crate::DEFAULT_FRAMERATE`] fps: quality
    /// [`crate::DEFAULT_QUALITY`], a keyframe every [`crate::DEFAULT_KEYINT`] frames, scene-cut
    /// detection on.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            fps_num: crate::DEFAULT_FRAMERATE,
            fps_den: 1,
            rate: RateControl::default(),
            keyint: crate::DEFAULT_KEYINT,
            scene_cut: true,
            effort: crate::DEFAULT_EFFORT,
            chroma: SourceChroma::C420,
            frame_count: 0,
            lookahead: crate::DEFAULT_LOOKAHEAD,
            aq: crate::DEFAULT_AQ,
            codebook: None,
            slices: 0,
        }
    }
}

/// Per-frame statistics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameStats {
    /// Bytes of the chunk (header + payload).
    pub bytes: usize,
    /// The quality step used.
    pub quality: u8,
    /// Levels coded (the deepest any position may go).
    pub levels: usize,
    /// Mean indices coded per position: below `levels` where the encoder ended positions early,
    /// and where positions copy or predict from the previous frame.
    pub depth: f64,
    /// λ of the rate–distortion choices (with a lookahead, before each position's factor: a
    /// keyframe's λ/50 is then per position).
    pub lambda: f32,
    /// Fraction of the positions that copy the previous frame's latent (0 for keyframes).
    pub copied: f64,
    /// Fraction of the positions coded as a residual against the previous frame's latent (0
    /// for keyframes).
    pub inter: f64,
    /// Fraction of the positions whose prediction is shifted by a motion (0 for keyframes).
    pub moved: f64,
    /// Mean squared latent error per position, in the model's metric space when it has one
    /// (what the encoder's choices minimised; [`crate::Metric`]).
    pub latent_mse: f64,
    /// True when a scene cut turned a planned delta frame into a keyframe.
    pub scene_cut: bool,
    /// The target bitrate in kbit/s (bitrate mode), or `None` (constant quality).
    pub target_kbps: Option<f64>,
    /// The stream's rate so far, header included: its bytes × 8 over the duration of the frames
    /// coded, in kbit/s. A target can be missed: below it when even the top quality needs fewer
    /// bits (the model's ceiling), above it when the lowest quality needs more.
    pub achieved_kbps: f64,
    /// Where the payload's bits went, by syntax element (code lengths under the models; the
    /// chunk header and the coder's flush are not in them).
    pub bits: crate::SymbolBits,
}

/// One encoded frame.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Key or delta.
    pub kind: FrameKind,
    /// Presentation timestamp (frame ticks).
    pub pts: u32,
    /// The chunk, ready to append to the stream.
    pub data: Vec<u8>,
    /// The indices a decoder will hold after this frame.
    pub state: TokenState,
    /// Statistics.
    pub stats: FrameStats,
}

/// Turns per-frame latents into `.vqc` chunks.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    header: Header,
    books: Codebooks,
    grid: (usize, usize),
    ctx: Contexts,
    /// The models the last frame coded from a search ([`Encoder::accept_searched`]) started
    /// from: what [`Encoder::plan`] prices the next frame's delta choices with (one frame
    /// behind the stream's, so that a frame's entropy coding can run beside the next frame's
    /// search). `None` after a frame the encoder searched itself: the stream's own.
    plan_ctx: Option<Contexts>,
    /// The timestamp of a frame accepted and not yet finished ([`Encoder::finish_searched`]).
    unfinished: Option<u32>,
    prev: Option<TokenState>,
    pts: u32,
    since_key: u32,
    bucket: Option<BitrateState>,
    /// Bytes written so far (header included) and frames coded, for `FrameStats::achieved_kbps`.
    written: (u64, u64),
}

/// λ of keyframes relative to delta frames: every frame until the next keyframe inherits a
/// keyframe's errors through prediction, so its distortion counts many times (measured on coinpen:
/// 0.02 gives +3 dB over 1 at equal rate; docs/bitstream.md).
const KEY_LAMBDA_SCALE: f32 = 0.02;

/// With a lookahead, a position's λ is divided by `(1 + reuse)^e`, `reuse` counting the later
/// frames that copy it (an inter position that predicts from it counts [`INTER_REUSE`]), with
/// `e` this for keyframes: a position all 59 delta frames of a 60-frame interval copy gets
/// 60^-0.95 ≈ [`KEY_LAMBDA_SCALE`], one the next frame replaces gets the delta frames' λ.
const KEY_REUSE_EXPONENT: f32 = 0.95;
/// [`KEY_REUSE_EXPONENT`] for delta frames (measured on the validation clips,
/// docs/results/lookahead.md: 0.2–0.4 all help balle-jbart by 11–15%; 0.4 costs carphone 6%,
/// 0.2 leaves it and coinpen within 1%).
const DELTA_REUSE_EXPONENT: f32 = 0.25;
/// Activity below this (Y' variance over a block, 8-bit units²) counts as this: a flat block
/// and a nearly flat one get the same λ.
const AQ_FLOOR: f32 = 1.0;
/// The largest variance 8-bit samples can have (half at 0, half at 255): activity given above
/// it counts as it.
const AQ_CEILING: f32 = 127.5 * 127.5;

/// The slices a stream of `config` for `model` (codebooks of `2^bits` codes) is coded in: the
/// config's, or by the frame's size for 0, within what the format allows for its grid and
/// models ([`crate::max_slices`]).
fn slices(config: &EncoderConfig, model: &ModelInfo, bits: u32) -> Result<u8, ConfigError> {
    let s = model.downsample.max(1);
    let (rows, columns) = (
        (config.height as usize).div_ceil(s),
        (config.width as usize).div_ceil(s),
    );
    let most = crate::max_slices(rows, model.levels, bits);
    match usize::from(config.slices) {
        0 => Ok(crate::default_slices(rows, columns).min(most) as u8),
        n if n <= most => Ok(config.slices),
        n => Err(ConfigError::Option(format!(
            "slices {n}: a {}x{} frame has {rows} latent rows, so 1 to {most} (0: by its size)",
            config.width, config.height
        ))),
    }
}

/// The latent values a stream of `books` refines with scalar coefficients (version 9): every
/// one of a model whose enhancement has no levels of its own ([`Codebooks::with_enhancement`]
/// with every level a base level) — its networks' values too: what their levels leave is most
/// of the error at the top (docs/results/coefficients.md) —, else none. A count beyond the
/// format's reads as 255, which the header's check refuses.
fn scalar_enhancement(books: &Codebooks) -> u8 {
    if books.base_levels() == books.levels() && books.net_dim() < books.dim() {
        u8::try_from(books.dim()).unwrap_or(u8::MAX)
    } else {
        0
    }
}

/// Levels and λ of a frame a search made elsewhere decides at `quality` (keyframes at
/// [`KEY_LAMBDA_SCALE`] of delta frames' λ, as the encoder's own search without a lookahead).
fn searched_params(quality: u8, books: &Codebooks, kind: FrameKind) -> (usize, f32) {
    let (coded, lambda) = quality_params_gated(quality, books.levels(), books.base_levels());
    match kind {
        FrameKind::Key => (coded, lambda * KEY_LAMBDA_SCALE),
        FrameKind::Delta => (coded, lambda),
    }
}

/// Adaptive quantisation's λ factor per position: `(activity / G)^strength`, `G` the frame's
/// geometric mean activity, so that a frame's factors multiply to 1. Flat areas (where a
/// viewer, and SSIM, see every error) get a smaller λ and more bits; busy texture, which hides
/// errors, a larger one. `None` at strength 0.
fn aq_factors(activity: &[f32], strength: f32) -> Option<Vec<f32>> {
    if strength <= 0.0 || activity.is_empty() {
        return None;
    }
    // NaN counts as flat, ∞ as the busiest block a frame of 8-bit samples can have
    let logs: Vec<f32> = activity
        .iter()
        .map(|&a| a.max(AQ_FLOOR).min(AQ_CEILING).ln())
        .collect();
    let mean = logs.iter().map(|&l| f64::from(l)).sum::<f64>() / logs.len() as f64;
    Some(
        logs.iter()
            .map(|&l| ((l - mean as f32) * strength).exp())
            .collect(),
    )
}

/// What sets each position's λ apart from the frame's: the lookahead's reuse counts and
/// adaptive quantisation's factors.
#[derive(Debug, Clone, Copy, Default)]
struct Weights<'a> {
    reuse: Option<&'a [f32]>,
    aq: Option<&'a [f32]>,
}

/// How much of a position an inter position that predicts from it reuses.
const INTER_REUSE: f32 = 0.5;

/// Delta frames that cost more than this fraction of a keyframe become keyframes.
const SCENE_CUT_RATIO: f64 = 0.85;

impl Encoder {
    /// An encoder for `model`'s codebooks `books`, with `config.codebook`'s levels in place of
    /// theirs when it has one. `books` must be the model's own (trained) codebooks: a codebook
    /// patch holds differences from them.
    ///
    /// # Errors
    /// [`ConfigError::Dimensions`] for a zero or oversized frame, [`ConfigError::Codebooks`]
    /// for a codebook size that is not a power of two or not the model's,
    /// [`ConfigError::Option`] for a zero frame rate or bitrate, a lookahead above
    /// [`crate::MAX_LOOKAHEAD`], an `aq` outside `0..=`[`crate::MAX_AQ`] or a model the format
    /// cannot describe,
    /// [`ConfigError::CodebookModel`] for a codebook made for another model.
    pub fn new(
        config: EncoderConfig,
        model: &ModelInfo,
        books: Codebooks,
    ) -> Result<Self, ConfigError> {
        let limits = Limits::default();
        if config.width == 0
            || config.height == 0
            || config.width > limits.max_width
            || config.height > limits.max_height
        {
            return Err(ConfigError::Dimensions {
                width: config.width.into(),
                height: config.height.into(),
                max: limits.max_width.into(),
            });
        }
        if config.fps_num == 0 || config.fps_den == 0 {
            return Err(ConfigError::Option(format!(
                "frame rate {}/{} (expected a positive fraction)",
                config.fps_num, config.fps_den
            )));
        }
        if let RateControl::Bitrate(k) = config.rate
            && !(k.is_finite() && k > 0.0)
        {
            return Err(ConfigError::Option(format!(
                "bitrate {k} kbit/s (expected a positive number)"
            )));
        }
        if config.lookahead > crate::MAX_LOOKAHEAD {
            return Err(ConfigError::Option(format!(
                "lookahead {} frames (at most {})",
                config.lookahead,
                crate::MAX_LOOKAHEAD
            )));
        }
        if !(0.0..=crate::MAX_AQ).contains(&config.aq) {
            return Err(ConfigError::Option(format!(
                "aq {} (expected 0 to {})",
                config.aq,
                crate::MAX_AQ
            )));
        }
        let k = books.size();
        if !k.is_power_of_two() || books.levels() != model.levels || k != model.codebook_size {
            return Err(ConfigError::Codebooks {
                got: format!("{}x{k}", books.levels()),
                expected: format!("{} levels of {}", model.levels, model.codebook_size),
            });
        }
        let books = match &config.codebook {
            Some(patch) => patch.apply(model.id, &books)?,
            None => books,
        };
        let bits = k.trailing_zeros();
        let header = Header {
            model_id: model.id,
            codebook_id: 0,
            width: config.width,
            height: config.height,
            fps_num: config.fps_num,
            fps_den: config.fps_den,
            frame_count: config.frame_count,
            levels: model.levels as u8,
            codebook_bits: bits as u8,
            downsample: model.downsample as u8,
            chroma: config.chroma,
            fine_motion: books.fine_range(),
            slices: slices(&config, model, bits)?,
            enhance_dims: scalar_enhancement(&books),
            codebook: None,
        }
        .with_codebook(config.codebook.clone());
        header
            .check(&limits)
            .map_err(|e| ConfigError::Option(e.to_string()))?;
        let bucket = match config.rate {
            RateControl::Bitrate(kbps) => Some(BitrateState::new(
                kbps,
                f64::from(config.fps_num) / f64::from(config.fps_den),
            )),
            RateControl::Quality(_) => None,
        };
        let written = (header.byte_len() as u64, 0);
        Ok(Self {
            grid: header.latent_size(),
            ctx: Contexts::for_header(&header),
            plan_ctx: None,
            unfinished: None,
            config,
            header,
            books,
            prev: None,
            pts: 0,
            since_key: 0,
            bucket,
            written,
        })
    }

    /// The sequence header this encoder writes.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header's bytes (with the codebook block, if any): the start of the stream.
    pub fn header_bytes(&self) -> Vec<u8> {
        let b = self.header.to_bytes();
        debug_assert_eq!(b.len(), self.header.byte_len());
        b
    }

    /// Makes the next frame's timestamp `pts`: for an encoder that takes over a stream midway,
    /// as the browser's worker does when the GPU is lost. Send that frame as a keyframe; the
    /// decoder needs nothing from the encoder that came before.
    pub fn resume_at(&mut self, pts: u32) {
        self.pts = pts;
    }

    /// Frames [`Encoder::encode_latents`] looks ahead (0 or 1: none): the config's.
    pub fn lookahead(&self) -> u32 {
        self.config.lookahead
    }

    /// Frames of the next window [`Encoder::encode_latents`] codes together: the lookahead, or
    /// fewer when a keyframe is planned sooner (nothing after a keyframe reuses what is before
    /// it); 1 without a lookahead. `force_key`: the next frame is to be a keyframe.
    pub fn next_window(&self, force_key: bool) -> usize {
        let window = self.config.lookahead as usize;
        if window < 2 {
            return 1;
        }
        window.min(self.frames_to_key(force_key))
    }

    /// Frames from the next one to the next planned keyframe (at least 1).
    fn frames_to_key(&self, force_key: bool) -> usize {
        let keyint = self.config.keyint.max(1) as usize;
        let since = self.since_key as usize;
        let key = force_key || self.prev.is_none() || since + 1 >= keyint;
        if key { keyint } else { keyint - 1 - since }
    }

    /// Whether this encoder may code an enhancement's levels (a model's levels that
    /// [`Codebooks::with_enhancement`] sets apart) at its rate control. If not, give it the
    /// enhancement's latent values at zero: it then codes exactly as the model without the
    /// enhancement (and the encoder network need not compute them).
    pub fn opens_enhancement(&self) -> bool {
        crate::rate::opens_enhancement(
            self.config.rate,
            self.books.levels(),
            self.books.base_levels(),
        ) || self.codes_coefficients()
    }

    /// Whether this encoder codes a scalar enhancement's coefficients at its rate control (a
    /// model refined by them, from [`crate::rate::FIDELITY_FROM`] up or at a bitrate). A
    /// search on the device ([`SearchPlan`]) codes none, so such an encoder's frames are searched
    /// here.
    pub fn codes_coefficients(&self) -> bool {
        self.header.enhance_dims > 0 && crate::rate::codes_coefficients(self.config.rate)
    }

    /// Latent values per frame the encoder expects: `rows × columns × dim`.
    pub fn latent_len(&self) -> usize {
        self.grid.0 * self.grid.1 * self.books.dim()
    }

    fn trial(
        &self,
        latent: &[f32],
        kind: FrameKind,
        quality: u8,
        weights: Weights<'_>,
    ) -> (FrameCode, Contexts, f32) {
        // a bitrate's search walks the levels' own steps (rate::codes_coefficients); there, and
        // up to the default quality, a scalar-refined model's analysis leaves the enhancement's
        // values at zero (`opens_enhancement` is false), so its choices are the plain model's
        let scalar = self.codes_coefficients();
        let (levels, lambda, coefficients) = crate::rate::step_params(
            quality,
            (self.books.levels(), self.books.base_levels()),
            scalar,
        );
        // with a lookahead, each position's reuse sets its factor (a keyframe's included);
        // adaptive quantisation multiplies its own
        let e = match kind {
            FrameKind::Key => KEY_REUSE_EXPONENT,
            FrameKind::Delta => DELTA_REUSE_EXPONENT,
        };
        let scale: Option<Vec<f32>> = match weights {
            Weights {
                reuse: None,
                aq: None,
            } => None,
            Weights { reuse, aq } => Some(
                (0..self.grid.0 * self.grid.1)
                    .map(|p| {
                        reuse.map_or(1.0, |r| (1.0 + r[p]).powf(-e)) * aq.map_or(1.0, |a| a[p])
                    })
                    .collect(),
            ),
        };
        let lambda = match (kind, weights.reuse) {
            (FrameKind::Key, None) => lambda * KEY_LAMBDA_SCALE,
            _ => lambda,
        };
        let mut ctx = self.frame_contexts(kind);
        let code = encode_frame(
            latent,
            self.grid,
            &self.books,
            FrameParams {
                kind,
                levels,
                lambda,
                beam: usize::from(self.config.effort.clamp(1, crate::MAX_EFFORT)),
                lambda_scale: scale.as_deref(),
                enhance: coefficients,
            },
            &mut ctx,
            self.prev.as_ref(),
        );
        (code, ctx, lambda)
    }

    /// The best quality step whose frame fits `target` bits (the lowest step if none does).
    fn search(
        &self,
        latent: &[f32],
        kind: FrameKind,
        target: f64,
        weights: Weights<'_>,
    ) -> (u8, FrameCode, Contexts, f32) {
        let (mut lo, mut hi) = (0u8, 100u8);
        let mut best = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let (code, ctx, lambda) = self.trial(latent, kind, mid, weights);
            // the chunk's payload: the step byte, when the frame has one, and the symbols
            let len = code.payload.len() + usize::from(code.state.step > 0);
            let bits = ((len + crate::container::chunk_header_len(self.pts, len)) * 8) as f64;
            if bits <= target {
                best = Some((mid, code, ctx, lambda));
                lo = mid + 1;
            } else {
                if mid == 0 {
                    break;
                }
                hi = mid - 1;
            }
        }
        best.unwrap_or_else(|| {
            let (code, ctx, lambda) = self.trial(latent, kind, 0, weights);
            (0, code, ctx, lambda)
        })
    }

    fn choose(
        &self,
        latent: &[f32],
        kind: FrameKind,
        weights: Weights<'_>,
    ) -> (u8, FrameCode, Contexts, f32) {
        match (&self.bucket, self.config.rate) {
            (Some(b), _) => self.search(latent, kind, b.target(kind == FrameKind::Key), weights),
            (None, rate) => {
                let q = match rate {
                    RateControl::Quality(q) => q,
                    RateControl::Bitrate(_) => crate::rate::DEFAULT_QUALITY,
                };
                let (code, ctx, lambda) = self.trial(latent, kind, q, weights);
                (q, code, ctx, lambda)
            }
        }
    }

    /// Encodes the next frame from its latent (`rows × columns × dim`, position-major, as the
    /// engine's encoder network gives it), without looking ahead (whatever the config's
    /// `lookahead`: [`Encoder::encode_latents`] looks ahead).
    ///
    /// # Errors
    /// [`ConfigError::Latent`] if the latent has the wrong length.
    pub fn encode_latent(
        &mut self,
        latent: &[f32],
        force_key: bool,
    ) -> Result<Packet, ConfigError> {
        self.encode_with(latent, force_key, None, None, true)
    }

    /// Encodes the next frames, in order (`force_key` makes the first a keyframe). With the
    /// config's `lookahead` above 1 the frames are coded in windows of up to that many frames,
    /// none across a planned keyframe: each window is coded once to see which positions later
    /// frames of the window reuse, then again, for the stream, with λ lowered where they do
    /// (`EncoderConfig::lookahead`). Without it, as [`Encoder::encode_latent`] frame by frame.
    ///
    /// # Errors
    /// [`ConfigError::Latent`] if a latent has the wrong length (no frame is coded then).
    pub fn encode_latents<Z: AsRef<[f32]>>(
        &mut self,
        latents: &[Z],
        force_key: bool,
    ) -> Result<Vec<Packet>, ConfigError> {
        self.encode_analysed(latents, None::<&[Z]>, force_key)
    }

    /// [`Encoder::encode_latents`] with each frame's activity (`rows × columns`: the variance
    /// of the source's Y' over each position's block), from which the config's `aq` sets each
    /// position's λ.
    ///
    /// # Errors
    /// [`ConfigError::Latent`] if a latent has the wrong length, [`ConfigError::Option`] if
    /// the activity maps are not one per latent of one value per position (no frame is coded
    /// then).
    pub fn encode_analysed<Z: AsRef<[f32]>, A: AsRef<[f32]>>(
        &mut self,
        latents: &[Z],
        activity: Option<&[A]>,
        force_key: bool,
    ) -> Result<Vec<Packet>, ConfigError> {
        if let Some(z) = latents
            .iter()
            .find(|z| z.as_ref().len() != self.latent_len())
        {
            return Err(ConfigError::Latent {
                got: z.as_ref().len(),
                expected: self.latent_len(),
            });
        }
        if let Some(a) = activity {
            let positions = self.grid.0 * self.grid.1;
            if a.len() != latents.len() {
                return Err(ConfigError::Option(format!(
                    "{} activity maps for {} latents",
                    a.len(),
                    latents.len()
                )));
            }
            if let Some(m) = a.iter().find(|m| m.as_ref().len() != positions) {
                return Err(ConfigError::Option(format!(
                    "an activity map of {} values for {positions} positions",
                    m.as_ref().len()
                )));
            }
        }
        let act = |i: usize| activity.map(|a| a[i].as_ref());
        let mut out = Vec::with_capacity(latents.len());
        let mut i = 0;
        while i < latents.len() {
            let first_key = force_key && i == 0;
            let full = self.next_window(first_key);
            let start = i;
            let win = &latents[i..(i + full).min(latents.len())];
            i += win.len();
            if win.len() == 1 {
                // nothing in the window reuses its one frame (every window without a
                // lookahead): coded frame by frame
                out.push(self.encode_with(win[0].as_ref(), first_key, act(start), None, true)?);
                continue;
            }
            // frames of the keyframe interval after a window the lookahead cut short (none
            // when the latents ran out: the end of the stream)
            let tail = if win.len() == full {
                self.frames_to_key(first_key) - full
            } else {
                0
            };
            // first pass: how each frame would code, from the state the stream is in
            let saved = (
                self.ctx.clone(),
                self.prev.clone(),
                self.pts,
                self.since_key,
                self.bucket.clone(),
                self.written,
            );
            let mut first = Vec::with_capacity(win.len());
            for (j, z) in win.iter().enumerate() {
                let p =
                    self.encode_with(z.as_ref(), first_key && j == 0, act(start + j), None, true)?;
                first.push((p.kind, p.state.mode.clone(), p.state.sources()));
            }
            (
                self.ctx,
                self.prev,
                self.pts,
                self.since_key,
                self.bucket,
                self.written,
            ) = saved;
            let (width, height) = (self.grid.1, self.grid.0);
            let reuse = reuse_counts(&first, (width, height), tail as f32);
            // second pass: each frame of the kind the first pass chose (its scene cuts too)
            for (j, ((z, r), (kind, _, _))) in win.iter().zip(&reuse).zip(&first).enumerate() {
                let key = *kind == FrameKind::Key;
                out.push(self.encode_with(z.as_ref(), key, act(start + j), Some(r), false)?);
            }
        }
        Ok(out)
    }

    /// One frame: a keyframe when forced or planned, else a delta frame unless `cut` allows a
    /// scene cut and one is found; each position's λ by its `reuse` when given.
    fn encode_with(
        &mut self,
        latent: &[f32],
        force_key: bool,
        activity: Option<&[f32]>,
        reuse: Option<&[f32]>,
        cut: bool,
    ) -> Result<Packet, ConfigError> {
        if latent.len() != self.latent_len() {
            return Err(ConfigError::Latent {
                got: latent.len(),
                expected: self.latent_len(),
            });
        }
        self.check_finished()?;
        let aq = activity.and_then(|a| aq_factors(a, self.config.aq as f32));
        let weights = Weights {
            reuse,
            aq: aq.as_deref(),
        };
        let planned_key = self.planned_key(force_key);
        let (mut kind, mut scene_cut) = (
            if planned_key {
                FrameKind::Key
            } else {
                FrameKind::Delta
            },
            false,
        );
        let (mut quality, mut code, mut ctx, mut lambda) = self.choose(latent, kind, weights);
        let n = (self.grid.0 * self.grid.1) as f64;
        let mostly_predicted = (code.state.copies() + code.state.inters()) as f64 >= 0.5 * n;
        if kind == FrameKind::Delta && cut && self.config.scene_cut && !mostly_predicted {
            // a cut: at the same quality, the keyframe is not much larger than the delta frame
            // (only tried when fewer than half the positions predict from the reference: a
            // frame that mostly repeats it is never close to a keyframe's cost, and the trial
            // would double the encoder's work)
            let (key, _, _) = self.trial(latent, FrameKind::Key, quality, weights);
            if code.payload.len() as f64 > SCENE_CUT_RATIO * key.payload.len() as f64 {
                kind = FrameKind::Key;
                scene_cut = true;
                (quality, code, ctx, lambda) = self.choose(latent, kind, weights);
            }
        }
        Ok(self.finish(kind, quality, code, ctx, lambda, scene_cut))
    }

    /// What a search made elsewhere needs to decide the next frame (a keyframe when forced or
    /// planned, else a delta frame; no scene-cut trial), with each position's λ from
    /// `activity` as [`Encoder::encode_analysed`] sets it. [`Encoder::encode_searched`] codes
    /// what it chooses. The module [`crate::SearchPlan`] belongs to says what such a search
    /// leaves out.
    ///
    /// # Errors
    /// [`ConfigError::Option`] for an encoder that aims at a bitrate (its per-frame search
    /// over quality steps is the coder's own), or an activity map of the wrong size.
    pub fn plan(
        &self,
        activity: Option<&[f32]>,
        force_key: bool,
    ) -> Result<SearchPlan, ConfigError> {
        let RateControl::Quality(quality) = self.config.rate else {
            return Err(ConfigError::Option(
                "a search made outside the encoder codes at a quality, not a bitrate".into(),
            ));
        };
        if self.codes_coefficients() {
            return Err(ConfigError::Option(format!(
                "a search made outside the encoder codes no enhancement coefficients: quality \
                 {quality} codes them (search on the host)"
            )));
        }
        let n = self.grid.0 * self.grid.1;
        if let Some(a) = activity
            && a.len() != n
        {
            return Err(ConfigError::Option(format!(
                "an activity map of {} values for {n} positions",
                a.len()
            )));
        }
        let key = self.planned_key(force_key);
        let kind = if key {
            FrameKind::Key
        } else {
            FrameKind::Delta
        };
        let (coded, lambda) = searched_params(quality, &self.books, kind);
        let aq = activity.and_then(|a| aq_factors(a, self.config.aq as f32));
        let reference = if key { None } else { self.prev.as_ref() };
        let fresh;
        let models = match (kind, &self.plan_ctx) {
            (FrameKind::Delta, Some(c)) => c,
            (FrameKind::Delta, None) => &self.ctx,
            (FrameKind::Key, _) => {
                fresh = self.frame_contexts(kind);
                &fresh
            }
        };
        let (index_bits, stop_bits, mode_bits, motion_bits) =
            search_costs(models, kind, (coded, self.books.size()), reference);
        let metric = self.books.metric();
        Ok(SearchPlan {
            pts: self.pts,
            kind,
            quality,
            grid: self.grid,
            coded,
            dim: self.books.dim(),
            size: self.books.size(),
            starts: starts(coded).to_vec(),
            lambda: match aq {
                Some(f) => f.iter().map(|f| lambda * f).collect(),
                None => vec![lambda; n],
            },
            index_bits,
            stop_bits,
            mode_bits,
            motion_bits,
            reference: reference.map(TokenState::latent_f32),
            search_matrix: metric.map(|m| m.matrix().to_vec()),
            search_books: metric.map_or(&self.books, |m| m.search()).data().to_vec(),
        })
    }

    /// Whether the next frame is a keyframe before any scene-cut trial: forced, the stream's
    /// first, or the keyframe interval's.
    fn planned_key(&self, force_key: bool) -> bool {
        force_key || self.prev.is_none() || self.since_key + 1 >= self.config.keyint.max(1)
    }

    /// The models a frame of `kind` is coded with: fresh ones for a keyframe (they are reset
    /// there), else the stream's.
    fn frame_contexts(&self, kind: FrameKind) -> Contexts {
        match kind {
            FrameKind::Key => Contexts::for_header(&self.header),
            FrameKind::Delta => self.ctx.clone(),
        }
    }

    /// The token state `choice` makes of `plan`'s frame (without its latent).
    fn searched(
        &self,
        plan: &SearchPlan,
        choice: &SearchChoice,
    ) -> Result<TokenState, ConfigError> {
        let stale = plan.pts != self.pts
            || plan.grid != self.grid
            || plan.coded > self.books.levels()
            || (plan.kind == FrameKind::Delta && self.prev.is_none())
            || (plan.kind == FrameKind::Key) != plan.reference.is_none();
        if stale {
            return Err(ConfigError::Option(
                "a search plan made for another frame or encoder".into(),
            ));
        }
        let n = self.grid.0 * self.grid.1;
        let mut modes = Vec::with_capacity(n);
        let mut motion = Vec::with_capacity(n);
        for &c in &choice.candidate {
            let (m, mv) = plan.candidate(usize::from(c)).ok_or_else(|| {
                ConfigError::Option(format!(
                    "search candidate {c} (the plan has {})",
                    plan.candidates()
                ))
            })?;
            modes.push(m);
            motion.push(mv);
        }
        searched_state(
            (self.books.levels(), self.grid.0, self.grid.1, plan.coded),
            usize::from(self.header.enhance_dims),
            plan.kind,
            (&modes, &motion, &choice.end),
            &choice.idx,
            self.books.size(),
        )
        .map_err(|e| ConfigError::Option(format!("search choices: {e}")))
    }

    /// Codes the next frame as a search decided it from [`Encoder::plan`]'s `plan` (made for
    /// this frame: nothing was coded since): entropy coding, the reconstruction every decoder
    /// makes, and the frame's statistics (`latent`, the frame the choices were made for, is
    /// only checked for its size; the error comes with the choices).
    ///
    /// # Errors
    /// [`ConfigError::Latent`] for a latent of the wrong length; [`ConfigError::Option`] for a
    /// plan this encoder did not make for its next frame, or choices the format cannot code
    /// (nothing is coded then).
    pub fn encode_searched(
        &mut self,
        latent: &[f32],
        plan: &SearchPlan,
        choice: &SearchChoice,
    ) -> Result<Packet, ConfigError> {
        let written = self.accept_searched(latent, plan, choice)?.write();
        self.finish_searched(written)
    }

    /// The first half of [`Encoder::encode_searched`]: takes the frame as `choice` decides it
    /// and moves the reference on (the next frame can be planned and searched now), leaving
    /// its entropy coding to [`Searched::write`] — which needs nothing else of the encoder, so
    /// it can run on another thread meanwhile — and its chunk to [`Encoder::finish_searched`],
    /// before the next frame is accepted. The chunks are those [`Encoder::encode_searched`]
    /// makes.
    ///
    /// # Errors
    /// As [`Encoder::encode_searched`]; also [`ConfigError::Option`] while a frame accepted
    /// before is not finished.
    pub fn accept_searched(
        &mut self,
        latent: &[f32],
        plan: &SearchPlan,
        choice: &SearchChoice,
    ) -> Result<Searched, ConfigError> {
        if latent.len() != self.latent_len() {
            return Err(ConfigError::Latent {
                got: latent.len(),
                expected: self.latent_len(),
            });
        }
        self.check_finished()?;
        let mut state = self.searched(plan, choice)?;
        let ctx = self.frame_contexts(plan.kind);
        let reference = match plan.kind {
            FrameKind::Key => None,
            FrameKind::Delta => self.prev.as_ref(),
        };
        state.reconstruct_after(&self.books, reference);
        let (_, lambda) = searched_params(plan.quality, &self.books, plan.kind);
        let searched = Searched {
            frame: CodedFrame {
                kind: plan.kind,
                quality: plan.quality,
                lambda,
                pts: self.pts,
            },
            state: state.clone(),
            distortion: choice.distortion,
            ctx: ctx.clone(),
        };
        self.plan_ctx = Some(ctx);
        self.unfinished = Some(self.pts);
        self.advance(plan.kind, state);
        Ok(searched)
    }

    /// The second half of [`Encoder::encode_searched`]: the chunk of the frame
    /// [`Encoder::accept_searched`] accepted last, once [`Searched::write`] coded it; the
    /// stream's models, rate bookkeeping and statistics move on.
    ///
    /// # Errors
    /// [`ConfigError::Option`] for a frame this encoder is not waiting for.
    pub fn finish_searched(&mut self, w: Written) -> Result<Packet, ConfigError> {
        if self.unfinished != Some(w.frame.pts) {
            return Err(ConfigError::Option(format!(
                "frame {} is not the frame accepted last",
                w.frame.pts
            )));
        }
        self.unfinished = None;
        Ok(self.account(w, false))
    }

    /// Writes a coded frame's chunk and moves the stream on: rate bookkeeping, statistics, the
    /// models and the reference.
    fn finish(
        &mut self,
        kind: FrameKind,
        quality: u8,
        code: FrameCode,
        ctx: Contexts,
        lambda: f32,
        scene_cut: bool,
    ) -> Packet {
        let state = code.state.clone();
        let written = Written {
            frame: CodedFrame {
                kind,
                quality,
                lambda,
                pts: self.pts,
            },
            code,
            ctx,
        };
        let packet = self.account(written, scene_cut);
        // a plan made after this frame prices with the stream's own models
        self.plan_ctx = None;
        self.advance(kind, state);
        packet
    }

    /// The reference and the frame count move on past a frame of `kind` whose decoded state
    /// is `state`.
    fn advance(&mut self, kind: FrameKind, state: TokenState) {
        self.prev = Some(state);
        self.since_key = if kind == FrameKind::Key {
            0
        } else {
            self.since_key + 1
        };
        self.pts = self.pts.wrapping_add(1);
    }

    /// Fails while a frame accepted from a search is not finished: nothing else may be coded
    /// before it.
    fn check_finished(&self) -> Result<(), ConfigError> {
        match self.unfinished {
            Some(pts) => Err(ConfigError::Option(format!(
                "frame {pts} was accepted and not finished"
            ))),
            None => Ok(()),
        }
    }

    /// Writes the chunk of the coded frame `w` and moves the rate bookkeeping, statistics and
    /// models on.
    fn account(&mut self, w: Written, scene_cut: bool) -> Packet {
        let Written {
            frame:
                CodedFrame {
                    kind,
                    quality,
                    lambda,
                    pts,
                },
            code,
            ctx,
        } = w;
        let n = (self.grid.0 * self.grid.1) as f64;
        let data = write_chunk(
            kind,
            code.state.coded as u8,
            code.state.step,
            pts,
            &code.payload,
        );
        if let Some(b) = &mut self.bucket {
            b.spend((data.len() * 8) as f64);
        }
        self.written = (self.written.0 + data.len() as u64, self.written.1 + 1);
        let fps = f64::from(self.config.fps_num) / f64::from(self.config.fps_den);
        let stats = FrameStats {
            bytes: data.len(),
            quality,
            levels: code.state.coded,
            depth: code.state.mean_depth(),
            lambda,
            copied: code.state.copies() as f64 / n,
            inter: code.state.inters() as f64 / n,
            moved: code.state.moved() as f64 / n,
            latent_mse: code.distortion / n,
            scene_cut,
            target_kbps: match self.config.rate {
                RateControl::Bitrate(k) => Some(k),
                RateControl::Quality(_) => None,
            },
            achieved_kbps: self.written.0 as f64 * 8.0 * fps / self.written.1 as f64 / 1000.0,
            bits: code.bits,
        };
        self.ctx = ctx;
        Packet {
            kind,
            pts,
            data,
            state: code.state,
            stats,
        }
    }
}

/// What a coded frame's chunk and statistics say of it besides its symbols.
#[derive(Debug, Clone, Copy)]
struct CodedFrame {
    kind: FrameKind,
    quality: u8,
    lambda: f32,
    pts: u32,
}

/// A frame [`Encoder::accept_searched`] accepted: what its entropy coding needs.
#[derive(Debug, Clone)]
pub struct Searched {
    frame: CodedFrame,
    state: TokenState,
    distortion: f64,
    /// The models it is coded with.
    ctx: Contexts,
}

impl Searched {
    /// Entropy codes the frame (the part of [`Encoder::encode_searched`] that may run on
    /// another thread); [`Encoder::finish_searched`] makes its chunk.
    pub fn write(self) -> Written {
        let Searched {
            frame,
            state,
            distortion,
            mut ctx,
        } = self;
        let (payload, bits) = write_counted(&state, frame.kind, &mut ctx);
        Written {
            frame,
            code: FrameCode {
                payload,
                state,
                distortion,
                bits,
            },
            ctx,
        }
    }
}

/// A frame [`Searched::write`] coded, for [`Encoder::finish_searched`].
#[derive(Debug, Clone)]
pub struct Written {
    frame: CodedFrame,
    code: FrameCode,
    /// The models after it.
    ctx: Contexts,
}

/// Per frame of a window coded once (its kind, and each position's mode and motion), per
/// position: how many later frames reuse what the frame codes there, following copies and
/// inter predictions back along their coarse motion (a fine motion counts for its own
/// position): `reuse[t][src] += w · (1 + reuse[t+1][p])` for every position `p` of frame `t+1`
/// that predicts from `src`, `w` 1 for a copy and [`INTER_REUSE`] for an inter position (an
/// intra position, or a keyframe, reuses nothing). A window cut short by the lookahead leaves
/// `tail` frames of its keyframe interval unseen: positions its last frame copies count as
/// copied by all of them (still content stays still; new content is not counted on).
fn reuse_counts(
    frames: &[(FrameKind, Vec<Mode>, Vec<usize>)],
    (width, height): (usize, usize),
    tail: f32,
) -> Vec<Vec<f32>> {
    let n = width * height;
    debug_assert!(frames.iter().all(|f| f.1.len() == n && f.2.len() == n));
    let mut reuse: Vec<Vec<f32>> = vec![vec![0f32; n]; frames.len()];
    if let (Some(last), Some((_, modes, _))) = (reuse.last_mut(), frames.last()) {
        for (r, &m) in last.iter_mut().zip(modes) {
            if m == Mode::Copy {
                *r = tail;
            }
        }
    }
    for t in (0..frames.len().saturating_sub(1)).rev() {
        let (_, modes, sources) = &frames[t + 1];
        let (before, after) = reuse.split_at_mut(t + 1);
        let (here, later) = (&mut before[t], &after[0]);
        for (p, (&mode, &src)) in modes.iter().zip(sources).enumerate() {
            let w = match mode {
                Mode::Copy => 1.0,
                Mode::Inter(_) => INTER_REUSE,
                Mode::Intra => continue,
            };
            here[src] += w * (1.0 + later[p]);
        }
    }
    reuse
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::shifted;

    /// A frame of a 3×1 grid: each position's mode and whole-position motion.
    fn frame(modes: &[(Mode, u8)]) -> (FrameKind, Vec<Mode>, Vec<usize>) {
        let kind = if modes.iter().all(|m| m.0 == Mode::Intra) {
            FrameKind::Key
        } else {
            FrameKind::Delta
        };
        (
            kind,
            modes.iter().map(|m| m.0).collect(),
            modes
                .iter()
                .enumerate()
                .map(|(p, m)| shifted(p, 3, 1, m.1))
                .collect(),
        )
    }

    #[test]
    fn aq_factors_favour_flat_blocks_and_multiply_to_one() {
        let activity = [0.0, 0.5, 4.0, 100.0, 2500.0];
        assert_eq!(aq_factors(&activity, 0.0), None);
        let f = aq_factors(&activity, 0.5).unwrap();
        // flat and nearly flat (under the floor) alike, then rising with activity
        assert_eq!(f[0], f[1]);
        assert!(f.windows(2).skip(1).all(|w| w[0] < w[1]), "{f:?}");
        assert!(f[0] < 1.0 && f[4] > 1.0);
        let product: f64 = f.iter().map(|&x| f64::from(x).ln()).sum();
        assert!(product.abs() < 1e-5, "{product}");
        // (2500 / 100)^0.5 = 5: the ratio between two blocks is their activities' ratio^strength
        assert!((f[4] / f[3] - 5.0).abs() < 1e-4);
        // a uniform frame: every factor 1
        assert!(
            aq_factors(&[9.0; 4], 0.3)
                .unwrap()
                .iter()
                .all(|&x| (x - 1.0).abs() < 1e-6)
        );
    }

    #[test]
    fn reuse_follows_copies_and_predictions_back_along_their_motion() {
        let (c, i, x) = (Mode::Copy, Mode::Inter(1), Mode::Intra);
        // a 3×1 grid over four frames; motion 2 takes the position to the right
        let frames = [
            frame(&[(x, 0), (x, 0), (x, 0)]),
            frame(&[(c, 0), (c, 2), (x, 0)]),
            frame(&[(c, 0), (i, 0), (c, 0)]),
            frame(&[(c, 0), (x, 0), (c, 0)]),
        ];
        let r = reuse_counts(&frames, (3, 1), 0.0);
        // the last frame: nothing after it
        assert_eq!(r[3], vec![0.0; 3]);
        // frame 2 is reused by frame 3's copies at 0 and 2, not by its intra position
        assert_eq!(r[2], vec![1.0, 0.0, 1.0]);
        // frame 1: position 0 copied (1 + 1), position 1 predicted by an inter position
        // (½ · (1 + 0)), position 2 copied (1 + 1)
        assert_eq!(r[1], vec![2.0, 0.5, 2.0]);
        // frame 0: position 0 copied by frame 1's position 0 (1 + 2); position 2 by frame 1's
        // position 1, which copies from its right (1 + 0.5); position 1 by no one
        assert_eq!(r[0], vec![3.0, 0.0, 1.5]);
        // a window cut short with 10 frames of its interval unseen: what the last frame copies
        // counts as copied by all of them, the rest as before
        let cut = reuse_counts(&frames, (3, 1), 10.0);
        assert_eq!(cut[3], vec![10.0, 0.0, 10.0]);
        assert_eq!(cut[2], vec![11.0, 0.0, 11.0]);
        assert_eq!(cut[0], vec![13.0, 0.0, 1.5]);
    }
}
