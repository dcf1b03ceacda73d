//! Everything from code indices to bytes and back: the `.vqc` format.
//!
//! * [`container`]: sequence header, CRC'd chunks, [`Limits`].
//! * [`range`]: the binary adaptive range coder (integer probabilities).
//! * [`syntax`]: the symbols of a frame, their contexts, and the closed-loop skip decisions.
//! * [`Encoder`] (latents → chunks, with [`RateControl`]) and [`Decoder`] /
//!   [`StreamDecoder`] (chunks → indices).
//!
//! The decoder needs no floating point and no model: a stream decodes to the same indices on
//! every machine and backend. The format is specified in `docs/bitstream.md`.

pub mod codebook;
pub mod container;
mod decoder;
mod encoder;
pub mod error;
pub mod patch;
pub mod range;
pub mod rate;
pub mod syntax;

pub use codebook::Codebooks;
pub use container::{Chunk, ChunkReader, FrameKind, Header, Limits, SourceChroma};
pub use decoder::{DecodedFrame, Decoder, StreamDecoder};
pub use encoder::{Encoder, EncoderConfig, FrameStats, Packet};
pub use error::StreamError;
pub use patch::CodebookPatch;
pub use rate::RateControl;
pub use syntax::TokenState;

/// The sizes and id of the model a stream is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// The weights' id.
    pub id: u64,
    /// RVQ levels.
    pub levels: usize,
    /// Codes per level.
    pub codebook_size: usize,
    /// Pixels per latent position along each axis.
    pub downsample: usize,
}
