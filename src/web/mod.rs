//! The wasm-bindgen API behind `pkg/` (wasm32 only): conversions between JS values and the
//! engine's pipeline, nothing else. Encoding and decoding go through [`pipeline::Encoder`] and
//! [`pipeline::Decoder`] in their two phases (the network on a clone, the integer phase under a
//! momentary borrow), so no `RefCell` borrow is held across an await. Every error is a JS
//! `Error` with a `kind` (`vqc::ErrorKind`); the format crate's own exports (`headerInfo`,
//! `layout`, `peekChunk`, `codebookInfo`, …) are linked into these modules too.
//!
//! ```js
//! import init, { VqCodec } from './pkg/vqcodec.js';
//! await init();
//! const codec = await VqCodec.create('auto', 'lite', weightBytes); // 'auto' | 'webgpu' | 'cpu'
//! console.log(codec.backend, codec.reason);
//! const out = await codec.roundtrip(rgbaBytes, width, height); // RoundTripResult
//! ```
//! All readback is async (`into_data_async`): synchronous reads panic on WebGPU in wasm.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Promise, Reflect};
use vqc::wasm::{encoder_options, js_error, kind_name, levels_array, object};
use vqc::{CodebookPatch, ErrorKind};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::adapt::{AdaptOptions, Trainer};
use crate::backend::{Backend, BackendRequest};
use crate::engine::{Engine, RgbaFrames};
use crate::error::Error;
use crate::frame::{Frame, psnr_rgb, psnr_y};
use crate::model::{ModelKind, Weights};
use crate::pipeline::{self, Renderer};

/// The typed JS error (`kind`, `message`) for an engine error.
fn js_err(e: impl Into<Error>) -> JsValue {
    let e = e.into();
    js_error(e.kind(), &e.to_string())
}

/// A typed JS error of `kind` with `message`.
fn js_msg(kind: ErrorKind, message: impl std::fmt::Display) -> JsValue {
    js_error(kind, &message.to_string())
}

/// Asks the browser for a WebGPU adapter: `Ok(None)` for a hardware one, `Ok(Some(what))` for a
/// software fallback (SwiftShader: `isFallbackAdapter`, many times slower than the CPU backend),
/// else why there is none.
async fn webgpu_adapter() -> Result<Option<String>, String> {
    let global = js_sys::global();
    let navigator =
        Reflect::get(&global, &"navigator".into()).map_err(|_| "no navigator".to_string())?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err(
            "navigator.gpu is missing (no WebGPU in this browser, or not a secure context)".into(),
        );
    }
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is not a function")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter() threw: {e:?}"))?
        .into();
    let adapter = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter() failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("navigator.gpu.requestAdapter() returned null (no usable GPU adapter)".into());
    }
    let field = |o: &JsValue, k: &str| Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let info = field(&adapter, "info");
    let fallback = field(&adapter, "isFallbackAdapter").as_bool() == Some(true)
        || field(&info, "isFallbackAdapter").as_bool() == Some(true);
    if !fallback {
        return Ok(None);
    }
    let described: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| field(&info, k).as_string())
        .filter(|v| !v.is_empty())
        .collect();
    Ok(Some(if described.is_empty() {
        "a software fallback adapter".into()
    } else {
        format!("a software fallback adapter ({})", described.join(" "))
    }))
}

/// Why `auto` does not take a software adapter.
fn software_refused(what: &str) -> String {
    format!("the only WebGPU adapter is {what}, slower than the CPU backend")
}

#[cfg(feature = "wgpu")]
thread_local! {
    /// burn's wgpu runtime initialises once per page; later codecs reuse its device (and what
    /// its adapter is: `Some` for a software one).
    static WEBGPU: std::cell::RefCell<Option<(burn::tensor::Device, Option<String>)>> =
        const { std::cell::RefCell::new(None) };
}

/// A CPU-only package (built without the `wgpu` feature, smaller) never offers WebGPU.
#[cfg(not(feature = "wgpu"))]
async fn webgpu_backend(allow_software: bool) -> Result<Backend, String> {
    match webgpu_adapter().await? {
        Some(what) if !allow_software => Err(software_refused(&what)),
        _ => Err("a WebGPU adapter exists, but this is the CPU-only build of the package".into()),
    }
}

/// WebGPU through burn-wgpu. A software adapter serves only when `allow_software` (the caller
/// asked for WebGPU by name); the reason says so.
#[cfg(feature = "wgpu")]
async fn webgpu_backend(allow_software: bool) -> Result<Backend, String> {
    let (device, software) = match WEBGPU.with(|d| d.borrow().clone()) {
        Some(cached) => cached,
        None => {
            let software = webgpu_adapter().await?;
            if let (Some(what), false) = (&software, allow_software) {
                return Err(software_refused(what));
            }
            let device = burn::tensor::Device::wgpu_options()
                .init_async()
                .await
                .map_err(|e| format!("WebGPU initialisation failed: {e}"))?;
            WEBGPU.with(|d| *d.borrow_mut() = Some((device.clone(), software.clone())));
            (device, software)
        }
    };
    let reason = match software {
        None => "WebGPU adapter found".into(),
        Some(what) if allow_software => {
            format!("WebGPU requested: {what}, expect it to be slower than the CPU backend")
        }
        Some(what) => return Err(software_refused(&what)),
    };
    Ok(Backend {
        device,
        kind: crate::backend::BackendKind::Gpu,
        reason,
    })
}

