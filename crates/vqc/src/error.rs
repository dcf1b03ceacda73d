//! Errors: [`StreamError`] (the bytes are bad: whoever made them is at fault) and
//! [`ConfigError`] (the caller asked for something the format cannot do), each with an
//! [`ErrorKind`] that hosts can branch on (the browser package passes it to JS).

/// What kind of failure an error is: a small, stable vocabulary that every layer of vqcodec
/// (this crate, the engine, the wasm API, the JS package) reports, so callers branch on a kind
/// instead of matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ErrorKind {
    /// Not a `.vqc` stream or codebook file, or fields the format does not allow.
    Format,
    /// Bytes that were right once and are not now: a failed CRC, a cut, a chunk that cannot be
    /// decoded, a delta frame whose reference was lost. Decoding resumes at the next keyframe.
    Damaged,
    /// A size over the caller's [`Limits`](crate::Limits); nothing was allocated for it.
    Limits,
    /// A format version or feature this build does not read, or a backend it does not have.
    Unsupported,
    /// A stream or codebook made for other weights than the ones at hand.
    ModelMismatch,
    /// Settings or arguments outside what is accepted (caller misuse).
    Config,
    /// The device running the model failed or is not available (a lost GPU, say).
    Device,
}

impl ErrorKind {
    /// The kind's name, as the JS package's `VqError.kind` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Format => "Format",
            Self::Damaged => "Damaged",
            Self::Limits => "Limits",
            Self::Unsupported => "Unsupported",
            Self::ModelMismatch => "ModelMismatch",
            Self::Config => "Config",
            Self::Device => "Device",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a stream. All of these come from the bytes (bad input), never from a
/// bug in the caller, so a decoder reports them and, where it can, goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The bytes do not start with the `.vqc` magic.
    #[error("not a vqcodec stream (no VQCV magic)")]
    NotVqc,
    /// A format version this decoder does not read.
    #[error("stream format version {0} is not supported (this decoder reads version {v})", v = crate::container::VERSION)]
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
    /// A field over the decoder's [`Limits`](crate::Limits); nothing was allocated for it.
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
    /// A chunk failed its CRC or lost its sync byte; it is skipped.
    #[error("chunk at byte {offset} is damaged (CRC or sync byte mismatch); skipped")]
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

impl StreamError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotVqc | Self::Malformed(_) => ErrorKind::Format,
            Self::Version(_) | Self::Unsupported(_) => ErrorKind::Unsupported,
            Self::HeaderCrc
            | Self::Truncated { .. }
            | Self::ChunkCrc { .. }
            | Self::BadPayload { .. }
            | Self::NeedKeyframe { .. } => ErrorKind::Damaged,
            Self::LimitExceeded { .. } => ErrorKind::Limits,
            Self::ModelMismatch { .. } => ErrorKind::ModelMismatch,
        }
    }
}

/// Settings the encoder cannot use (caller misuse, never the stream's fault). Each says what
/// is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A frame size of zero or over the format's limit.
    #[error("invalid frame size {width}x{height} (expected 1..={max} on each side)")]
    Dimensions {
        /// Width asked for.
        width: u64,
        /// Height asked for.
        height: u64,
        /// The largest side accepted.
        max: u64,
    },
    /// An option outside its range, or options that exclude each other.
    #[error("{0}")]
    Option(String),
    /// Codebooks whose shape is not the model's (or not a power-of-two size).
    #[error("codebooks {got} do not fit the model ({expected})")]
    Codebooks {
        /// The shape given, `levels x size[ x dim]`.
        got: String,
        /// The shape the model has.
        expected: String,
    },
    /// A codebook file made for other weights.
    #[error("the codebook was made for model {codebook:016x}, not {model:016x}")]
    CodebookModel {
        /// The model the codebook names.
        codebook: u64,
        /// The model at hand.
        model: u64,
    },
    /// Slices read apart ([`crate::SliceDecoder`]) that do not make the frame of the chunk
    /// they are given with.
    #[error("slice parts that do not make this chunk's frame: {0}")]
    SliceParts(String),
    /// A latent of the wrong length for the configured frame size.
    #[error("latent of {got} values, expected {expected}")]
    Latent {
        /// Values given.
        got: usize,
        /// Values the frame size and model give.
        expected: usize,
    },
}

impl ConfigError {
    /// What kind of failure this is: [`ErrorKind::Config`], or [`ErrorKind::ModelMismatch`]
    /// for another model's codebook.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::CodebookModel { .. } => ErrorKind::ModelMismatch,
            _ => ErrorKind::Config,
        }
    }
}
