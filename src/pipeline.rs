//! The one way to encode and decode: frames → latents (the model, on the device) → symbols and
//! chunks (the format crate, on the CPU) and back. Every front end — the CLI, the lab tools, the
//! wasm API, the tests — goes through [`Encoder`] and [`Decoder`]; nothing else builds the
//! format's encoder or puts an adapted codebook on the model (a model with a stream's codebook
//! never leaves this module: an [`Encoder`] must start from the model's own codebooks, which a
//! codebook file holds differences from).
//!
//! Both are split in two phases so that an async caller never holds a borrow across an await:
//! the network phase runs on a cheap clone of the model ([`Analyser`], [`Renderer`]), the integer
//! phase (`code`, `symbols`) takes `&mut self` and never awaits.
//!
//! ```no_run
//! # async fn f(engine: &vqcodec::Engine, frames: &[vqcodec::Frame]) -> Result<(), vqcodec::Error> {
//! use vqcodec::pipeline::{Decoder, Encoder};
//! let config = vqc::EncoderConfig::new(640, 360);
//! let mut enc = Encoder::new(engine, config).await?;
//! let analysis = enc.analyser().analyse(frames).await?; // the encoder network
//! let packets = enc.code(&analysis, false)?;              // RVQ + RD choices + entropy coding
//! let mut dec = Decoder::new(engine, &enc.header_bytes(), vqc::Limits::default())?;
//! let symbols = dec.symbols(&packets[0].data)?;           // integers only
//! let frame = dec.renderer().frame(&symbols.state).await?; // the decoder network
//! # Ok(()) }
//! ```

use std::sync::Arc;

use vqc::{EncoderConfig, FrameKind, Header, Limits, Packet, StreamDecoder, TokenState};

#[cfg(not(target_arch = "wasm32"))]
use crate::block_on;
use crate::{Engine, Error, Frame, RgbaFrames};

/// The encoder network's output for a batch of frames: one latent (`rows × columns × dim`,
/// position-major) per frame. It does not depend on the quality or the codebook, so one analysis
/// can be coded by several encoders (as `vqcodec-lab eval` does at every quality point).
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    latents: Vec<Vec<f32>>,
    /// Per frame, the variance of Y' over each position's block (for adaptive quantisation).
    activity: Vec<Vec<f32>>,
}

impl Analysis {
    /// Frames analysed.
    pub fn len(&self) -> usize {
        self.latents.len()
    }

    /// No frames.
    pub fn is_empty(&self) -> bool {
        self.latents.is_empty()
    }

    /// The latents, one per frame.
    pub fn latents(&self) -> &[Vec<f32>] {
        &self.latents
    }

    /// The activity (Y' variance per position's block), one per frame.
    pub fn activity(&self) -> &[Vec<f32>] {
        &self.activity
    }

    /// Appends `other`'s frames.
    pub fn extend(&mut self, other: Analysis) {
        self.latents.extend(other.latents);
        self.activity.extend(other.activity);
    }

    /// Each frame's analysis on its own (to code, and time, frames one by one).
    pub fn split(self) -> impl Iterator<Item = Analysis> {
        debug_assert_eq!(self.latents.len(), self.activity.len());
        self.latents
            .into_iter()
            .zip(self.activity)
            .map(|(z, a)| Analysis {
                latents: vec![z],
                activity: vec![a],
            })
    }

    /// The first `n` frames; `self` keeps the rest.
    fn take_front(&mut self, n: usize) -> Analysis {
        let latents = self.latents.split_off(n);
        let activity = self.activity.split_off(n);
        Analysis {
            latents: std::mem::replace(&mut self.latents, latents),
            activity: std::mem::replace(&mut self.activity, activity),
        }
    }
}

/// The network half of an [`Encoder`]: a clone of its model, free of the encoder's state.
#[derive(Debug, Clone)]
pub struct Analyser {
    engine: Engine,
    width: usize,
    height: usize,
    /// Whether an enhanced model's enhancement values are computed (else left at zero: an
    /// encoder that never opens its levels does not read them).
    enhancement: bool,
}

impl Analyser {
    /// The encoder network of `engine`'s model for frames of `width × height`, without an
    /// encoder (to adapt a codebook, or to code one analysis several ways).
    pub fn new(engine: &Engine, width: usize, height: usize) -> Self {
        Self {
            engine: engine.clone(),
            width,
            height,
            enhancement: true,
        }
    }

    /// Whether it computes an enhanced model's enhancement values (an encoder's analyser does
    /// only if the encoder may code them: [`vqc::Encoder::opens_enhancement`]).
    pub fn enhancement(&self) -> bool {
        self.enhancement
    }

    /// This analyser, computing an enhanced model's enhancement values or not: to analyse, in
    /// another module, what an encoder whose analyser says `enhancement` codes.
    pub fn with_enhancement(mut self, enhancement: bool) -> Self {
        self.enhancement = enhancement;
        self
    }

    /// Runs the encoder network on `frames` (one pass; they must be the stream's size).
    ///
    /// # Errors
    /// [`Error::MixedSizes`] for an empty batch or a frame of another size; [`Error::Backend`]
    /// if the device fails.
    pub async fn analyse(&self, frames: &[Frame]) -> Result<Analysis, Error> {
        if frames
            .iter()
            .any(|f| f.width() != self.width || f.height() != self.height)
        {
            return Err(Error::MixedSizes);
        }
        let s = usize::from(self.engine.codec_info().downsample);
        Ok(Analysis {
            latents: self.engine.latents_with(frames, self.enhancement).await?,
            activity: frames.iter().map(|f| block_activity(f, s)).collect(),
        })
    }
}

