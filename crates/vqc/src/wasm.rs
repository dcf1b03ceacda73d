//! The format layer for JavaScript (feature `wasm`): what the browser package needs to know of a
//! stream — where its header and chunks are, what a header or chunk says, the encoder's defaults
//! and limits, the checks of encoder options — so that JS holds no byte offsets and no second
//! copy of a limit. Built alone into the package's small `format/` module (no model, a few tens
//! of KB) for the page, and linked into the codec modules for the worker.
//!
//! Every failure is a JS `Error` whose `kind` is an [`ErrorKind`] name.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{
    CodebookPatch, ConfigError, EncoderOptions, ErrorKind, FrameKind, Header, Limits, StreamError,
    layout as stream_layout, peek_chunk,
};

/// A JS `Error` with `kind` set to `kind`'s name: what every vqcodec wasm call throws.
pub fn js_error(kind: ErrorKind, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    // setting a property on a fresh Error cannot fail
    let _ = Reflect::set(&e, &"kind".into(), &kind.name().into());
    e.into()
}

impl From<StreamError> for JsValue {
    fn from(e: StreamError) -> JsValue {
        js_error(e.kind(), &e.to_string())
    }
}

impl From<ConfigError> for JsValue {
    fn from(e: ConfigError) -> JsValue {
        js_error(e.kind(), &e.to_string())
    }
}

/// A plain JS object from `(key, value)` pairs.
pub fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        // setting a property on a fresh plain object cannot fail
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

/// `"key"` or `"delta"`.
pub fn kind_name(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Key => "key",
        FrameKind::Delta => "delta",
    }
}

fn hex(v: u64) -> JsValue {
    format!("{v:016x}").into()
}

fn header_object(h: &Header) -> JsValue {
    object(&[
        ("width", h.width.into()),
        ("height", h.height.into()),
        (
            "framerate",
            (f64::from(h.fps_num) / f64::from(h.fps_den)).into(),
        ),
        ("fpsNum", h.fps_num.into()),
        ("fpsDen", h.fps_den.into()),
        ("frameCount", h.frame_count.into()),
        ("modelId", hex(h.model_id)),
        (
            "codebookId",
            if h.codebook.is_some() {
                hex(h.codebook_id)
            } else {
                JsValue::NULL
            },
        ),
        ("levels", h.levels.into()),
        ("slices", h.slices.into()),
        ("headerLength", (h.byte_len() as u32).into()),
    ])
}

/// What a stream header says: `{width, height, framerate, fpsNum, fpsDen, frameCount, modelId,
/// codebookId, levels, slices, headerLength}`. `bytes` may go on past the header.
///
/// # Errors
/// Throws a typed error (`Format`, `Damaged`, `Limits`, `Unsupported`) for bytes that do not
/// start with a valid header.
#[wasm_bindgen(js_name = headerInfo)]
pub fn header_info(bytes: &[u8]) -> Result<JsValue, JsValue> {
    Ok(header_object(&Header::parse(bytes, &Limits::DEFAULT)?))
}

/// Where a whole stream's parts are: `{header: {...as headerInfo}, chunks: [{start, end, type,
/// pts, error}], truncated: null | Error}`. A damaged span has `type: null` and its `error`; a
/// decoder given its bytes fails it as it would in the whole stream.
///
/// # Errors
/// As [`header_info`].
#[wasm_bindgen]
pub fn layout(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let l = stream_layout(bytes, Limits::DEFAULT)?;
    let chunks: Array = l
        .chunks
        .iter()
        .map(|c| {
            object(&[
                ("start", (c.start as u32).into()),
                ("end", (c.end as u32).into()),
                (
                    "type",
                    c.kind.map_or(JsValue::NULL, |k| kind_name(k).into()),
                ),
                ("pts", c.pts.into()),
                (
                    "error",
                    c.error.clone().map_or(JsValue::NULL, JsValue::from),
                ),
            ])
        })
        .collect();
    Ok(object(&[
        ("header", header_object(&l.header)),
        ("chunks", chunks.into()),
        (
            "truncated",
            l.truncated.map_or(JsValue::NULL, JsValue::from),
        ),
    ]))
}