/// The backend for `request`, or why there is none (a `Device` error for JS). The WebGPU module
/// (built without `flex`) has no CPU backend: it refuses `cpu`, and `auto` fails there when
/// WebGPU does; the worker then loads the CPU module.
async fn select(request: BackendRequest) -> Result<Backend, JsValue> {
    let backend = match request {
        BackendRequest::Cpu => cpu_backend("CPU requested".into()),
        BackendRequest::Ndarray => Backend::ndarray_or_err().map_err(|e| e.to_string()),
        BackendRequest::Gpu => webgpu_backend(true).await,
        BackendRequest::Auto => match webgpu_backend(false).await {
            Ok(b) => Ok(b),
            Err(why) => cpu_backend(format!("CPU fallback: {why}")).map_err(|_| why),
        },
    };
    // the reason as it is: the page shows it after "CPU fallback: "
    backend.map_err(|why| js_msg(ErrorKind::Device, why))
}

#[cfg(feature = "flex")]
#[allow(clippy::unnecessary_wraps)] // the same signature as without flex
fn cpu_backend(reason: String) -> Result<Backend, String> {
    Ok(Backend::cpu(reason))
}

#[cfg(not(feature = "flex"))]
fn cpu_backend(_reason: String) -> Result<Backend, String> {
    Err("this is the WebGPU module (no CPU backend): use the CPU module".into())
}

/// A loaded model on the backend the browser offers.
#[wasm_bindgen]
pub struct VqCodec {
    engine: Rc<Engine>,
}

/// [`VqCodec::render`]'s work: the latent's frame, checked against the format's limits first.
async fn render_latent(
    engine: &Engine,
    latent: Vec<i32>,
    width: u32,
    height: u32,
) -> Result<VqFrame, JsValue> {
    let limits = vqc::Limits::default();
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || width > limits.max_width || height > limits.max_height {
        return Err(js_msg(
            ErrorKind::Config,
            format!(
                "frame size {width}x{height} (expected 1..={} by 1..={})",
                limits.max_width, limits.max_height
            ),
        ));
    }
    let rgba = engine
        .decode_fixed_rgba(&[&latent], w, h)
        .await
        .map_err(js_err)?;
    Ok(VqFrame {
        rgba,
        width,
        height,
    })
}

/// A decoded RGBA frame held in the module's memory ([`VqCodec::render_frame`]).
#[wasm_bindgen]
pub struct VqFrame {
    rgba: RgbaFrames,
    width: u32,
    height: u32,
}

impl VqFrame {
    fn bytes(&self) -> &[u8] {
        self.rgba.frame(0).unwrap_or_default()
    }
}

#[wasm_bindgen]
impl VqFrame {
    /// Width in pixels.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The RGBA bytes (`width × height × 4`, opaque alpha) as a view of the module's memory:
    /// valid only until the next call into the module (one that grows the memory detaches the
    /// view's buffer), so read it at once — `new VideoFrame(f.view(), …)` copies it — then
    /// `free()` the frame.
    pub fn view(&self) -> js_sys::Uint8Array {
        // SAFETY: the bytes live as long as this frame, which only `free()` ends; the caller's
        // part, as documented, is to read the view before calling into the module again (the
        // worker's videoFrameOf does), since a memory growth would detach it
        unsafe { js_sys::Uint8Array::view(self.bytes()) }
    }
    /// The RGBA bytes copied into `out` (`width × height × 4` bytes, else a `Config` error).
    #[wasm_bindgen(js_name = copyTo)]
    pub fn copy_to(&self, out: &js_sys::Uint8Array) -> Result<(), JsValue> {
        let bytes = self.bytes();
        if out.length() as usize != bytes.len() {
            return Err(js_msg(
                ErrorKind::Config,
                format!(
                    "a buffer of {} bytes for a frame of {}",
                    out.length(),
                    bytes.len()
                ),
            ));
        }
        out.copy_from(bytes);
        Ok(())
    }
}

/// One frame through encoder → RVQ → decoder.
#[wasm_bindgen]
pub struct RoundTripResult {
    rgba: Vec<u8>,
    width: u32,
    height: u32,
    psnr_rgb: f64,
    psnr_y: f64,
    tokens: Vec<u32>,
}