/// The variance of Y' (BT.601 weights, 8-bit units) over each `s × s` block of `frame`, row-major
/// over the latent grid (blocks at the right and bottom edges hold what pixels there are).
/// Integer sums: one pass over the pixels, a small cost beside the encoder network.
pub fn block_activity(frame: &Frame, s: usize) -> Vec<f32> {
    let (w, h) = (frame.width(), frame.height());
    let (cols, rows) = (w.div_ceil(s), h.div_ceil(s));
    let mut sum = vec![0u64; rows * cols];
    let mut sq = vec![0u64; rows * cols];
    for (y, row) in frame.rgb().chunks_exact(3 * w).enumerate() {
        let at = (y / s) * cols;
        // a block's share of the row at a time: no division per pixel
        for (b, px) in row.chunks(3 * s).enumerate() {
            let (mut s1, mut s2) = (0u64, 0u64);
            for p in px.chunks_exact(3) {
                // Y' · 256 (77 + 150 + 29 = 256); its square fits a u32 (65,280² < 2^32)
                let luma = 77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]);
                s1 += u64::from(luma);
                s2 += u64::from(luma * luma);
            }
            sum[at + b] += s1;
            sq[at + b] += s2;
        }
    }
    (0..rows * cols)
        .map(|b| {
            let (by, bx) = (b / cols, b % cols);
            let n = ((h - by * s).min(s) * (w - bx * s).min(s)) as f64;
            let mean = sum[b] as f64 / n;
            ((sq[b] as f64 / n - mean * mean).max(0.0) / 65536.0) as f32
        })
        .collect()
}

/// One frame made ready for a search on the device ([`Encoder::plan`]): the plan and the latent.
#[derive(Debug, Clone)]
pub struct Planned {
    plan: vqc::SearchPlan,
    latent: Vec<f32>,
}

impl Planned {
    /// What the search needs.
    pub fn plan(&self) -> &vqc::SearchPlan {
        &self.plan
    }
}

/// The device half of an [`Encoder`]'s search on the device ([`Encoder::searcher`]).
#[derive(Debug, Clone)]
pub struct Searcher {
    engine: Engine,
}

impl Searcher {
    /// Decides the frame `planned` describes on the engine's device.
    ///
    /// # Errors
    /// [`Error::Backend`] if the device fails.
    pub async fn search(&self, planned: &Planned) -> Result<vqc::SearchChoice, Error> {
        self.engine.search(&planned.plan, &planned.latent).await
    }

    /// [`Searcher::search`] as burn tensor operations, whatever the device: what the CPU
    /// backends run, and what a GPU ran before its search became kernels of our own (to
    /// compare the two: [`crate::set_search_operations`] makes every search do this).
    ///
    /// # Errors
    /// [`Error::Backend`] if the device fails.
    pub async fn search_operations(&self, planned: &Planned) -> Result<vqc::SearchChoice, Error> {
        self.engine
            .search_operations(&planned.plan, &planned.latent)
            .await
    }
}

/// Where an [`Encoder`] makes its choices ([`Encoder::code_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Search {
    /// The format crate's search on the CPU, position after position with the entropy
    /// coder's exact costs: the smallest files.
    #[default]
    Host,
    /// Every position of a frame at once on the engine's device, with the costs the models had
    /// before the previous frame: fast on a GPU, larger files ([`vqc::SearchPlan`] says what it leaves
    /// out).
    Device,
}

impl std::str::FromStr for Search {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host" | "cpu" => Ok(Self::Host),
            "device" | "gpu" => Ok(Self::Device),
            other => Err(format!(
                "unknown search {other:?} (expected host or device)"
            )),
        }
    }
}

/// Turns the frames of one stream into `.vqc` chunks. Owns the model (with the stream's
/// codebook, when it carries one), the reference state and rate control.
#[derive(Debug, Clone)]
pub struct Encoder {
    coder: vqc::Encoder,
    renderer: Renderer,
    /// Frames [`Encoder::push`] holds for the lookahead, and whether the first is to be a
    /// keyframe.
    held: (Analysis, bool),
}

impl Encoder {
    /// An encoder for `engine`'s model with `config` (whose `codebook`, if any, the encoder
    /// quantises with and the stream carries).
    ///
    /// # Errors
    /// [`Error::Config`] for settings the format cannot use or a codebook made for another
    /// model.
    pub async fn new(engine: &Engine, config: EncoderConfig) -> Result<Self, Error> {
        // the model's own codebooks: a codebook patch holds differences from them
        let books = engine.codebooks().clone();
        let (width, height) = (config.width as usize, config.height as usize);
        let patch = config.codebook.clone();
        let coder = vqc::Encoder::new(config, &engine.codec_info(), books)?;
        let engine = match &patch {
            Some(p) => engine.with_codebook(p)?,
            None => engine.clone(),
        };
        Ok(Self {
            coder,
            held: (Analysis::default(), false),
            renderer: Renderer {
                engine,
                width,
                height,
            },
        })
    }

    /// The stream header (with its codebook block, if any).
    pub fn header(&self) -> &Header {
        self.coder.header()
    }

    /// The header's bytes: the start of the stream.
    pub fn header_bytes(&self) -> Vec<u8> {
        self.coder.header_bytes()
    }

    /// The network half, to run without borrowing the encoder.
    pub fn analyser(&self) -> Analyser {
        Analyser {
            engine: self.renderer.engine.clone(),
            width: self.renderer.width,
            height: self.renderer.height,
            enhancement: self.coder.opens_enhancement(),
        }
    }

    /// What a decoder of this stream will compute from its symbols: the frames it shows.
    pub fn renderer(&self) -> Renderer {
        self.renderer.clone()
    }

