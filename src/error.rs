//! The library's error type.

use crate::model::WeightsError;

/// Everything that can go wrong in the library. Each variant says whose fault it is.
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
    /// Frames of different sizes in one batch (caller misuse).
    #[error("frames in one call must share one size")]
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
    /// An encoder or decoder setting outside what it accepts (caller misuse).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A damaged, cut or foreign `.vqc` stream (bad input).
    #[error(transparent)]
    Stream(#[from] crate::codec::StreamError),
    /// The backend failed while running the model (environment: a lost GPU device, say).
    #[error("backend failed: {0}")]
    Backend(String),
}