#[wasm_bindgen]
impl RoundTripResult {
    /// Decoded RGBA pixels (for `new ImageData(new Uint8ClampedArray(r.rgba.buffer), w, h)`).
    #[wasm_bindgen(getter)]
    pub fn rgba(&self) -> Vec<u8> {
        self.rgba.clone()
    }
    /// Width in pixels.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.height
    }
    /// PSNR over RGB against the input, dB.
    #[wasm_bindgen(getter, js_name = psnrRgb)]
    pub fn psnr_rgb(&self) -> f64 {
        self.psnr_rgb
    }
    /// PSNR of BT.601 luma against the input, dB.
    #[wasm_bindgen(getter, js_name = psnrY)]
    pub fn psnr_y(&self) -> f64 {
        self.psnr_y
    }
    /// Code indices, `levels × h × w`.
    #[wasm_bindgen(getter)]
    pub fn tokens(&self) -> Vec<u32> {
        self.tokens.clone()
    }
}

#[wasm_bindgen]
impl VqCodec {
    /// Loads `model` (`"base"` or `"lite"`) from `weights`, the bytes of its shipped weight
    /// file (`weights/<model>.vqw`, fetched by the worker), on `backend` (`"auto"`,
    /// `"webgpu"` or `"cpu"`). `auto` takes WebGPU when `requestAdapter()` gives an adapter,
    /// else the CPU; [`VqCodec::reason`] says why.
    ///
    /// # Errors
    /// Rejects with a typed error: `Config` for an unknown name, `ModelMismatch` for weights
    /// that are not the file this build ships for `model`, `Device` for `"webgpu"` when no
    /// adapter is available, and in the WebGPU module for `"cpu"` or an `auto` whose WebGPU
    /// fails (it has no CPU backend).
    pub async fn create(
        backend: String,
        model: String,
        weights: Vec<u8>,
    ) -> Result<VqCodec, JsValue> {
        let request: BackendRequest = backend.parse().map_err(|e| js_msg(ErrorKind::Config, e))?;
        let kind: ModelKind = model.parse().map_err(|e| js_msg(ErrorKind::Config, e))?;
        let weights = Weights::shipped(kind, weights).map_err(js_err)?;
        let backend = select(request).await?;
        let engine = Engine::new(&weights, backend).map_err(js_err)?;
        Ok(VqCodec {
            engine: Rc::new(engine),
        })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.engine.backend_kind().name().into()
    }

    /// Why that backend was chosen.
    #[wasm_bindgen(getter)]
    pub fn reason(&self) -> String {
        self.engine.backend().reason.clone()
    }