    /// Codes analysed frames in order: RVQ search, rate–distortion choices and entropy coding
    /// against the decoder's state. `force_key` makes the first a keyframe. With the config's
    /// `lookahead`, the encoder looks ahead within these frames only (pass a whole window: the
    /// keyframe interval's frames, or the rest of the clip).
    ///
    /// # Errors
    /// [`Error::Config`] for latents of another size than the stream's.
    pub fn code(&mut self, analysis: &Analysis, force_key: bool) -> Result<Vec<Packet>, Error> {
        Ok(self
            .coder
            .encode_analysed(&analysis.latents, Some(&analysis.activity), force_key)?)
    }

    /// Codes analysed frames in order as [`Encoder::code`] does, with each frame's choices made
    /// where `search` says: [`Search::Host`] is [`Encoder::code`] itself; [`Search::Device`]
    /// decides every position of a frame at once on the engine's device (matrix products and
    /// argmins: what makes encoding fast on a GPU) and keeps only the entropy coding on the
    /// CPU — [`Encoder::plan`], [`Searcher::search`], [`Encoder::code_searched`] for each frame.
    /// Its streams are ordinary streams; its choices are coarser (whole-position motion only,
    /// no lookahead, no scene-cut trial: [`vqc::SearchPlan`]), so its files are larger at equal
    /// quality.
    ///
    /// # Errors
    /// As [`Encoder::code`]; [`Search::Device`] also [`Error::Config`] for an encoder that aims
    /// at a bitrate, and [`Error::Backend`] if the device fails.
    pub async fn code_with(
        &mut self,
        analysis: &Analysis,
        force_key: bool,
        search: Search,
    ) -> Result<Vec<Packet>, Error> {
        if self.search_for(search) == Search::Host {
            return self.code(analysis, force_key);
        }
        let searcher = self.searcher();
        let mut out = Vec::with_capacity(analysis.len());
        for i in 0..analysis.len() {
            let planned = self.plan(analysis, i, force_key && i == 0)?;
            let choice = searcher.search(&planned).await?;
            out.push(self.code_searched(&planned, &choice)?);
        }
        Ok(out)
    }

    /// Where this encoder's choices are made when `asked` says where: the device's search codes
    /// no enhancement coefficients ([`vqc::Encoder::codes_coefficients`]), so an encoder that
    /// codes them (a model refined by coefficients, at a quality that opens them) searches on
    /// the host, at the quality asked for, rather than quietly coding the model's stream without
    /// them.
    pub fn search_for(&self, asked: Search) -> Search {
        if self.coder.codes_coefficients() {
            Search::Host
        } else {
            asked
        }
    }

    /// The next frame, `analysis`'s frame `i`, made ready for a search on the device
    /// ([`Searcher::search`]; then [`Encoder::code_searched`], before anything else is coded).
    /// A keyframe when `force_key` or planned.
    ///
    /// # Errors
    /// [`Error::Config`] for an encoder that aims at a bitrate or a frame `analysis` lacks.
    pub fn plan(&self, analysis: &Analysis, i: usize, force_key: bool) -> Result<Planned, Error> {
        let (Some(latent), Some(activity)) = (analysis.latents.get(i), analysis.activity.get(i))
        else {
            return Err(vqc::ConfigError::Option(format!(
                "frame {i} of an analysis of {}",
                analysis.len()
            ))
            .into());
        };
        Ok(Planned {
            plan: self.coder.plan(Some(activity), force_key)?,
            latent: latent.clone(),
        })
    }

    /// The device half of a search on the device: a clone of the model's engine, free of the
    /// encoder's state (to run without borrowing the encoder).
    pub fn searcher(&self) -> Searcher {
        Searcher {
            engine: self.renderer.engine.clone(),
        }
    }

    /// Codes the frame `planned` was made for as `choice` decides it: entropy coding and the
    /// reference a decoder will hold (integers; never awaits).
    ///
    /// # Errors
    /// [`Error::Config`] for choices the format cannot code, or a plan made for another frame
    /// (nothing is coded then).
    pub fn code_searched(
        &mut self,
        planned: &Planned,
        choice: &vqc::SearchChoice,
    ) -> Result<Packet, Error> {
        Ok(self
            .coder
            .encode_searched(&planned.latent, &planned.plan, choice)?)
    }

    /// [`Encoder::code_searched`] in two halves: takes the frame as `choice` decides it and
    /// moves the reference on, so that the next frame can be planned and searched while
    /// [`vqc::Searched::write`] entropy codes this one (on any thread); then
    /// [`Encoder::finish_searched`] makes its chunk, before the next frame is accepted.
    ///
    /// # Errors
    /// As [`Encoder::code_searched`]; also [`Error::Config`] while the frame accepted before is
    /// not finished.
    pub fn accept_searched(
        &mut self,
        planned: &Planned,
        choice: &vqc::SearchChoice,
    ) -> Result<vqc::Searched, Error> {
        Ok(self
            .coder
            .accept_searched(&planned.latent, &planned.plan, choice)?)
    }

    /// The chunk of the frame [`Encoder::accept_searched`] accepted last, once written.
    ///
    /// # Errors
    /// [`Error::Config`] for another frame.
    pub fn finish_searched(&mut self, written: vqc::Written) -> Result<Packet, Error> {
        Ok(self.coder.finish_searched(written)?)
    }

    /// Frames the encoder looks ahead (0 or 1: none; `EncoderConfig::lookahead`).
    pub fn lookahead(&self) -> usize {
        self.coder.lookahead() as usize
    }

