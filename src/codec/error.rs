//! Errors from reading a `.vqc` stream. Each names where in the stream it happened.

/// What is wrong with a stream. All of these come from the bytes (bad input), never from a
/// bug in the caller, so a decoder reports them and, where it can, goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The bytes do not start with the `.vqc` magic.
    #[error("not a vqcodec stream (no VQCV magic)")]
    NotVqc,
    /// A format version this decoder does not read.
    #[error("stream format version {0} is not supported (this decoder reads version 1)")]
    Version(u16),
    /// The sequence header's CRC does not match.
    #[error("the stream header is damaged (CRC mismatch)")]
    HeaderCrc,
    /// A feature this decoder does not implement.
    #[error("unsupported stream feature: {0}")]
    Unsupported(String),
    /// A field outside what the format allows.
    #[error("malformed stream: {0}")]
    Malformed(String),
    /// A field over the decoder's [`Limits`](super::Limits); nothing was allocated for it.
    #[error("{what} is {value}, over the limit of {max}")]
    LimitExceeded {
        /// Which field.
        what: String,
        /// Its value.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// The stream ends in the middle of a header or chunk.
    #[error("the stream is cut at byte {offset}, after {frames} complete chunks")]
    Truncated {
        /// Where the incomplete part starts.
        offset: u64,
        /// Chunks read before the cut.
        frames: u64,
    },
    /// A chunk failed its CRC or lost its sync word; it is skipped.
    #[error("chunk at byte {offset} is damaged (CRC or sync word mismatch); skipped")]
    ChunkCrc {
        /// Where the chunk starts.
        offset: u64,
    },
    /// A chunk's symbols do not decode to a valid frame (a stream not made by this encoder).
    #[error("chunk at byte {offset} does not decode: {reason}")]
    BadPayload {
        /// Where the chunk starts.
        offset: u64,
        /// What went wrong.
        reason: String,
    },
    /// A delta frame with no decoded reference (after damage, until the next keyframe).
    #[error("delta frame at byte {offset} has no reference frame; waiting for a keyframe")]
    NeedKeyframe {
        /// Where the chunk starts.
        offset: u64,
    },
    /// The stream was made with other weights than the decoder holds.
    #[error("the stream was made with model {stream:016x}, but the decoder has {decoder:016x}")]
    ModelMismatch {
        /// Model id in the stream.
        stream: u64,
        /// Model id of the decoder's weights.
        decoder: u64,
    },
}