    /// The weights' id (16 hex digits).
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.engine.model_id().to_string()
    }

    /// Raw token rate with all levels, bits per pixel, before entropy coding.
    #[wasm_bindgen(getter, js_name = rawBpp)]
    pub fn raw_bpp(&self) -> f64 {
        let c = self.engine.config();
        c.raw_bpp(c.levels)
    }

    /// An encoder for `options` (`{width, height, framerate?, quality? | bitrate? (bit/s),
    /// keyInterval?, sceneCut?, effort?, lookahead?, aq?}`, checked as the format module's
    /// `checkEncoderOptions`), with
    /// `codebook` (a `.codebook` file's bytes, made for this model) in place of the model's
    /// codebook levels if given; resolves to a [`VqStreamEncoder`]. Rejects with a typed error:
    /// `Config` for bad options, `ModelMismatch` for a codebook made for another model, `Format`
    /// or `Damaged` for bytes that are not a codebook file.
    #[wasm_bindgen(unchecked_return_type = "Promise<VqStreamEncoder>")]
    pub fn encoder(&self, options: JsValue, codebook: Option<Vec<u8>>) -> Promise {
        let engine = Rc::clone(&self.engine);
        let opts = encoder_options(options);
        future_to_promise(async move {
            let opts = opts?;
            let on_device = opts.search_on_device()?;
            let mut config = opts.config()?;
            if let Some(bytes) = codebook {
                config.codebook = Some(CodebookPatch::parse(&bytes)?);
            }
            let (width, height) = (config.width, config.height);
            let encoder = pipeline::Encoder::new(&engine, config)
                .await
                .map_err(js_err)?;
            // a model refined by coefficients is searched on the host where it codes them
            let on_device = on_device
                && encoder.search_for(pipeline::Search::Device) == pipeline::Search::Device;
            Ok(VqStreamEncoder {
                encoder: Rc::new(RefCell::new(encoder)),
                width,
                height,
                on_device,
            }
            .into())
        })
    }

    /// A decoder for the stream whose header (with its codebook block, if any) is `header`;
    /// throws a typed error when the header is not valid (`Format`, `Damaged`, `Limits`,
    /// `Unsupported`) or the stream was made with other weights than this codec's
    /// (`ModelMismatch`).
    pub fn decoder(&self, header: &[u8]) -> Result<VqStreamDecoder, JsValue> {
        let decoder =
            pipeline::Decoder::new(&self.engine, header, vqc::Limits::default()).map_err(js_err)?;
        Ok(VqStreamDecoder {
            renderer: decoder.renderer(),
            header: decoder.header().clone(),
            decoder: Rc::new(RefCell::new(decoder)),
        })
    }

    /// The RGBA frame (`width × height × 4` bytes, opaque alpha) of a latent that
    /// [`VqStreamDecoder::symbols`] reconstructed (`latent`: its `i32` fixed-point values), made
    /// by this codec's decoder network: the frame [`VqStreamDecoder::decode`] makes of the same
    /// chunk, given the same model on the same kind of module. What lets a page's worker read a
    /// stream's symbols in order and hand the networks' work to other workers, one frame each.
    /// Rejects with a `Config` error for a size beyond the format's limits or a latent of
    /// another length than this model gives that size (whole, or the networks' values alone).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn render(&self, latent: Vec<i32>, width: u32, height: u32) -> Promise {
        let engine = Rc::clone(&self.engine);
        future_to_promise(async move {
            let frame = render_latent(&engine, latent, width, height).await?;
            Ok(js_sys::Uint8Array::from(frame.bytes()).into())
        })
    }

    /// [`VqCodec::render`]'s frame kept in this module's memory (`VqFrame`): its bytes can be
    /// read through a view (`VqFrame::view`) straight into what needs them — a `VideoFrame` —
    /// without a copy on the JS heap first.
    #[wasm_bindgen(js_name = renderFrame, unchecked_return_type = "Promise<VqFrame>")]
    pub fn render_frame(&self, latent: Vec<i32>, width: u32, height: u32) -> Promise {
        let engine = Rc::clone(&self.engine);
        future_to_promise(
            async move { Ok(render_latent(&engine, latent, width, height).await?.into()) },
        )
    }

    /// The encoder network's analysis of one RGBA frame of `width × height`: `{latent:
    /// Float32Array, activity: Float32Array}`, what [`VqStreamEncoder::push_analysed`] of an
    /// encoder of this model, this size and [`VqStreamEncoder::enhancement`] `enhancement`
    /// codes as it would code the frame itself. What lets a page's worker run the network of
    /// several frames in other workers while it codes in order. Rejects with a `Config` error
    /// for a buffer that is not `width × height × 4` bytes.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn analyse(&self, rgba: &[u8], width: u32, height: u32, enhancement: bool) -> Promise {
        let (w, h) = (width as usize, height as usize);
        let analyser = pipeline::Analyser::new(&self.engine, w, h).with_enhancement(enhancement);
        let frame = Frame::from_rgba(w, h, rgba);
        future_to_promise(async move {
            let frame = frame.map_err(js_err)?;
            let a = analyser
                .analyse(std::slice::from_ref(&frame))
                .await
                .map_err(js_err)?;
            Ok(object(&[
                (
                    "latent",
                    js_sys::Float32Array::from(a.latents()[0].as_slice()).into(),
                ),
                (
                    "activity",
                    js_sys::Float32Array::from(a.activity()[0].as_slice()).into(),
                ),
            ]))
        })
    }

    /// A codebook trainer for frames of `width × height` (`options`: `{levels?: number[],
    /// iterations?: number}`): feed it frames, then step it (see [`VqCodebookTrainer`]).
    ///
    /// # Errors
    /// Throws a `Config` error for bad options or a frame size of zero.
    pub fn trainer(
        &self,
        width: u32,
        height: u32,
        options: JsValue,
    ) -> Result<VqCodebookTrainer, JsValue> {
        let opts: TrainOptions = if options.is_undefined() || options.is_null() {
            TrainOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| js_msg(ErrorKind::Config, e))?
        };
        if width == 0 || height == 0 {
            return Err(js_msg(
                ErrorKind::Config,
                format!("frame size {width}x{height}"),
            ));
        }
        let defaults = AdaptOptions::default();
        Ok(VqCodebookTrainer {
            engine: Rc::clone(&self.engine),
            width,
            height,
            options: AdaptOptions {
                levels: opts.levels.unwrap_or(defaults.levels),
                iterations: opts.iterations.unwrap_or(defaults.iterations),
                budget: None,
                ..defaults
            },
            latents: Rc::new(RefCell::new(Vec::new())),
            frames: std::cell::Cell::new(0),
            trainer: Rc::new(RefCell::new(None)),
        })
    }

    /// Round-trips one RGBA frame; resolves to a [`RoundTripResult`].
    #[wasm_bindgen(unchecked_return_type = "Promise<RoundTripResult>")]
    pub fn roundtrip(&self, rgba: &[u8], width: u32, height: u32) -> Promise {
        let engine = Rc::clone(&self.engine);
        let input = Frame::from_rgba(width as usize, height as usize, rgba);
        future_to_promise(async move {
            let input = input.map_err(js_err)?;
            let rt = engine
                .roundtrip(std::slice::from_ref(&input), None)
                .await
                .map_err(js_err)?;
            let out = &rt.frames[0];
            Ok(RoundTripResult {
                rgba: out.to_rgba(),
                width,
                height,
                psnr_rgb: psnr_rgb(&input, out),
                psnr_y: psnr_y(&input, out),
                tokens: rt.tokens.data,
            }
            .into())
        })
    }
}

/// Codebook training options from JS.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TrainOptions {
    #[serde(default)]
    levels: Option<Vec<usize>>,
    #[serde(default)]
    iterations: Option<usize>,
}