    /// One frame's analysis made elsewhere — `latent` and `activity` as another module's
    /// [`Analyser`] for this encoder gave them ([`Analysis::latents`], [`Analysis::activity`];
    /// the browser's encoder runs its network in other workers) — for [`Encoder::push`].
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] for a latent or activity of another length than this encoder's
    /// frames have.
    pub fn analysis_of(&self, latent: Vec<f32>, activity: Vec<f32>) -> Result<Analysis, Error> {
        let positions = self.coder.latent_len() / self.engine_dim();
        if latent.len() != self.coder.latent_len() || activity.len() != positions {
            return Err(Error::InvalidTokens(format!(
                "an analysis of {} latent values and {} activities (expected {} and {positions})",
                latent.len(),
                activity.len(),
                self.coder.latent_len()
            )));
        }
        Ok(Analysis {
            latents: vec![latent],
            activity: vec![activity],
        })
    }

    fn engine_dim(&self) -> usize {
        self.renderer.engine.config().code_dim.max(1)
    }

    /// Takes analysed frames, in order, and codes those that are ready: every frame without a
    /// lookahead (as [`Encoder::code`]); with one, each window once all its frames are here (a
    /// frame with `force_key`, the first of `analysis`, first codes the frames held before it).
    /// [`Encoder::flush`] codes the rest at the end. How a live source feeds a lookahead.
    ///
    /// # Errors
    /// As [`Encoder::code`] (the frames of a window that fails are dropped).
    pub fn push(&mut self, analysis: Analysis, force_key: bool) -> Result<Vec<Packet>, Error> {
        let mut out = Vec::new();
        if force_key && !self.held.0.is_empty() {
            out.extend(self.flush()?);
        }
        if self.held.0.is_empty() {
            self.held.1 = force_key;
        }
        self.held.0.extend(analysis);
        loop {
            let window = self.coder.next_window(self.held.1);
            if self.held.0.len() < window {
                return Ok(out);
            }
            let ready = self.held.0.take_front(window);
            let key = std::mem::take(&mut self.held.1);
            out.extend(self.code(&ready, key)?);
        }
    }

    /// Codes the frames [`Encoder::push`] holds (none without a lookahead).
    ///
    /// # Errors
    /// As [`Encoder::code`] (the held frames are dropped).
    pub fn flush(&mut self) -> Result<Vec<Packet>, Error> {
        let (held, key) = std::mem::take(&mut self.held);
        if held.is_empty() {
            return Ok(Vec::new());
        }
        self.code(&held, key)
    }

    /// [`Analyser::analyse`], then [`Encoder::code`].
    ///
    /// # Errors
    /// As those two.
    pub async fn encode(
        &mut self,
        frames: &[Frame],
        force_key: bool,
    ) -> Result<Vec<Packet>, Error> {
        let analysis = self.analyser().analyse(frames).await?;
        self.code(&analysis, force_key)
    }

    /// Makes the next frame's timestamp `pts`: for an encoder that takes over a stream midway,
    /// as the browser's worker does when the GPU is lost. Send that frame as a keyframe.
    pub fn resume_at(&mut self, pts: u32) {
        self.coder.resume_at(pts);
    }
}

/// The network half of a [`Decoder`]: code indices → frames, through the stream's model and
/// codebook.
#[derive(Debug, Clone)]
pub struct Renderer {
    engine: Engine,
    width: usize,
    height: usize,
}

impl Renderer {
    /// The frame that `state`'s reconstructed latent decodes to.
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] if the state holds no latent (decoded without codebooks) or
    /// one that does not fit the stream's size; [`Error::Backend`] if the device fails.
    pub async fn frame(&self, state: &TokenState) -> Result<Frame, Error> {
        let out = self.output(state)?;
        self.engine
            .read_frames(out)
            .await?
            .pop()
            .ok_or_else(|| Error::Backend("the model returned no frame".into()))
    }

    /// [`Renderer::frame`] as interleaved RGBA bytes with opaque alpha (`width × height × 4`),
    /// one frame (`.frame(0)`): the same pixels as that frame's [`Frame::to_rgba`], with no RGB
    /// frame between and, on WebGPU, the read-back buffer itself
    /// ([`Engine::decode_latents_rgba`]); what the browser's decoder hands to a `VideoFrame`.
    ///
    /// # Errors
    /// As [`Renderer::frame`].
    pub async fn frame_rgba(&self, state: &TokenState) -> Result<RgbaFrames, Error> {
        let out = self.output(state)?;
        let frames = self.engine.rgba_output(out).await?;
        if frames.len() == 1 {
            Ok(frames)
        } else {
            Err(Error::Backend("the model returned no frame".into()))
        }
    }

    /// What of `state`'s latent the decoder network reads, for a renderer elsewhere (another
    /// worker's [`Engine::decode_fixed`]): the whole latent, or, where the state knows its
    /// enhancement holds nothing ([`TokenState::zero_tail`]), the networks' values of each
    /// position alone — a quarter of a shipped model's latent.
    pub fn latent<'a>(&self, state: &'a TokenState) -> std::borrow::Cow<'a, [i32]> {
        let config = self.engine.config();
        let (d, enh) = (config.code_dim, config.enhance_dims);
        if enh == 0 || !self.engine.enhancement_known_empty(state) {
            return std::borrow::Cow::Borrowed(&state.latent);
        }
        let net = d - enh;
        let mut out = Vec::with_capacity(state.latent.len() / d * net);
        for p in state.latent.chunks_exact(d) {
            out.extend_from_slice(&p[..net]);
        }
        std::borrow::Cow::Owned(out)
    }

    /// The decoder network's output for `state`'s latent, not yet read back.
    fn output(&self, state: &TokenState) -> Result<burn::tensor::Tensor<4>, Error> {
        if state.latent.is_empty() {
            return Err(Error::InvalidTokens(
                "the state holds no latent (decoded without codebooks)".into(),
            ));
        }
        self.engine.state_output(state, self.width, self.height)
    }
}

