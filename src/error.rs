//! The engine's error type, and the [`ErrorKind`] every error maps to.

use crate::model::WeightsError;
pub use vqc::ErrorKind;

/// Everything that can go wrong in the library. Each variant says whose fault it is;
/// [`Error::kind`] sorts them into the kinds the JS package branches on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame size of zero or over the limit (bad input).
    #[error("invalid frame size {width}x{height} (expected 1..={max} on each side)")]
    InvalidDimensions {
        /// Width asked for.
        width: usize,
        /// Height asked for.
        height: usize,
        /// The largest side accepted.
        max: usize,
    },
    /// A pixel buffer of the wrong length (caller misuse).
    #[error("pixel buffer has {got} bytes, expected {expected}")]
    BufferSize {
        /// Bytes expected from the size.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// Frames of different sizes in one batch, or of another size than the stream's (caller
    /// misuse).
    #[error("frames in one call must share one size, the stream's")]
    MixedSizes,
    /// A token array that does not fit the model (bad input or caller misuse).
    #[error("invalid tokens: {0}")]
    InvalidTokens(String),
    /// The weight file could not be used.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The requested backend is not available here (environment).
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
    /// An engine setting outside what it accepts (caller misuse).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Encoder settings the format cannot use (caller misuse).
    #[error(transparent)]
    Config(#[from] vqc::ConfigError),
    /// A damaged, cut or foreign `.vqc` stream (bad input).
    #[error(transparent)]
    Stream(#[from] vqc::StreamError),
    /// A codebook adaptation that could not run (too few frames, a level the model lacks).
    #[error(transparent)]
    Adapt(#[from] crate::adapt::AdaptError),
    /// The backend failed while running the model (environment: a lost GPU device, say).
    #[error("backend failed: {0}")]
    Backend(String),
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidDimensions { .. }
            | Self::BufferSize { .. }
            | Self::MixedSizes
            | Self::InvalidTokens(_)
            | Self::InvalidConfig(_) => ErrorKind::Config,
            Self::Weights(WeightsError::NotShipped { .. }) => ErrorKind::ModelMismatch,
            Self::Weights(_) => ErrorKind::Format,
            Self::BackendUnavailable(_) | Self::Backend(_) => ErrorKind::Device,
            Self::Config(e) => e.kind(),
            Self::Adapt(e) => e.kind(),
            Self::Stream(e) => e.kind(),
        }
    }
}
