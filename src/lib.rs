//! vqcodec: a learned video codec (VQ-VAE) in burn that runs natively and in the browser.
//!
//! ```text
//! RGB frame ─encoder─▶ latent ─RVQ─▶ code indices ─▶ (entropy coder ─▶ bits)
//!           ◀─decoder─ Σ codes  ◀──── indices  ◀──── (entropy decoder ◀─ bits)
//! ```
//! * [`model`]: the burn VQ-VAE (one definition for training, CLI and browser).
//! * [`Engine`]: a loaded model on a run-time chosen [`Backend`], with frame-level calls.
//! * [`codec`]: the `.vqc` bitstream: entropy coding, prediction, rate control, container.
//! * [`VideoEncoder`] / [`VideoDecoder`]: frames ↔ chunks (engine + codec), for every front end.
//! * [`Frame`]: RGB frames, colour conversion and PSNR; [`metrics`]: MS-SSIM.
//! * `web` (wasm32 only): the wasm-bindgen API behind `pkg/`.
#![warn(missing_docs)]

pub mod adapt;
pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod codec;
pub mod engine;
pub mod error;
pub mod frame;
pub mod metrics;
pub mod model;
#[cfg(feature = "train")]
pub mod train;
pub mod video;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use backend::{Backend, BackendKind, BackendRequest};
#[cfg(not(target_arch = "wasm32"))]
pub use engine::block_on;
pub use engine::{Engine, RoundTrip, Tokens};
pub use error::Error;
pub use frame::{Chroma, Frame, psnr_rgb, psnr_y};
pub use model::{ModelId, ModelKind, VqVae, VqVaeConfig, Weights};
pub use video::{DecodedVideoFrame, VideoDecoder, VideoEncoder};

/// The commonly used items.
pub mod prelude {
    pub use crate::{Backend, BackendRequest, Engine, Error, Frame, ModelKind, Tokens, Weights};
}