/// Refits codebook levels to a user's frames, in the browser (made by [`VqCodec::trainer`]):
/// `addFrame()` each frame (the encoder network runs on the codec's backend), then `start()`,
/// `step()` until it returns `null` (one Lloyd iteration per call, so the worker can report
/// progress and cancel in between), then `finish()`.
#[wasm_bindgen]
pub struct VqCodebookTrainer {
    engine: Rc<Engine>,
    width: u32,
    height: u32,
    options: AdaptOptions,
    /// The frames' latents until `start()` hands them to the trainer.
    latents: Rc<RefCell<Vec<Vec<f32>>>>,
    frames: std::cell::Cell<u32>,
    trainer: Rc<RefCell<Option<Trainer>>>,
}

#[wasm_bindgen]
impl VqCodebookTrainer {
    /// Runs the encoder network on one RGBA frame of the trainer's size and keeps its latent;
    /// resolves to the number of frames kept.
    #[wasm_bindgen(js_name = addFrame, unchecked_return_type = "Promise<number>")]
    pub fn add_frame(&self, rgba: &[u8]) -> Promise {
        let engine = Rc::clone(&self.engine);
        let latents = Rc::clone(&self.latents);
        let frame = Frame::from_rgba(self.width as usize, self.height as usize, rgba);
        future_to_promise(async move {
            let frame = frame.map_err(js_err)?;
            // the levels refit the networks' values only (an enhancement's are not computed)
            let z = engine
                .latents_with(std::slice::from_ref(&frame), false)
                .await
                .map_err(js_err)?;
            let mut kept = latents.borrow_mut();
            kept.extend(z);
            Ok((kept.len() as u32).into())
        })
    }

    /// Frames kept so far.
    #[wasm_bindgen(getter)]
    pub fn frames(&self) -> u32 {
        self.frames.get().max(self.latents.borrow().len() as u32)
    }

    /// Reads the model's codebooks and sets up the refit; resolves to the number of steps.
    /// Rejects with a `Config` error for too few frames (fewer latent vectors than codes) or a
    /// level the model does not have.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn start(&self) -> Promise {
        let engine = Rc::clone(&self.engine);
        // the frames so far, moved out (the trainer copies what it samples): no borrow is held
        // across the await, and the latents are not kept twice
        let latents = std::mem::take(&mut *self.latents.borrow_mut());
        self.frames.set(latents.len() as u32);
        let slot = Rc::clone(&self.trainer);
        let options = self.options.clone();
        future_to_promise(async move {
            let t = Trainer::start(&engine, &latents, &options)
                .await
                .map_err(js_err)?;
            let steps = t.steps() as u32;
            *slot.borrow_mut() = Some(t);
            Ok(steps.into())
        })
    }

    /// Runs one Lloyd iteration: `{level, step, steps, mse}`, or `null` when all are done.
    ///
    /// # Errors
    /// Throws a `Config` error if `start()` has not resolved.
    pub fn step(&self) -> Result<JsValue, JsValue> {
        let mut slot = self.trainer.borrow_mut();
        let t = slot
            .as_mut()
            .ok_or_else(|| js_msg(ErrorKind::Config, "step() before start() resolved"))?;
        Ok(match t.step() {
            Some(p) => object(&[
                ("level", (p.level as u32).into()),
                ("step", (p.step as u32).into()),
                ("steps", (p.steps as u32).into()),
                ("mse", p.mse.into()),
            ]),
            None => JsValue::NULL,
        })
    }

    /// The codebook as refitted so far (all steps, or fewer when stopped early):
    /// `{bytes: Uint8Array (a .codebook file), id, model, levels, mseBefore, mseAfter, steps,
    /// frames}`.
    ///
    /// # Errors
    /// Throws a `Config` error if `start()` has not resolved.
    pub fn finish(&self) -> Result<JsValue, JsValue> {
        let t = self
            .trainer
            .borrow_mut()
            .take()
            .ok_or_else(|| js_msg(ErrorKind::Config, "finish() before start() resolved"))?;
        let (patch, report) = t.finish_patch();
        Ok(object(&[
            (
                "bytes",
                js_sys::Uint8Array::from(patch.to_bytes().as_slice()).into(),
            ),
            ("id", format!("{:016x}", patch.id()).into()),
            ("model", self.engine.model_id().to_string().into()),
            ("levels", levels_array(&patch.adapted)),
            ("mseBefore", report.mse_before.into()),
            ("mseAfter", report.mse_after.into()),
            ("bitsBefore", report.bits_before.into()),
            ("bitsAfter", report.bits_after.into()),
            ("steps", (report.steps as u32).into()),
            ("frames", self.frames().into()),
        ]))
    }
}

/// Turns RGBA frames into `.vqc` chunks (made by [`VqCodec::encoder`]).
#[wasm_bindgen]
pub struct VqStreamEncoder {
    encoder: Rc<RefCell<pipeline::Encoder>>,
    width: u32,
    height: u32,
    /// The choices are made on the device (`search: "device"`).
    on_device: bool,
}