/// How many frames [`render_ordered`] keeps in the decoder network at once unless told: 3 on a
/// GPU (while one frame runs on the device, others upload, read back or convert on the host);
/// on the CPU 2 where there are two cores or more (the backend's kernels do not keep two
/// cores busy on one frame: on a 2-core machine, `vqcodec decode` of a 720×1280 stream took
/// 42–44 ms a frame with 2, 52–56 with 1).
#[cfg(not(target_arch = "wasm32"))]
pub fn default_render_workers(backend: crate::BackendKind) -> usize {
    match backend {
        crate::BackendKind::Gpu => 3,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
    }
}

/// Maps `items` through `f` on `workers` threads of `scope` and hands the results back in
/// `items`' order: the iterator that every overlapped stage of [`render_ordered`] and
/// [`encode_ordered`] is made of. `items` itself runs on a thread of its own (named `feeder`:
/// whatever it does, reading a file or a stage that must run in order, runs ahead of the
/// workers, named `worker-k`). At most `2 × workers` items are in flight.
///
/// Dropping the iterator stops the threads after the items in flight. `f` must not panic (the
/// callers catch the backend's panics in it): a panic ends the iterator early, and the scope
/// then panics.
#[cfg(not(target_arch = "wasm32"))]
fn in_order<'scope, I, O>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    (feeder, worker): (&str, &str),
    workers: usize,
    items: impl Iterator<Item = I> + Send + 'scope,
    f: impl Fn(I) -> O + Send + Sync + 'scope,
) -> impl Iterator<Item = O> + Send + 'scope
where
    I: Send + 'scope,
    O: Send + 'scope,
{
    use std::collections::HashMap;
    use std::sync::{Mutex, mpsc};

    let workers = workers.max(1);
    let depth = 2 * workers;
    // one ticket per item, in order, so that the consumer knows which result is next and the
    // feeder runs at most `depth` items ahead of it
    let (ticket_tx, ticket_rx) = mpsc::sync_channel::<()>(depth);
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, I)>(depth);
    let (out_tx, out_rx) = mpsc::channel::<(u64, O)>();
    // the workers share the jobs' receiving end; when the last one ends it is dropped, so the
    // feeder cannot stay blocked on a full queue
    let job_rx = Arc::new(Mutex::new(job_rx));
    let f = Arc::new(f);
    // named threads, for profilers (`perf report --comm vqc-symbols`)
    std::thread::Builder::new()
        .name(feeder.into())
        .spawn_scoped(scope, move || {
            for (seq, item) in (0u64..).zip(items) {
                if ticket_tx.send(()).is_err() || job_tx.send((seq, item)).is_err() {
                    return;
                }
            }
        })
        .expect("a thread for the stage in order");
    for k in 0..workers {
        let (job_rx, out_tx, f) = (Arc::clone(&job_rx), out_tx.clone(), Arc::clone(&f));
        std::thread::Builder::new()
            .name(format!("{worker}-{k}"))
            .spawn_scoped(scope, move || {
                loop {
                    // the lock is held only while waiting for the next job
                    let job = job_rx.lock().map_or(None, |rx| rx.recv().ok());
                    let Some((seq, item)) = job else { return };
                    if out_tx.send((seq, f(item))).is_err() {
                        return;
                    }
                }
            })
            .expect("a thread for a parallel stage");
    }
    let mut early: HashMap<u64, O> = HashMap::new();
    let mut next = 0u64;
    std::iter::from_fn(move || {
        ticket_rx.recv().ok()?;
        let seq = next;
        next += 1;
        loop {
            if let Some(out) = early.remove(&seq) {
                return Some(out);
            }
            let (s, out) = out_rx.recv().ok()?;
            early.insert(s, out);
        }
    })
}

/// Runs `f`, turning a panic in it (the backend's) into [`Error::Backend`] saying `what`.
#[cfg(not(target_arch = "wasm32"))]
fn caught<R>(what: &str, f: impl FnOnce() -> Result<R, Error>) -> Result<R, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::Backend(format!("the {what} panicked"))))
}

/// Renders a sequence of token states to frames with the stages overlapped, for a caller that
/// has a whole stream (a file decoder, a benchmark): `items` (typically the entropy decoding,
/// which must run in order) runs on a thread of its own, ahead of the network; `workers`
/// threads each run [`Renderer::frame`] and then `finish` on one frame at a time (the host work
/// after the network: a conversion to the output's layout, a comparison), which also receives
/// how long the network took (upload, device work, readback); `sink` runs on the
/// calling thread and receives every item in `items`' order: its tag, and for an item that
/// carried a state, what `finish` made of the frame (or the error that cost it).
///
/// The frames are those [`Renderer::frame`] makes one at a time (each depends only on its own
/// state), so the result does not depend on `workers`; on a GPU, a few workers keep the
/// device busy while others upload, wait for a readback or convert on the host. At most
/// `2 × workers` items are in flight.
///
/// Returns the sink's first error (the threads then stop after the items in flight).
#[cfg(not(target_arch = "wasm32"))]
pub fn render_ordered<T, O, E>(
    renderer: &Renderer,
    workers: usize,
    items: impl Iterator<Item = (T, Option<Arc<TokenState>>)> + Send,
    finish: impl Fn(Frame, std::time::Duration) -> O + Sync,
    mut sink: impl FnMut(T, Option<Result<O, Error>>) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    O: Send,
{
    let finish = &finish;
    std::thread::scope(|scope| {
        let frames = in_order(
            scope,
            ("vqc-symbols", "vqc-render"),
            workers,
            items,
            |(tag, state): (T, Option<Arc<TokenState>>)| {
                let out = state.map(|s| {
                    caught("decoder network", || {
                        let t = std::time::Instant::now();
                        let frame = block_on(renderer.frame(&s))?;
                        Ok(finish(frame, t.elapsed()))
                    })
                });
                (tag, out)
            },
        );
        // returning early (the sink's error) drops `frames` before the scope waits for its
        // threads: their sends then fail and they end
        for (tag, out) in frames {
            sink(tag, out)?;
        }
        Ok(())
    })
}

/// How [`encode_ordered`] runs its stages.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap {
    /// Where the coding stage makes its choices.
    pub search: Search,
    /// Threads in each network stage (the encoder network, and the decoder network when the
    /// caller reconstructs): [`default_render_workers`] suits both.
    pub workers: usize,
    /// Frames per encoder-network pass.
    pub batch: usize,
}

