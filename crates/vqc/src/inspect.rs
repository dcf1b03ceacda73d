//! Where a stream's parts are, for hosts that move chunks around without decoding them (the
//! browser package splits a file into its header and chunks to feed a decoder). The offsets
//! come from the container reader itself, so a host never needs to know the byte layout.

use crate::container::{ChunkReader, FrameKind, Header, Limits, MIN_CHUNK_HEADER_LEN, SYNC};
use crate::error::StreamError;

/// One chunk's place in a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSpan {
    /// First byte of the chunk.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Key or delta; `None` for bytes that do not make a chunk (see `error`).
    pub kind: Option<FrameKind>,
    /// Presentation timestamp (0 for a damaged span).
    pub pts: u32,
    /// Why these bytes are not a chunk: damage between two good chunks. A decoder fed them
    /// fails them and waits for the next keyframe, as it would have on the whole stream.
    pub error: Option<StreamError>,
}

/// A stream's header and chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamLayout {
    /// The header, checked (its CRC, limits and codebook block).
    pub header: Header,
    /// Bytes of the header with its codebook block: where the first chunk starts.
    pub header_len: usize,
    /// Every chunk in order, damaged spans included.
    pub chunks: Vec<ChunkSpan>,
    /// The stream ends inside a chunk (a cut file); the partial chunk is not listed.
    pub truncated: Option<StreamError>,
}

/// The layout of the stream in `bytes` under `limits`: the container's own walk (with resync
/// after damage), reported instead of decoded.
///
/// # Errors
/// As [`Header::parse`]: a stream whose header cannot be read has no layout.
pub fn layout(bytes: &[u8], limits: Limits) -> Result<StreamLayout, StreamError> {
    let mut reader = ChunkReader::new(bytes, limits)?;
    let header = reader.header().clone();
    let header_len = header.byte_len();
    let mut chunks = Vec::new();
    let mut truncated = None;
    loop {
        let at = reader.position() as usize;
        match reader.next() {
            None => break,
            Some(Ok(c)) => chunks.push(ChunkSpan {
                start: at,
                end: at + c.len,
                kind: Some(c.kind),
                pts: c.pts,
                error: None,
            }),
            Some(Err(e @ StreamError::Truncated { .. })) => {
                truncated = Some(e);
                break;
            }
            Some(Err(e)) => {
                let next = reader.position() as usize;
                // the reader stops after damage it cannot resync past: the rest is one span
                let end = if next > at { next } else { bytes.len() };
                chunks.push(ChunkSpan {
                    start: at,
                    end,
                    kind: None,
                    pts: 0,
                    error: Some(e),
                });
                if next <= at {
                    break;
                }
            }
        }
    }
    Ok(StreamLayout {
        header,
        header_len,
        chunks,
        truncated,
    })
}

/// What a chunk's header says, read without checking its CRC (the decoder does that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Key or delta.
    pub kind: FrameKind,
    /// Presentation timestamp.
    pub pts: u32,
    /// Bytes of the whole chunk as its header declares them.
    pub len: usize,
}

/// The kind, timestamp and length a chunk declares, or `None` for bytes that do not start with
/// a chunk header — or that end inside it: a header takes 8 to 16 bytes (its varints), so give
/// at least 16 bytes, or the whole chunk.
pub fn peek_chunk(bytes: &[u8]) -> Option<ChunkInfo> {
    if bytes.len() < MIN_CHUNK_HEADER_LEN || bytes[0] != SYNC {
        return None;
    }
    let (pts, n) = crate::container::get_varint(&bytes[2..]).ok()??;
    let (len, m) = crate::container::get_varint(&bytes[2 + n..]).ok()??;
    Some(ChunkInfo {
        kind: FrameKind::of_flags(bytes[1]),
        pts,
        len: (2 + n + m + 4).checked_add(len as usize)?,
    })
}