/// A packet as JavaScript sees it: `{type, pts, data, stats, tokens}`.
fn packet_js(p: &vqc::Packet) -> Result<JsValue, JsValue> {
    Ok(object(&[
        ("type", kind_name(p.kind).into()),
        ("pts", p.pts.into()),
        ("data", js_sys::Uint8Array::from(p.data.as_slice()).into()),
        ("stats", to_js(&p.stats)?),
        (
            "tokens",
            js_sys::Uint16Array::from(p.state.idx.as_slice()).into(),
        ),
    ]))
}

/// Packets as a JavaScript array.
fn packets_js(packets: &[vqc::Packet]) -> Result<js_sys::Array, JsValue> {
    let out = js_sys::Array::new();
    for p in packets {
        out.push(&packet_js(p)?);
    }
    Ok(out)
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .map_err(|e| js_msg(ErrorKind::Config, e))
}

#[wasm_bindgen]
impl VqStreamEncoder {
    /// The stream header (the start of a `.vqc` file; WebCodecs' decoder `description`).
    #[wasm_bindgen(getter)]
    pub fn header(&self) -> Vec<u8> {
        self.encoder.borrow().header_bytes()
    }

    /// Makes the next frame's timestamp `pts` (an encoder taking over a stream, e.g. on the CPU
    /// after the GPU was lost); encode that frame as a keyframe.
    #[wasm_bindgen(js_name = resumeAt)]
    pub fn resume_at(&self, pts: u32) {
        self.encoder.borrow_mut().resume_at(pts);
    }

    /// Encodes one RGBA frame of the configured size; resolves to
    /// `{type: 'key'|'delta', pts, data: Uint8Array, stats, tokens}`. Call in order and await each
    /// call before the next (the worker does): the network runs first, then the frame is coded
    /// against the stream's state. An encoder with a lookahead codes frames in windows: use
    /// [`VqStreamEncoder::push`] and [`VqStreamEncoder::flush`] (this rejects with kind `Config`).
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn encode(&self, rgba: &[u8], key_frame: bool) -> Promise {
        if self.encoder.borrow().lookahead() > 1 {
            let e = js_msg(
                ErrorKind::Config,
                "this encoder looks ahead: push() frames and flush() at the end",
            );
            return Promise::reject(&e);
        }
        // without a lookahead a pushed frame is coded at once: its one packet
        self.push_then(rgba, key_frame, |mut packets| {
            let p = packets
                .pop()
                .ok_or_else(|| js_msg(ErrorKind::Config, "no frame was coded"))?;
            packet_js(&p)
        })
    }

    /// Encodes one RGBA frame of the configured size; resolves to the packets coded now
    /// (`{type, pts, data, stats, tokens}` each, as [`VqStreamEncoder::encode`]'s): this frame's
    /// without a lookahead; with one, none until a window's frames are all here, then the
    /// window's (`pipeline::Encoder::push`). Call in order and await each call before the next;
    /// [`VqStreamEncoder::flush`] codes what is held at the end.
    #[wasm_bindgen(unchecked_return_type = "Promise<any[]>")]
    pub fn push(&self, rgba: &[u8], key_frame: bool) -> Promise {
        self.push_then(rgba, key_frame, |packets| Ok(packets_js(&packets)?.into()))
    }

    /// Whether this encoder makes its choices on the device (`search: "device"`, and the model
    /// codes no coefficients at its quality): it takes frames through `push` only.
    #[wasm_bindgen(getter, js_name = searchOnDevice)]
    pub fn search_on_device(&self) -> bool {
        self.on_device
    }

    /// Whether this encoder's analysis computes an enhanced model's enhancement values: what
    /// [`VqCodec::analyse`] must be told to analyse frames for it.
    #[wasm_bindgen(getter)]
    pub fn enhancement(&self) -> bool {
        self.encoder.borrow().analyser().enhancement()
    }

    /// [`VqStreamEncoder::push`] of a frame analysed elsewhere ([`VqCodec::analyse`] in another
    /// module of the same model): the same packets as pushing the frame itself. Rejects with a
    /// `Config` error for a latent or activity of another length than this encoder's frames.
    #[wasm_bindgen(js_name = pushAnalysed, unchecked_return_type = "any[]")]
    pub fn push_analysed(
        &self,
        latent: Vec<f32>,
        activity: Vec<f32>,
        key_frame: bool,
    ) -> Result<js_sys::Array, JsValue> {
        if self.on_device {
            return Err(js_msg(
                ErrorKind::Config,
                "this encoder searches on the device: push() its frames",
            ));
        }
        let mut encoder = self.encoder.borrow_mut();
        let analysis = encoder.analysis_of(latent, activity).map_err(js_err)?;
        let packets = encoder.push(analysis, key_frame).map_err(js_err)?;
        packets_js(&packets)
    }

    /// Codes the frames a lookahead holds (none without one): the packets, in order. Call once
    /// the last frame's `push` resolved.
    ///
    /// # Errors
    /// As [`VqStreamEncoder::encode`]'s rejections.
    #[wasm_bindgen(unchecked_return_type = "any[]")]
    pub fn flush(&self) -> Result<js_sys::Array, JsValue> {
        let packets = self.encoder.borrow_mut().flush().map_err(js_err)?;
        packets_js(&packets)
    }
}

