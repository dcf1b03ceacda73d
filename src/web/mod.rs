//! The wasm-bindgen API behind `pkg/` (wasm32 only).
//!
//! ```js
//! import init, { VqCodec } from './pkg/vqcodec.js';
//! await init();
//! const codec = await VqCodec.create('auto', 'base'); // 'auto' | 'webgpu' | 'cpu'
//! console.log(codec.backend, codec.reason);
//! const out = await codec.roundtrip(rgbaBytes, width, height); // RoundTripResult
//! ```
//! All readback is async (`into_data_async`): synchronous reads panic on WebGPU in wasm.

use std::rc::Rc;

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::backend::{Backend, BackendKind, BackendRequest};
use crate::engine::Engine;
use crate::frame::{Frame, psnr_rgb, psnr_y};
use crate::model::{ModelKind, Weights};

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// Asks the browser for a WebGPU adapter. `Ok(())` when one exists, else why not.
async fn webgpu_adapter() -> Result<(), String> {
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
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter() failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("navigator.gpu.requestAdapter() returned null (no usable GPU adapter)".into());
    }
    Ok(())
}

thread_local! {
    /// burn's wgpu runtime initialises once per page; later codecs reuse its device.
    static WEBGPU: std::cell::RefCell<Option<burn::tensor::Device>> = const { std::cell::RefCell::new(None) };
}

async fn webgpu_backend() -> Result<Backend, String> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(Backend {
            device,
            kind: BackendKind::Gpu,
            reason: "WebGPU adapter found".into(),
        });
    }
    webgpu_adapter().await?;
    let device = burn::tensor::Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU initialisation failed: {e}"))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(Backend {
        device,
        kind: BackendKind::Gpu,
        reason: "WebGPU adapter found".into(),
    })
}

async fn select(request: BackendRequest) -> Result<Backend, String> {
    match request {
        BackendRequest::Cpu => Ok(Backend::cpu("CPU requested")),
        BackendRequest::Ndarray => Backend::ndarray_or_err().map_err(|e| e.to_string()),
        BackendRequest::Gpu => webgpu_backend().await,
        BackendRequest::Auto => match webgpu_backend().await {
            Ok(b) => Ok(b),
            Err(why) => Ok(Backend::cpu(format!("CPU fallback: {why}"))),
        },
    }
}

/// A loaded model on the backend the browser offers.
#[wasm_bindgen]
pub struct VqCodec {
    engine: Rc<Engine>,
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
    /// Loads the embedded `model` (`"base"` or `"lite"`) on `backend` (`"auto"`, `"webgpu"`
    /// or `"cpu"`). `auto` takes WebGPU when `requestAdapter()` gives an adapter, else the
    /// CPU; [`VqCodec::reason`] says why.
    ///
    /// # Errors
    /// Rejects for an unknown name, or `"webgpu"` when no adapter is available.
    pub async fn create(backend: String, model: String) -> Result<VqCodec, JsValue> {
        let request: BackendRequest = backend.parse().map_err(js_err)?;
        let kind: ModelKind = model.parse().map_err(js_err)?;
        let backend = select(request).await.map_err(js_err)?;
        let engine = Engine::new(&Weights::embedded(kind), backend).map_err(js_err)?;
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

/// Installs a panic hook that logs to the console (called once by the JS glue).
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("vqcodec panicked: {info}").into());
    }));
}