/// One frame out of [`encode_ordered`], in stream order.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug)]
pub struct Encoded<T, O> {
    /// The tag `frames` gave the frame.
    pub tag: T,
    /// Its chunk, and the state a decoder holds after it.
    pub packet: Packet,
    /// The frame's encoder network (its share of its batch's pass): upload, network, readback.
    pub network: std::time::Duration,
    /// The frame's coding: search, decisions and entropy coding (a lookahead window's time
    /// shared among its frames).
    pub coding: std::time::Duration,
    /// When the caller reconstructs: what its `finish` made of the frame a decoder shows, or
    /// the error that cost it.
    pub decoded: Option<Result<O, Error>>,
}

/// What [`encode_ordered`] does with the frame a decoder of the stream will show: `finish`
/// receives the frame's tag, the frame and the decoder network's time, on a worker thread.
#[cfg(not(target_arch = "wasm32"))]
pub type Reconstruct<'a, T, O> = &'a (dyn Fn(&T, Frame, std::time::Duration) -> O + Sync);

/// Encodes a stream with its stages overlapped, for a caller that has a whole file (the CLI, a
/// benchmark): `frames` (reading and converting the input) runs on a thread of its own; the
/// encoder network on `overlap.workers` threads, `overlap.batch` frames a pass; the coding, which
/// must run in order (each frame's choices read the decoder state the previous one left), on a
/// thread of its own, as [`Encoder::push`] or, with [`Search::Device`], [`Encoder::code_with`]
/// would code them one after the other, then [`Encoder::flush`]; with `reconstruct`, the
/// decoder network on each chunk's state (to compare with the input) on `overlap.workers`
/// threads again. `sink` runs on the calling thread and receives every frame in order.
///
/// The chunks are those the stages make one after the other (the encoder network's result
/// depends only on its batch), whatever `overlap.workers` is. On a GPU, the encoder network of
/// later frames runs while the device search or the host codes earlier ones.
///
/// Returns the first error: `frames`' or `sink`'s, or the encoder's or the device's as `E`
/// (the threads then stop after the frames in flight).
#[cfg(not(target_arch = "wasm32"))]
pub fn encode_ordered<T, O, E>(
    encoder: &mut Encoder,
    overlap: Overlap,
    frames: impl Iterator<Item = Result<(T, Frame), E>> + Send,
    reconstruct: Option<Reconstruct<'_, T, O>>,
    mut sink: impl FnMut(Encoded<T, O>) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    O: Send,
    E: From<Error> + Send,
{
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    let (analyser, renderer) = (encoder.analyser(), encoder.renderer());
    let search = encoder.search_for(overlap.search);
    let (workers, batch) = (overlap.workers, overlap.batch.max(1));
    std::thread::scope(|scope| {
        // the frames in batches, read ahead on the feeder thread; nothing is read after an
        // error (the stream ends there)
        let mut frames = frames.fuse();
        let mut failed = false;
        let batches = std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let mut b = Vec::with_capacity(batch);
            for r in frames.by_ref() {
                match r {
                    Ok(f) => b.push(f),
                    Err(e) => {
                        failed = true;
                        return Some(Err(e));
                    }
                }
                if b.len() == batch {
                    break;
                }
            }
            (!b.is_empty()).then_some(Ok(b))
        });
        let analyser = &analyser;
        let analysed = in_order(
            scope,
            ("vqc-read", "vqc-analyse"),
            workers,
            batches,
            move |b: Result<Vec<(T, Frame)>, E>| {
                let (tags, frames): (Vec<T>, Vec<Frame>) = b?.into_iter().unzip();
                let t = Instant::now();
                let analysis = caught("encoder network", || block_on(analyser.analyse(&frames)))?;
                Ok::<_, E>((tags, analysis, t.elapsed() / frames.len() as u32))
            },
        );
        // the coding, in order, on the feeder thread of the reconstruction below
        let searcher = encoder.searcher();
        let mut writing: Option<std::thread::ScopedJoinHandle<'_, vqc::Written>> = None;
        let joined = |w: std::thread::ScopedJoinHandle<'_, vqc::Written>| {
            w.join()
                .map_err(|_| Error::Backend("the entropy coding panicked".into()))
        };
        let mut analysed = analysed.fuse();
        let mut waiting: VecDeque<(T, Duration)> = VecDeque::new();
        let mut ready: VecDeque<Result<Encoded<T, O>, E>> = VecDeque::new();
        let mut ended = false;
        let coded = std::iter::from_fn(move || {
            loop {
                if let Some(r) = ready.pop_front() {
                    return Some(r);
                }
                if ended {
                    return None;
                }
                // each frame of the next batch, or the end (flush what a lookahead holds)
                let units = match analysed.next() {
                    Some(Ok((tags, analysis, network))) => {
                        waiting.extend(tags.into_iter().map(|t| (t, network)));
                        Ok(analysis.split().map(Some).collect())
                    }
                    Some(Err(e)) => Err(e),
                    None => {
                        ended = true;
                        Ok(vec![None])
                    }
                };
                let mut code = |one: Option<Analysis>| -> Result<(), E> {
                    let t = Instant::now();
                    let mut packets = Vec::new();
                    match (one, search) {
                        (Some(one), Search::Host) => packets = encoder.push(one, false)?,
                        // the device search: frame i's entropy coding (a thread of its own)
                        // runs while frame i + 1 is planned and searched; the frame is then
                        // finished and i + 1 accepted, as `Encoder::code_with` does in turn
                        (Some(one), Search::Device) => {
                            let planned = encoder.plan(&one, 0, false)?;
                            let choice =
                                caught("device search", || block_on(searcher.search(&planned)))?;
                            if let Some(w) = writing.take() {
                                packets.push(encoder.finish_searched(joined(w)?)?);
                            }
                            let searched = encoder.accept_searched(&planned, &choice)?;
                            writing = Some(
                                std::thread::Builder::new()
                                    .name("vqc-write".into())
                                    .spawn_scoped(scope, move || searched.write())
                                    .expect("a thread for the entropy coding"),
                            );
                        }
                        (None, _) => {
                            if let Some(w) = writing.take() {
                                packets.push(encoder.finish_searched(joined(w)?)?);
                            }
                            packets.extend(encoder.flush()?);
                        }
                    }
                    let coding = t.elapsed() / packets.len().max(1) as u32;
                    for packet in packets {
                        let (tag, network) = waiting.pop_front().ok_or_else(|| {
                            Error::Backend("the encoder coded more frames than it was given".into())
                        })?;
                        ready.push_back(Ok(Encoded {
                            tag,
                            packet,
                            network,
                            coding,
                            decoded: None,
                        }));
                    }
                    Ok(())
                };
                let mut done = units
                    .and_then(|u: Vec<Option<Analysis>>| u.into_iter().try_for_each(&mut code));
                if done.is_ok() && ended && !waiting.is_empty() {
                    done = Err(Error::Backend(format!(
                        "the encoder left {} frames uncoded",
                        waiting.len()
                    ))
                    .into());
                }
                if let Err(e) = done {
                    ended = true;
                    ready.push_back(Err(e));
                }
            }
        });
        let renderer = &renderer;
        let out = in_order(
            scope,
            ("vqc-code", "vqc-render"),
            workers,
            coded,
            move |r: Result<Encoded<T, O>, E>| {
                r.map(|mut e| {
                    if let Some(finish) = reconstruct {
                        e.decoded = Some(caught("decoder network", || {
                            let t = Instant::now();
                            let frame = block_on(renderer.frame(&e.packet.state))?;
                            Ok(finish(&e.tag, frame, t.elapsed()))
                        }));
                    }
                    e
                })
            },
        );
        for r in out {
            sink(r?)?;
        }
        Ok(())
    })
}