impl VqStreamEncoder {
    /// Runs the encoder network on one RGBA frame, pushes it to the encoder
    /// (`pipeline::Encoder::push`) and resolves to what `reply` makes of the packets coded now.
    fn push_then(
        &self,
        rgba: &[u8],
        key_frame: bool,
        reply: impl FnOnce(Vec<vqc::Packet>) -> Result<JsValue, JsValue> + 'static,
    ) -> Promise {
        let encoder = Rc::clone(&self.encoder);
        let analyser = self.encoder.borrow().analyser();
        let searcher = self.on_device.then(|| self.encoder.borrow().searcher());
        let frame = Frame::from_rgba(self.width as usize, self.height as usize, rgba);
        future_to_promise(async move {
            let frame = frame.map_err(js_err)?;
            let analysis = analyser
                .analyse(std::slice::from_ref(&frame))
                .await
                .map_err(js_err)?;
            // the integer phases: borrowed there, never across an await
            let packets = match searcher {
                None => encoder
                    .borrow_mut()
                    .push(analysis, key_frame)
                    .map_err(js_err)?,
                Some(searcher) => {
                    let planned = encoder
                        .borrow()
                        .plan(&analysis, 0, key_frame)
                        .map_err(js_err)?;
                    let choice = searcher.search(&planned).await.map_err(js_err)?;
                    vec![
                        encoder
                            .borrow_mut()
                            .code_searched(&planned, &choice)
                            .map_err(js_err)?,
                    ]
                }
            };
            reply(packets)
        })
    }
}

/// Turns `.vqc` chunks back into RGBA frames (made by [`VqCodec::decoder`]).
#[wasm_bindgen]
pub struct VqStreamDecoder {
    decoder: Rc<RefCell<pipeline::Decoder>>,
    renderer: Renderer,
    header: vqc::Header,
}

#[wasm_bindgen]
impl VqStreamDecoder {
    /// Frame width of the stream.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.header.width
    }

    /// Frame height of the stream.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.header.height
    }

    /// Frames per second.
    #[wasm_bindgen(getter)]
    pub fn framerate(&self) -> f64 {
        f64::from(self.header.fps_num) / f64::from(self.header.fps_den)
    }

    /// Reads one chunk's symbols without making its frame: brings a new decoder up to the
    /// reference state of one that had decoded the same chunks (the worker replays the chunks
    /// since the last keyframe this way after losing the GPU).
    ///
    /// # Errors
    /// Throws a typed error for a damaged chunk or a delta frame without its reference
    /// (`Damaged`).
    pub fn advance(&self, chunk: &[u8]) -> Result<(), JsValue> {
        self.decoder
            .borrow_mut()
            .symbols(chunk)
            .map(|_| ())
            .map_err(js_err)
    }

    /// Reads one chunk's symbols and reconstructs its latent without making its frame (the
    /// integer half of [`VqStreamDecoder::decode`], in call order like it): `{type, pts, width,
    /// height, latent: Int32Array, levels, tokens}`; [`VqCodec::render`] of `latent`, in this
    /// module or another with the same model, makes the frame. `latent` holds what the decoder
    /// network reads: of a frame whose enhancement is known empty, the networks' values of each
    /// position alone (16 of a shipped model's 64). Throws as `decode` rejects.
    pub fn symbols(&self, chunk: &[u8]) -> Result<JsValue, JsValue> {
        let s = self.decoder.borrow_mut().symbols(chunk).map_err(js_err)?;
        Ok(self.symbols_js(&s))
    }

    /// The slices each frame of the stream is coded in: a [`VqSliceReader`] may read some of
    /// them apart, for [`VqStreamDecoder::symbols_from`].
    #[wasm_bindgen(getter)]
    pub fn slices(&self) -> u32 {
        self.header.slices.into()
    }

    /// [`VqStreamDecoder::symbols`] of `chunk` with its entropy decoding done by
    /// [`VqSliceReader`]s of this stream (in other workers): `parts` (`Uint8Array`s) are what
    /// they made of this chunk, together covering every slice. The answer, the errors and the
    /// resync are `symbols`'; from here on delta chunks go through parts too, up to the next
    /// keyframe. Throws a `Config` error for parts that are not this chunk's (the reference is
    /// dropped: frames wait for a keyframe).
    #[wasm_bindgen(js_name = symbolsFrom)]
    pub fn symbols_from(&self, chunk: &[u8], parts: js_sys::Array) -> Result<JsValue, JsValue> {
        let parts: Vec<Vec<u8>> = parts
            .iter()
            .map(|p| js_sys::Uint8Array::new(&p).to_vec())
            .collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let s = self
            .decoder
            .borrow_mut()
            .symbols_from(chunk, &refs)
            .map_err(js_err)?;
        Ok(self.symbols_js(&s))
    }

    /// Decodes one chunk (as an encoder's `data`); resolves to
    /// `{type, pts, width, height, rgba: Uint8Array, levels, tokens}`. A damaged chunk, or a delta
    /// frame after one, rejects with a `Damaged` error; decoding resumes at the next keyframe.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn decode(&self, chunk: &[u8]) -> Promise {
        self.decode_then(chunk, |frame| {
            ("rgba", js_sys::Uint8Array::from(frame.bytes()).into())
        })
    }

    /// [`VqStreamDecoder::decode`] with the frame kept in the module's memory: resolves to
    /// `{type, pts, width, height, frame: VqFrame, levels, tokens}` — read the frame through its
    /// view at once (a `VideoFrame` of it) and free it — with the same errors.
    #[wasm_bindgen(js_name = decodeFrame, unchecked_return_type = "Promise<any>")]
    pub fn decode_frame(&self, chunk: &[u8]) -> Promise {
        self.decode_then(chunk, |frame| ("frame", frame.into()))
    }
}

