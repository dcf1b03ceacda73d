//! vqcodec: a learned video codec (VQ-VAE) in burn that runs natively and in the browser — the
//! engine: the model on a run-time chosen backend, and the pipeline every front end codes
//! through.
//!
//! ```text
//! RGB frame ─encoder network─▶ latent ─RVQ + RD choices─▶ indices ─range coder─▶ .vqc chunk
//!           ◀─decoder network─ Σ codes ◀──────────────── indices ◀─range decoder─┘
//!            (this crate: burn)         (vqc, the format crate: integers, no burn)
//! ```
//! * [`pipeline`]: [`pipeline::Encoder`] / [`pipeline::Decoder`], the one way to encode and
//!   decode (split in a network phase and an integer phase).
//! * [`Engine`]: a loaded model on a [`Backend`], with frame-level network calls.
//! * [`model`]: the burn VQ-VAE (one definition for training, CLI and browser).
//! * [`adapt`]: codebooks refitted to a user's footage.
//! * [`Frame`]: RGB frames, colour conversion and PSNR; [`metrics`]: MS-SSIM; [`y4m_io`] (feature
//!   `y4m`): y4m files as frames.
//! * [`vqc`] is the `.vqc` format itself; `web` (wasm32 only) is the wasm-bindgen API behind
//!   `pkg/`. `docs/architecture.md` maps the workspace.
#![warn(missing_docs)]

pub mod adapt;
pub mod backend;
pub mod engine;
pub mod error;
pub mod frame;
pub mod metrics;
pub mod model;
pub mod pipeline;
mod search;
#[cfg(feature = "wgpu")]
mod search_kernel;
#[cfg(feature = "y4m")]
pub mod y4m_io;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use backend::{Backend, BackendKind, BackendRequest};
#[cfg(not(target_arch = "wasm32"))]
pub use engine::block_on;
pub use engine::{Engine, RgbaFrames, RoundTrip, Tokens};
pub use error::{Error, ErrorKind};
pub use frame::{Chroma, Frame, psnr_rgb, psnr_y};
pub use model::{ModelId, ModelKind, VqVae, VqVaeConfig, Weights};
pub use search::set_search_operations;
/// The `.vqc` format crate, re-exported so that callers name one version of it.
pub use vqc;

/// The commonly used items.
pub mod prelude {
    pub use crate::pipeline::{Decoder, Encoder};
    pub use crate::{Backend, BackendRequest, Engine, Error, Frame, ModelKind, Tokens, Weights};
}