/// What a chunk declares: `{type, pts, length}` (not CRC-checked), or `null` for bytes that do
/// not start with a chunk.
#[wasm_bindgen(js_name = peekChunk)]
pub fn peek(bytes: &[u8]) -> JsValue {
    match peek_chunk(bytes) {
        Some(c) => object(&[
            ("type", kind_name(c.kind).into()),
            ("pts", c.pts.into()),
            ("length", (c.len as u32).into()),
        ]),
        None => JsValue::NULL,
    }
}

/// What a `.codebook` file holds: `{id, model, levels, bytes}`.
///
/// # Errors
/// Throws a typed error for bytes that are not a valid `.codebook` file.
#[wasm_bindgen(js_name = codebookInfo)]
pub fn codebook_info(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let patch = CodebookPatch::parse(bytes)?;
    Ok(object(&[
        ("id", hex(patch.id())),
        ("model", hex(patch.model_id)),
        ("levels", levels_array(&patch.adapted)),
        ("bytes", (bytes.len() as u32).into()),
    ]))
}

/// RVQ level numbers as a JS array.
pub fn levels_array(levels: &[usize]) -> JsValue {
    levels
        .iter()
        .map(|&l| JsValue::from(l as u32))
        .collect::<Array>()
        .into()
}

/// Encoder options (`{width, height, framerate?, quality? | bitrate?, keyInterval?,
/// sceneCut?, effort?, lookahead?, aq?}`) parsed and checked, as the codec modules parse them.
///
/// # Errors
/// A `Config` error naming the option and what is accepted.
pub fn encoder_options(options: JsValue) -> Result<EncoderOptions, JsValue> {
    let opts: EncoderOptions = serde_wasm_bindgen::from_value(options)
        .map_err(|e| js_error(ErrorKind::Config, &format!("encoder options: {e}")))?;
    opts.config()?;
    Ok(opts)
}

/// Checks encoder options; returns `null` when they are accepted, else the typed error (not
/// thrown: `isConfigSupported` reports it).
#[wasm_bindgen(js_name = checkEncoderOptions)]
pub fn check_encoder_options(options: JsValue) -> JsValue {
    match encoder_options(options) {
        Ok(_) => JsValue::NULL,
        Err(e) => e,
    }
}

/// The defaults of encoder options: `{framerate, quality, keyInterval, sceneCut, effort,
/// lookahead, aq, search, slices}` for a live source (`slices` 0: by the frame's size), and `fileKeyInterval`, `fileLookahead` for a whole file.
#[wasm_bindgen(js_name = encoderDefaults)]
pub fn encoder_defaults() -> JsValue {
    object(&[
        ("framerate", crate::DEFAULT_FRAMERATE.into()),
        ("quality", crate::DEFAULT_QUALITY.into()),
        ("keyInterval", crate::DEFAULT_KEYINT.into()),
        ("sceneCut", true.into()),
        ("effort", crate::DEFAULT_EFFORT.into()),
        ("lookahead", crate::DEFAULT_LOOKAHEAD.into()),
        ("aq", crate::DEFAULT_AQ.into()),
        ("search", "host".into()),
        ("slices", 0.into()),
        ("fileKeyInterval", crate::FILE_KEYINT.into()),
        ("fileLookahead", crate::FILE_LOOKAHEAD.into()),
    ])
}

/// The decoder's default limits: `{maxWidth, maxHeight, maxPixels, maxFrames, maxChunkBytes,
/// maxStreamBytes, maxCodebookBytes}` (the largest frame the encoder takes, too).
#[wasm_bindgen]
pub fn limits() -> JsValue {
    let l = Limits::DEFAULT;
    object(&[
        ("maxWidth", l.max_width.into()),
        ("maxHeight", l.max_height.into()),
        ("maxPixels", (l.max_pixels as f64).into()),
        ("maxFrames", (l.max_frames as f64).into()),
        ("maxChunkBytes", l.max_chunk_bytes.into()),
        ("maxStreamBytes", (l.max_stream_bytes as f64).into()),
        ("maxCodebookBytes", l.max_codebook_bytes.into()),
    ])
}
