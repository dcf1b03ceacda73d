//! `vqc`: the `.vqc` format of vqcodec — everything from code indices to bytes and back, with no
//! model, no tensors and no floating point in what a decoder computes.
//!
//! ```text
//! latents ─Encoder─▶ indices + decisions ─range coder─▶ chunks ─container─▶ .vqc bytes
//! .vqc bytes ─container (CRC, Limits)─▶ chunks ─Decoder─▶ TokenState (indices, modes and,
//!                                                         with codebooks, the fixed-point latent)
//! ```
//! * [`Header`], [`Limits`], [`StreamDecoder`], [`Decoder`]: read a stream, with resync after
//!   damage and limits checked before anything is allocated.
//! * [`Encoder`] (with [`RateControl`]): latents → chunks. Only its *choices* use floating point
//!   (distances to codes); the symbols it writes are integers every decoder reads identically.
//!   The engine crate's pipeline is the one place that builds it.
//! * [`SliceDecoder`] with [`Decoder::decode_parts`]: a frame's slices read apart, by decoders
//!   that share no memory (the browser's workers).
//! * [`CodebookPatch`]: a codebook adapted to some footage, as a stream header carries it.
//! * [`layout`] / [`peek_chunk`]: where a stream's header and chunks are, for hosts that move
//!   chunks around (the browser package) without knowing byte offsets.
//! * [`EncoderOptions`]: encoder settings as the browser package passes them, with the defaults
//!   and limits every front end shares.
//!
//! Errors: [`StreamError`] for bad input (the bytes), [`ConfigError`] for caller misuse; both
//! have an [`ErrorKind`]. The format is specified in `docs/bitstream.md`. Internals that the
//! benchmarks, fuzzers and coder comparison need are in [`bench`] (feature `bench`).
#![warn(missing_docs)]

mod codebook;
mod coefs;
#[cfg(feature = "bench")]
mod conformance;
mod container;
mod decoder;
mod encoder;
mod error;
mod hash;
mod inspect;
mod motion;
mod options;
mod patch;
mod range;
mod rate;
mod search;
mod slices;
mod syntax;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use codebook::{Codebooks, LATENT_FRAC_BITS, Metric};
pub use coefs::{MAX_ENHANCE_DIMS, MAX_STEP, step_units};
pub use container::{
    Chunk, ChunkReader, FrameKind, HEADER_LEN, Header, Limits, MAGIC, MAX_CHUNK_HEADER_LEN,
    MAX_LEVELS, MAX_SLICE_CODES, MIN_CHUNK_HEADER_LEN, SourceChroma, VERSION, chunk_header_len,
    max_slices,
};
pub use decoder::{DecodedFrame, Decoder, StreamDecoder};
pub use encoder::{Encoder, EncoderConfig, FrameStats, Packet, Searched, Written};
pub use error::{ConfigError, ErrorKind, StreamError};
pub use hash::id_of;
pub use inspect::{ChunkInfo, ChunkSpan, StreamLayout, layout, peek_chunk};
pub use motion::{MAX_FINE_RANGE, MotionOps, fine_count, fine_motion, fine_motions};
pub use options::{
    DEFAULT_AQ, DEFAULT_EFFORT, DEFAULT_FRAMERATE, DEFAULT_KEYINT, DEFAULT_LOOKAHEAD,
    EncoderOptions, FILE_KEYINT, FILE_LOOKAHEAD, MAX_AQ, MAX_EFFORT, MAX_LOOKAHEAD,
};
pub use patch::CodebookPatch;
pub use rate::{DEFAULT_QUALITY, RateControl};
pub use search::{SearchChoice, SearchPlan};
pub use slices::SliceDecoder;
pub use syntax::{
    FAR_COUNT, FAR_RANGE, FIRST_FINE, INTER_STARTS, MAX_SLICES, MOTIONS, Mode, NONE,
    SLICE_POSITIONS, SymbolBits, TokenState, default_slices, far_offset, latent_f32, slice_rows,
};

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

/// Internals for benchmarks, fuzzers and the coder comparison (feature `bench`): the range
/// coder, the frame syntax functions and the chunk writer. Not a stable API.
#[cfg(feature = "bench")]
pub mod bench {
    pub use crate::conformance::{describe_symbols, latent_crc, symbols_crc};
    pub use crate::container::write_chunk;
    pub use crate::range::{
        BitModel, BitTree, PROB_BITS, PROB_ONE, RangeDecoder, RangeEncoder, TRAILING_ZEROS,
    };
    pub use crate::rate::quality_params;
    pub use crate::syntax::{
        Contexts, FrameCode, FrameParams, decode_frame, encode_frame, symbol_count, write_frame,
    };
}