/// One chunk read down to its code indices.
#[derive(Debug, Clone)]
pub struct Symbols {
    /// Key or delta.
    pub kind: FrameKind,
    /// Presentation timestamp.
    pub pts: u32,
    /// The indices a decoder holds after this chunk (shared with the decoder, which keeps
    /// them as the next frame's reference).
    pub state: Arc<TokenState>,
}

/// One decoded frame and what it came from.
#[derive(Debug, Clone)]
pub struct DecodedVideoFrame {
    /// The pixels.
    pub frame: Frame,
    /// Key or delta.
    pub kind: FrameKind,
    /// Presentation timestamp.
    pub pts: u32,
    /// The code indices (shared with the decoder, which keeps them as the next frame's
    /// reference).
    pub state: Arc<TokenState>,
}

/// Decodes the chunks of one stream, one at a time (as a browser receives them).
#[derive(Debug, Clone)]
pub struct Decoder {
    header: Header,
    limits: Limits,
    symbols: vqc::Decoder,
    renderer: Renderer,
}

impl Decoder {
    /// A decoder for the stream whose header (with its codebook block, if any) starts
    /// `header_bytes`, checked against `engine`'s model; frames decode through the stream's
    /// codebook when it carries one.
    ///
    /// # Errors
    /// [`Error::Stream`] for a header that does not parse or fit `limits`, or a stream made
    /// for other weights.
    pub fn new(engine: &Engine, header_bytes: &[u8], limits: Limits) -> Result<Self, Error> {
        let header = Header::parse(header_bytes, &limits)?;
        let symbols = vqc::Decoder::new(&header, Some(&engine.codec_info()))?
            .with_codebooks(engine.codebooks())?;
        let engine = match &header.codebook {
            Some(patch) => engine.with_codebook(patch)?,
            None => engine.clone(),
        };
        Ok(Self {
            renderer: Renderer {
                engine,
                width: header.width as usize,
                height: header.height as usize,
            },
            header,
            limits,
            symbols,
        })
    }

    /// The stream header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The network half, to run without borrowing the decoder.
    pub fn renderer(&self) -> Renderer {
        self.renderer.clone()
    }

    /// Reads one chunk (a [`Packet::data`]: header and payload) down to its code indices: the
    /// integer half of [`Decoder::decode`]. Also how a new decoder is brought up to the state
    /// of one that decoded the same chunks (the worker replays a GOP this way after a GPU loss).
    ///
    /// # Errors
    /// [`Error::Stream`] for a damaged chunk or a delta frame without its reference; either
    /// way the reference is dropped and chunks up to the next keyframe fail too.
    pub fn symbols(&mut self, chunk: &[u8]) -> Result<Symbols, Error> {
        let parsed = self.parse(chunk)?;
        let state = self.symbols.decode_shared(&parsed)?;
        Ok(Symbols {
            kind: parsed.kind,
            pts: parsed.pts,
            state,
        })
    }

