//! The pinned description of a conformance vector's symbols (feature `bench`): one line for the
//! header, then one per chunk — its kind, timestamp, levels, mean depth, positions copied and
//! predicted, positions moved, size and the CRC32 of its decoded indices, modes and motions — or the error that cost it. `tests/conformance/NAME.txt` holds these lines; the
//! format crate's test and the engine's test (which adds the frames) both compare against them.

use crate::container::Limits;
use crate::decoder::StreamDecoder;
use crate::error::StreamError;
use crate::syntax::TokenState;

/// CRC32 of a frame's indices (`u16` LE, level-major, [`crate::NONE`] for uncoded levels)
/// followed by its modes (one byte per position: 0 intra, 1 copy, 2 + s inter from level s)
/// its motions (one byte per position, an index into [`crate::MOTIONS`] or a fine motion) and
/// its far motions (one byte per position, 0 or 1 + the index of a [`crate::far_offset`]), and
/// for a frame with an enhancement step (version 9) the step and its coefficients (`i32` LE,
/// position-major).
pub fn symbols_crc(s: &TokenState) -> u32 {
    let mut bytes: Vec<u8> = s.idx.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes.extend(s.mode.iter().map(|m| m.code()));
    bytes.extend_from_slice(&s.motion);
    bytes.extend_from_slice(&s.far);
    if s.step > 0 {
        bytes.push(s.step);
        bytes.extend(s.coef.iter().flat_map(|v| v.to_le_bytes()));
    }
    crc32fast::hash(&bytes)
}

/// CRC32 of a frame's reconstructed latent (`i32` LE, position-major): what the conformance
/// vectors pin for each decoded frame (exact: integer arithmetic).
pub fn latent_crc(s: &TokenState) -> u32 {
    let bytes: Vec<u8> = s.latent.iter().flat_map(|v| v.to_le_bytes()).collect();
    crc32fast::hash(&bytes)
}

/// The header and chunk lines of the stream in `bytes`, decoded without a model.
///
/// # Errors
/// The header's error, for a stream whose header cannot be read.
pub fn describe_symbols(bytes: &[u8]) -> Result<String, StreamError> {
    let stream = StreamDecoder::new(bytes, Limits::default(), None)?;
    let h = stream.header();
    let refined = if h.enhance_dims > 0 {
        format!(" refined {}", h.enhance_dims)
    } else {
        String::new()
    };
    let mut text = format!(
        "header {}x{} fps {}/{} levels {} bits {} downsample {} slices {}{refined} model {:016x} codebook {:016x}\n",
        h.width,
        h.height,
        h.fps_num,
        h.fps_den,
        h.levels,
        h.codebook_bits,
        h.downsample,
        h.slices,
        h.model_id,
        h.codebook_id
    );
    for item in stream {
        text += &match item {
            Ok(f) => format!(
                "chunk {:?} pts {} levels {}{} depth {:.3} copy {} inter {} moved {} far {} bytes {} symbols {:08x}\n",
                f.kind,
                f.pts,
                f.state.coded,
                if f.state.step > 0 {
                    format!(" step {}", f.state.step)
                } else {
                    String::new()
                },
                f.state.mean_depth(),
                f.state.copies(),
                f.state.inters(),
                f.state.moved(),
                f.state.far_moved(),
                f.bytes,
                symbols_crc(&f.state)
            ),
            Err(e) => format!("error {}: {e}\n", e.kind()),
        };
    }
    Ok(text)
}