impl VqStreamDecoder {
    /// A chunk decoded: its symbols now, in call order; the network phase on the renderer's
    /// clone, whose frame `payload` makes the answer's frame field.
    fn decode_then(
        &self,
        chunk: &[u8],
        payload: impl FnOnce(VqFrame) -> (&'static str, JsValue) + 'static,
    ) -> Promise {
        let parsed = self.decoder.borrow_mut().symbols(chunk);
        let renderer = self.renderer.clone();
        let (width, height) = (self.header.width, self.header.height);
        future_to_promise(async move {
            let s = parsed.map_err(js_err)?;
            let rgba = renderer.frame_rgba(&s.state).await.map_err(js_err)?;
            let frame = VqFrame {
                rgba,
                width,
                height,
            };
            Ok(decoded_js(&s, (width, height), payload(frame)))
        })
    }

    /// A chunk's symbols as `symbols` and `symbolsFrom` answer them: with the latent the
    /// decoder network reads ([`pipeline::Renderer::latent`]).
    fn symbols_js(&self, s: &pipeline::Symbols) -> JsValue {
        let latent = js_sys::Int32Array::from(&*self.renderer.latent(&s.state));
        decoded_js(
            s,
            (self.header.width, self.header.height),
            ("latent", latent.into()),
        )
    }
}

/// Reads some of the slices of each chunk of one stream (no model needed): the entropy
/// decoding of a large frame spread over workers, which [`VqStreamDecoder::symbols_from`] puts
/// together. Feed it every chunk of the stream, in order.
#[wasm_bindgen]
pub struct VqSliceReader {
    reader: pipeline::SliceReader,
}

#[wasm_bindgen]
impl VqSliceReader {
    /// A reader of slices `first .. first + count` of the stream whose header starts `header`.
    /// Throws a `Config` error for slices the stream does not have, a stream error for a header
    /// that does not parse.
    #[wasm_bindgen(constructor)]
    pub fn new(header: &[u8], first: u32, count: u32) -> Result<VqSliceReader, JsValue> {
        let (first, count) = (first as usize, count as usize);
        let end = first.saturating_add(count); // refused as slices the stream does not have
        let reader = pipeline::SliceReader::new(header, first..end, vqc::Limits::default())
            .map_err(js_err)?;
        Ok(Self { reader })
    }

    /// Its part of `chunk`: bytes for [`VqStreamDecoder::symbols_from`], which only that
    /// method reads.
    pub fn part(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.reader.part(chunk)
    }
}

/// A decoded chunk as `decode` and `symbols` answer it: `{type, pts, width, height, levels,
/// tokens}` and the frame or latent `payload` (`rgba` or `latent`).
fn decoded_js(
    s: &pipeline::Symbols,
    (width, height): (u32, u32),
    payload: (&str, JsValue),
) -> JsValue {
    object(&[
        ("type", kind_name(s.kind).into()),
        ("pts", s.pts.into()),
        ("width", width.into()),
        ("height", height.into()),
        payload,
        ("levels", s.state.coded.into()),
        (
            "tokens",
            js_sys::Uint16Array::from(s.state.idx.as_slice()).into(),
        ),
    ])
}

/// The ids of the shipped models (16 hex digits each): `{base, lite}`.
#[wasm_bindgen(js_name = modelIds)]
pub fn model_ids() -> JsValue {
    let fields: Vec<(&str, JsValue)> = ModelKind::ALL
        .iter()
        .map(|&k| (k.name(), k.id().to_string().into()))
        .collect();
    object(&fields)
}

// The linker's constructors (cubecl's IR library registers ~4,900 with `inventory`). A module
// that never calls them itself is linked "command-style": every export runs them all first, and
// the wasm-bindgen glue calls an export for nearly every JS object the module holds (hundreds to
// thousands per frame). Called once here, at instantiation, the module is a "reactor" and the
// exports run bare (docs/results/dawn-profile.md: 50-88% of a WebGPU frame's wall time went to
// them through Dawn).
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Runs the module's constructors and installs a panic hook that logs to the console (called
/// once by the JS glue, at instantiation).
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: the linker's own constructor function, called once, first, as it expects of a
    // module that calls it itself (`inventory`'s registrations are idempotent besides).
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("vqcodec panicked: {info}").into());
    }));
}