    /// [`Decoder::symbols`] of `chunk` with its entropy decoding done elsewhere: `parts` are
    /// what [`SliceReader`]s of this stream made of it, together covering every slice
    /// ([`vqc::Decoder::decode_parts`]). After this, delta chunks go through parts too, up to
    /// the next keyframe.
    ///
    /// # Errors
    /// As [`Decoder::symbols`]; [`Error::Config`] for parts that are not this chunk's (the
    /// reference is dropped: frames wait for a keyframe).
    pub fn symbols_from(&mut self, chunk: &[u8], parts: &[&[u8]]) -> Result<Symbols, Error> {
        let parsed = self.parse(chunk)?;
        let state = self.symbols.decode_parts(&parsed, parts)??;
        Ok(Symbols {
            kind: parsed.kind,
            pts: parsed.pts,
            state,
        })
    }

    /// `chunk` parsed and checked (CRC, limits, nothing after it); the reference is dropped
    /// for one that fails.
    fn parse<'c>(&mut self, chunk: &'c [u8]) -> Result<vqc::Chunk<'c>, Error> {
        match vqc::Chunk::parse(chunk, 0, &self.header, &self.limits) {
            Ok((c, len)) if len == chunk.len() => Ok(c),
            Ok((_, len)) => {
                self.symbols.lose_reference();
                Err(vqc::StreamError::Malformed(format!(
                    "{} stray bytes after the chunk",
                    chunk.len() - len
                ))
                .into())
            }
            Err(e) => {
                self.symbols.lose_reference();
                Err(e.into())
            }
        }
    }

    /// Decodes one chunk to a frame: [`Decoder::symbols`], then [`Renderer::frame`].
    ///
    /// # Errors
    /// As those two.
    pub async fn decode(&mut self, chunk: &[u8]) -> Result<DecodedVideoFrame, Error> {
        let s = self.symbols(chunk)?;
        let frame = self.renderer.frame(&s.state).await?;
        Ok(DecodedVideoFrame {
            frame,
            kind: s.kind,
            pts: s.pts,
            state: s.state,
        })
    }
}

/// Reads some of the slices of each chunk of one stream, for a [`Decoder`] elsewhere
/// ([`Decoder::symbols_from`]): the entropy decoding of a large frame spread over workers that
/// share no memory. Needs no model.
#[derive(Debug, Clone)]
pub struct SliceReader {
    header: Header,
    limits: Limits,
    slices: vqc::SliceDecoder,
}

impl SliceReader {
    /// A reader of slices `slices` (of `0..header.slices`) of the stream whose header starts
    /// `header_bytes`.
    ///
    /// # Errors
    /// [`Error::Stream`] for a header that does not parse or fit `limits`; [`Error::Config`]
    /// for slices the stream does not have.
    pub fn new(
        header_bytes: &[u8],
        slices: std::ops::Range<usize>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let header = Header::parse(header_bytes, &limits)?;
        let slices = vqc::SliceDecoder::new(&header, slices)?;
        Ok(Self {
            header,
            limits,
            slices,
        })
    }

    /// Its part of `chunk` (as [`Decoder::symbols`] takes it), for [`Decoder::symbols_from`].
    /// A chunk that does not parse gives an empty part: the decoder refuses that chunk before
    /// it looks at any part.
    pub fn part(&mut self, chunk: &[u8]) -> Vec<u8> {
        match vqc::Chunk::parse(chunk, 0, &self.header, &self.limits) {
            Ok((c, len)) if len == chunk.len() => self.slices.decode(&c),
            _ => Vec::new(),
        }
    }
}

/// A whole stream held in memory, read chunk by chunk with the container's resync after damage:
/// yields each frame's indices or the error that cost a chunk (decoding goes on at the next
/// keyframe); [`StreamReader::renderer`] turns indices into frames.
#[derive(Debug, Clone)]
pub struct StreamReader<'a> {
    chunks: StreamDecoder<'a>,
    renderer: Renderer,
}

impl<'a> StreamReader<'a> {
    /// Reads the header of `bytes` and checks it against `engine`'s model.
    ///
    /// # Errors
    /// [`Error::Stream`] for a header that does not parse or fit `limits`, or a stream made for
    /// other weights.
    pub fn new(engine: &Engine, bytes: &'a [u8], limits: Limits) -> Result<Self, Error> {
        let chunks = StreamDecoder::new(bytes, limits, Some(&engine.codec_info()))?
            .with_codebooks(engine.codebooks())?;
        let header = chunks.header();
        let engine = match &header.codebook {
            Some(patch) => engine.with_codebook(patch)?,
            None => engine.clone(),
        };
        let renderer = Renderer {
            engine,
            width: header.width as usize,
            height: header.height as usize,
        };
        Ok(Self { chunks, renderer })
    }

    /// The stream header.
    pub fn header(&self) -> &Header {
        self.chunks.header()
    }

    /// The network half: indices → frames, with the stream's codebook.
    pub fn renderer(&self) -> Renderer {
        self.renderer.clone()
    }
}

impl Iterator for StreamReader<'_> {
    type Item = Result<vqc::DecodedFrame, vqc::StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.chunks.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 × 12 pixels in 8 × 8 blocks (3 × 2, the right and bottom ones partial): flat grey on
    /// the left, a black-and-white checkerboard from x = 8 on.
    #[test]
    fn block_activity_is_each_blocks_luma_variance() {
        let (w, h) = (20, 12);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v = if x < 8 {
                    90
                } else if (x + y) % 2 == 0 {
                    255
                } else {
                    0
                };
                [v, v, v]
            })
            .collect();
        let a = block_activity(&Frame::from_rgb(w, h, rgb).unwrap(), 8);
        assert_eq!(a.len(), 6);
        // flat: 0; half white, half black: 127.5²; the 4-wide edge blocks likewise
        for b in [0, 3] {
            assert_eq!(a[b], 0.0, "{a:?}");
        }
        for b in [1, 2, 4, 5] {
            assert!((a[b] - 127.5 * 127.5).abs() < 0.01, "block {b}: {a:?}");
        }
    }
}
