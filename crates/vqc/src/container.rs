//! The `.vqc` container: a fixed, CRC-protected sequence header followed by one chunk per
//! frame, each with its own sync byte, length and CRC32. See `docs/bitstream.md`.
//!
//! Parsing never trusts a length before checking it against [`Limits`] and the bytes
//! actually present, and never allocates from a field it has not checked.

use crate::error::StreamError;
use crate::patch::CodebookPatch;

/// Sequence header magic.
pub const MAGIC: [u8; 4] = *b"VQCV";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 9;
/// Bytes in a sequence header, CRC included.
pub const HEADER_LEN: usize = 60;
/// Header flag: a codebook block follows the fixed header (issue 6).
pub const FLAG_CODEBOOK: u32 = 1;
/// Chunk sync byte (`V`).
pub const SYNC: u8 = 0x56;
/// Chunk flag bit: a delta frame (else a keyframe).
const FLAG_DELTA: u8 = 0x80;
/// Chunk flag bit: the payload starts with the frame's enhancement step index (version 9; a
/// stream whose header refines values, [`Header::enhance_dims`]).
const FLAG_STEP: u8 = 0x40;
/// Chunk flag bits that must be zero.
const FLAG_RESERVED: u8 = 0x30;
/// Fewest bytes in a chunk header, CRC included: sync, flags, one-byte timestamp and length.
pub const MIN_CHUNK_HEADER_LEN: usize = 8;
/// Most bytes in a chunk header: sync, flags, two five-byte varints, CRC.
pub const MAX_CHUNK_HEADER_LEN: usize = 16;

/// Bytes of `v` as an unsigned LEB128 varint (1..=5).
fn varint_len(v: u32) -> usize {
    match v {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

pub(crate) fn put_varint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// A varint at the start of `bytes`: `Ok(None)` when `bytes` ends inside it, `Err` when it is
/// not the shortest form of a `u32` (a damaged header).
pub(crate) fn get_varint(bytes: &[u8]) -> Result<Option<(u32, usize)>, ()> {
    let mut v = 0u32;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        let bits = u32::from(byte & 0x7F);
        if i == 4 && bits > 0x0F {
            return Err(()); // beyond 32 bits
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(()); // not the shortest form
            }
            return Ok(Some((v, i + 1)));
        }
        if i == 4 {
            return Err(());
        }
    }
    Ok(None)
}

/// Bytes of a chunk header (CRC included) for a timestamp and a payload length: 8..=16.
pub fn chunk_header_len(pts: u32, payload_len: usize) -> usize {
    2 + varint_len(pts) + varint_len(payload_len as u32) + 4
}

/// Resource limits checked before anything is allocated from a stream's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame width accepted.
    pub max_width: u32,
    /// Largest frame height accepted.
    pub max_height: u32,
    /// Largest `width × height` accepted.
    pub max_pixels: u64,
    /// Most frames decoded from one stream (and the largest frame count a header may claim).
    pub max_frames: u64,
    /// Largest chunk payload accepted, in bytes.
    pub max_chunk_bytes: u32,
    /// Largest whole stream a reader loads into memory, in bytes.
    pub max_stream_bytes: u64,
    /// Largest codebook block a header may carry, in bytes.
    pub max_codebook_bytes: u32,
}

impl Limits {
    /// 8192 × 8192, 64 Mpx, 10 million frames, 64 MiB per chunk, 1 GiB per stream, 4 MiB of
    /// codebook: the limits every front end uses unless its caller sets others, and the largest
    /// frame the encoder accepts.
    pub const DEFAULT: Limits = Limits {
        max_width: 8192,
        max_height: 8192,
        max_pixels: 8192 * 8192,
        max_frames: 10_000_000,
        max_chunk_bytes: 64 << 20,
        max_stream_bytes: 1 << 30,
        max_codebook_bytes: 4 << 20,
    };
}

impl Default for Limits {
    /// [`Limits::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Frame type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameKind {
    /// Codes every position; decoding may start here.
    Key,
    /// Codes positions against the previous decoded frame's indices.
    Delta,
}

impl FrameKind {
    /// The kind a chunk's flags byte names.
    pub(crate) fn of_flags(flags: u8) -> Self {
        if flags & FLAG_DELTA != 0 {
            FrameKind::Delta
        } else {
            FrameKind::Key
        }
    }
}

/// Colour layout of the source, so a decoder can write its output back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SourceChroma {
    /// 4:2:0.
    C420 = 0,
    /// 4:2:2.
    C422 = 1,
    /// 4:4:4 (or RGB sources).
    C444 = 2,
    /// Luma only.
    Mono = 3,
}

impl SourceChroma {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::C420,
            1 => Self::C422,
            2 => Self::C444,
            3 => Self::Mono,
            _ => return None,
        })
    }
}

/// The sequence header, with the codebook block that may follow it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    /// Id of the weights the stream was made with ([`crate::id_of`] of the weight file).
    pub model_id: u64,
    /// 0: the model's own codebooks; else [`CodebookPatch::id`] of the codebook the header
    /// carries (use [`Header::with_codebook`] to set both).
    pub codebook_id: u64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator; a chunk's timestamp counts units of `fps_den / fps_num` s.
    pub fps_den: u32,
    /// Frames in the stream, or 0 when unknown (live encoding).
    pub frame_count: u32,
    /// RVQ levels of the model.
    pub levels: u8,
    /// log2 of the codebook size.
    pub codebook_bits: u8,
    /// Pixels per latent position along each axis.
    pub downsample: u8,
    /// Source chroma layout (informative).
    pub chroma: SourceChroma,
    /// Fine-motion range in pixels per axis, 0..=7 (0: the stream codes only whole-position
    /// motion); the model's motion maps must have this range (docs/bitstream.md, "Fine
    /// motion").
    pub fine_motion: u8,
    /// Slices each frame is coded in, 1..=[`crate::MAX_SLICES`] and at most the latent rows:
    /// bands of latent rows coded apart, each with its own models (docs/bitstream.md,
    /// "Slices"), so that a decoder may decode them at once.
    pub slices: u8,
    /// Enhancement values each position may refine with scalar coefficients, 0..=
    /// [`crate::MAX_ENHANCE_DIMS`] (0: none): the model's last latent values
    /// (docs/bitstream.md, "Enhancement coefficients"; version 9).
    pub enhance_dims: u8,
    /// Codebook levels adapted to this stream's footage (`vqcodec adapt`), carried after the
    /// fixed header; a decoder draws the stream's indices from these levels instead of the
    /// model's own.
    #[serde(skip)]
    pub codebook: Option<CodebookPatch>,
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from(le_u32(b, at)) | (u64::from(le_u32(b, at + 4)) << 32)
}

impl Header {
    /// This header carrying `patch` (its id goes in `codebook_id`), or the model's own
    /// codebooks for `None`.
    pub fn with_codebook(mut self, patch: Option<CodebookPatch>) -> Self {
        self.codebook_id = patch.as_ref().map_or(0, CodebookPatch::id);
        self.codebook = patch;
        self
    }

    /// Bytes the header takes in the stream: 60, plus the codebook block when there is one.
    pub fn byte_len(&self) -> usize {
        HEADER_LEN + self.codebook.as_ref().map_or(0, |p| 4 + p.byte_len())
    }

    /// Latent grid `(rows, columns)`.
    pub fn latent_size(&self) -> (usize, usize) {
        let s = usize::from(self.downsample.max(1));
        (
            (self.height as usize).div_ceil(s),
            (self.width as usize).div_ceil(s),
        )
    }

    /// Serialises the header ([`Header::byte_len`] bytes: the fixed 60, then the codebook
    /// block if any).
    pub fn to_bytes(&self) -> Vec<u8> {
        let patch = self.codebook.as_ref().map(CodebookPatch::to_bytes);
        let mut b = Vec::with_capacity(HEADER_LEN + patch.as_ref().map_or(0, |p| 4 + p.len()));
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        let flags = if patch.is_some() { FLAG_CODEBOOK } else { 0 };
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&self.model_id.to_le_bytes());
        b.extend_from_slice(&self.codebook_id.to_le_bytes());
        for v in [
            self.width,
            self.height,
            self.fps_num,
            self.fps_den,
            self.frame_count,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[
            self.levels,
            self.codebook_bits,
            self.downsample,
            0, // colour: RGB from BT.601 limited-range Y'CbCr
            self.chroma as u8,
            self.fine_motion,
            self.slices,
            self.enhance_dims,
        ]);
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(b.len(), HEADER_LEN);
        if let Some(p) = patch {
            debug_assert_eq!(self.codebook_id, crate::id_of(&p));
            b.extend_from_slice(&(p.len() as u32).to_le_bytes());
            b.extend_from_slice(&p);
        }
        b
    }

    /// Parses and checks a header at the start of `bytes`, with its codebook block if the
    /// flags say one follows (then `bytes` must hold it too; [`Header::byte_len`] tells where
    /// the first chunk starts).
    ///
    /// # Errors
    /// [`StreamError::Truncated`], [`StreamError::NotVqc`], [`StreamError::Version`],
    /// [`StreamError::HeaderCrc`], [`StreamError::Unsupported`],
    /// [`StreamError::LimitExceeded`] or [`StreamError::Malformed`]: every field is checked
    /// here, before a caller allocates anything from it; a codebook block's length is checked
    /// against [`Limits::max_codebook_bytes`] and the bytes present before it is read, and its
    /// content against the id the header names and the model's sizes.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Header, StreamError> {
        if bytes.len() < 8 {
            return Err(if bytes.len() >= 4 && bytes[..4] != MAGIC {
                StreamError::NotVqc
            } else {
                StreamError::Truncated {
                    offset: bytes.len() as u64,
                    frames: 0,
                }
            });
        }
        if bytes[..4] != MAGIC {
            return Err(StreamError::NotVqc);
        }
        let version = le_u16(bytes, 4);
        if version != VERSION {
            return Err(StreamError::Version(version));
        }
        let len = usize::from(le_u16(bytes, 6));
        if len != HEADER_LEN {
            return Err(StreamError::Malformed(format!(
                "header length {len} (version {VERSION} has {HEADER_LEN})"
            )));
        }
        if bytes.len() < HEADER_LEN {
            return Err(StreamError::Truncated {
                offset: bytes.len() as u64,
                frames: 0,
            });
        }
        let crc = le_u32(bytes, HEADER_LEN - 4);
        if crc32fast::hash(&bytes[..HEADER_LEN - 4]) != crc {
            return Err(StreamError::HeaderCrc);
        }
        let flags = le_u32(bytes, 8);
        if flags & !FLAG_CODEBOOK != 0 {
            return Err(StreamError::Unsupported(format!("header flags {flags:#x}")));
        }
        let mut h = Header {
            model_id: le_u64(bytes, 12),
            codebook_id: le_u64(bytes, 20),
            width: le_u32(bytes, 28),
            height: le_u32(bytes, 32),
            fps_num: le_u32(bytes, 36),
            fps_den: le_u32(bytes, 40),
            frame_count: le_u32(bytes, 44),
            levels: bytes[48],
            codebook_bits: bytes[49],
            downsample: bytes[50],
            chroma: SourceChroma::from_u8(bytes[52])
                .ok_or_else(|| StreamError::Malformed(format!("chroma code {}", bytes[52])))?,
            fine_motion: bytes[53],
            slices: bytes[54],
            enhance_dims: bytes[55],
            codebook: None,
        };
        if bytes[51] != 0 {
            return Err(StreamError::Unsupported(format!(
                "colour code {}",
                bytes[51]
            )));
        }
        h.check(limits)?;
        if flags & FLAG_CODEBOOK == 0 {
            if h.codebook_id != 0 {
                return Err(StreamError::Malformed(format!(
                    "codebook id {:016x} without a codebook block",
                    h.codebook_id
                )));
            }
            return Ok(h);
        }
        h.codebook = Some(Self::parse_codebook(bytes, &h, limits)?);
        Ok(h)
    }

    /// The codebook block after the fixed header: u32 LE length, then a `.codebook` file.
    fn parse_codebook(
        bytes: &[u8],
        h: &Header,
        limits: &Limits,
    ) -> Result<CodebookPatch, StreamError> {
        let cut = || StreamError::Truncated {
            offset: bytes.len() as u64,
            frames: 0,
        };
        let len_bytes = bytes.get(HEADER_LEN..HEADER_LEN + 4).ok_or_else(cut)?;
        let len = le_u32(len_bytes, 0);
        if len > limits.max_codebook_bytes {
            return Err(StreamError::LimitExceeded {
                what: "codebook block".into(),
                value: len.into(),
                max: limits.max_codebook_bytes.into(),
            });
        }
        let start = HEADER_LEN + 4;
        let block = bytes.get(start..start + len as usize).ok_or_else(cut)?;
        if crate::id_of(block) != h.codebook_id {
            return Err(StreamError::Malformed(format!(
                "the codebook block is not codebook {:016x} (damaged or replaced)",
                h.codebook_id
            )));
        }
        let patch = CodebookPatch::parse(block)?;
        if patch.model_id != h.model_id
            || patch.levels != usize::from(h.levels)
            || patch.size != 1usize << h.codebook_bits
        {
            return Err(StreamError::Malformed(format!(
                "the stream's codebook ({} levels of {} codes, model {:016x}) does not fit its header",
                patch.levels, patch.size, patch.model_id
            )));
        }
        Ok(patch)
    }

    /// Checks the fields against `limits` and against what this version can express.
    ///
    /// # Errors
    /// [`StreamError::LimitExceeded`] or [`StreamError::Malformed`].
    pub fn check(&self, limits: &Limits) -> Result<(), StreamError> {
        let limit = |what: &str, value: u64, max: u64| {
            if value > max {
                Err(StreamError::LimitExceeded {
                    what: what.to_string(),
                    value,
                    max,
                })
            } else {
                Ok(())
            }
        };
        if self.fine_motion > crate::motion::MAX_FINE_RANGE {
            return Err(StreamError::Malformed(format!(
                "fine-motion range {} (at most {})",
                self.fine_motion,
                crate::motion::MAX_FINE_RANGE
            )));
        }
        if self.width == 0 || self.height == 0 {
            return Err(StreamError::Malformed(format!(
                "frame size {}x{}",
                self.width, self.height
            )));
        }
        limit("width", self.width.into(), limits.max_width.into())?;
        limit("height", self.height.into(), limits.max_height.into())?;
        limit(
            "pixels per frame",
            u64::from(self.width) * u64::from(self.height),
            limits.max_pixels,
        )?;
        limit("frame count", self.frame_count.into(), limits.max_frames)?;
        if self.fps_num == 0 || self.fps_den == 0 {
            return Err(StreamError::Malformed(format!(
                "frame rate {}/{}",
                self.fps_num, self.fps_den
            )));
        }
        if !(1..=MAX_LEVELS).contains(&self.levels) {
            return Err(StreamError::Malformed(format!("{} levels", self.levels)));
        }
        if !(1..=12).contains(&self.codebook_bits) {
            return Err(StreamError::Malformed(format!(
                "codebook of 2^{} codes",
                self.codebook_bits
            )));
        }
        if !(1..=64).contains(&self.downsample) {
            return Err(StreamError::Malformed(format!(
                "downsample {}",
                self.downsample
            )));
        }
        if usize::from(self.enhance_dims) > crate::coefs::MAX_ENHANCE_DIMS {
            return Err(StreamError::Malformed(format!(
                "{} enhancement values (at most {})",
                self.enhance_dims,
                crate::coefs::MAX_ENHANCE_DIMS
            )));
        }
        self.check_slices()
    }

    /// Checks the slice count: 1 to [`max_slices`] for this header's grid and models.
    ///
    /// # Errors
    /// [`StreamError::Malformed`] otherwise.
    pub fn check_slices(&self) -> Result<(), StreamError> {
        let rows = self.latent_size().0;
        let most = max_slices(rows, self.levels.into(), self.codebook_bits.into());
        if !(1..=most).contains(&usize::from(self.slices)) {
            return Err(StreamError::Malformed(format!(
                "{} slices on {rows} latent rows, {} levels of 2^{} codes (1 to {most} here)",
                self.slices, self.levels, self.codebook_bits
            )));
        }
        Ok(())
    }
}

/// Codes a stream's slices may hold models for in all: `slices × levels × 2^bits` is at most
/// this (each slice keeps its own index models, which grow with the codebooks), so that the
/// slices of a hostile header cost no more memory than one slice of the largest models did
/// (about 13 MB).
pub const MAX_SLICE_CODES: usize = 1 << 16;

/// The most RVQ levels a stream (and so a model the format can carry) has.
pub const MAX_LEVELS: u8 = 15;

/// The most slices a frame of `rows` latent rows may be coded in with `levels` levels of
/// `2^bits` codes: [`crate::MAX_SLICES`], at most one per row and within
/// [`MAX_SLICE_CODES`] (at least 1).
pub fn max_slices(rows: usize, levels: usize, bits: u32) -> usize {
    let codes = levels.max(1) << bits.min(16);
    crate::MAX_SLICES
        .min(rows)
        .min(MAX_SLICE_CODES / codes)
        .max(1)
}

/// One chunk: a frame's header fields and its (CRC-checked) payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Key or delta.
    pub kind: FrameKind,
    /// RVQ levels coded in this frame (1..=the model's levels).
    pub levels: u8,
    /// The frame's enhancement step index (1..=[`crate::MAX_STEP`]; 0: no coefficients).
    pub step: u8,
    /// Presentation time in units of the header's `fps_den / fps_num` seconds.
    pub pts: u32,
    /// Byte offset of the chunk in the stream.
    pub offset: u64,
    /// Bytes of the whole chunk, header included.
    pub len: usize,
    /// The range-coded symbols (after the step, if any).
    pub payload: &'a [u8],
}

/// Serialises a chunk: header ([`chunk_header_len`] bytes) + the step if not 0 + payload.
pub fn write_chunk(kind: FrameKind, levels: u8, step: u8, pts: u32, payload: &[u8]) -> Vec<u8> {
    debug_assert!((1..=15).contains(&levels));
    let stepped = usize::from(step > 0);
    let len = u32::try_from(payload.len() + stepped).expect("a chunk payload under 4 GiB");
    let mut b = Vec::with_capacity(chunk_header_len(pts, len as usize) + len as usize);
    b.push(SYNC);
    let flags = (levels & 0x0F)
        | if kind == FrameKind::Delta {
            FLAG_DELTA
        } else {
            0
        }
        | if step > 0 { FLAG_STEP } else { 0 };
    b.push(flags);
    put_varint(&mut b, pts);
    put_varint(&mut b, len);
    let mut h = crc32fast::Hasher::new();
    h.update(&b);
    let step = [step];
    h.update(&step[..stepped]);
    h.update(payload);
    b.extend_from_slice(&h.finalize().to_le_bytes());
    b.extend_from_slice(&step[..stepped]);
    b.extend_from_slice(payload);
    b
}

/// Walks the chunks of a stream held in memory.
///
/// Yields each chunk or the error that stopped it. After a damaged chunk it scans forward for
/// the next sync byte whose chunk passes its CRC and goes on from there; after a cut it stops.
#[derive(Debug, Clone)]
pub struct ChunkReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    header: Header,
    limits: Limits,
    chunks: u64,
    done: bool,
}

impl<'a> Chunk<'a> {
    /// Parses and checks the chunk at the start of `bytes` (found at stream byte `offset`);
    /// returns it and its length in bytes.
    ///
    /// # Errors
    /// [`StreamError::Truncated`] if `bytes` ends inside the chunk, [`StreamError::ChunkCrc`]
    /// for a missing sync byte, a varint that is not a `u32`'s shortest form, or a CRC
    /// mismatch, [`StreamError::LimitExceeded`] for a length over `limits` (checked before the
    /// CRC reads the payload), [`StreamError::Unsupported`] or [`StreamError::Malformed`] for
    /// fields this version does not allow.
    pub fn parse(
        bytes: &'a [u8],
        offset: u64,
        header: &Header,
        limits: &Limits,
    ) -> Result<(Chunk<'a>, usize), StreamError> {
        let cut = StreamError::Truncated { offset, frames: 0 };
        let damaged = StreamError::ChunkCrc { offset };
        if bytes.len() < MIN_CHUNK_HEADER_LEN {
            return Err(cut);
        }
        if bytes[0] != SYNC {
            return Err(damaged);
        }
        let flags = bytes[1];
        let Some((pts, n)) = get_varint(&bytes[2..]).map_err(|()| damaged.clone())? else {
            return Err(cut);
        };
        let at = 2 + n;
        let Some((len, n)) = get_varint(&bytes[at..]).map_err(|()| damaged.clone())? else {
            return Err(cut);
        };
        let crc_at = at + n;
        if len > limits.max_chunk_bytes {
            return Err(StreamError::LimitExceeded {
                what: format!("chunk payload at byte {offset}"),
                value: len.into(),
                max: limits.max_chunk_bytes.into(),
            });
        }
        let start = crc_at + 4;
        // (a length near 4 GiB under a caller's raised limit cannot overflow on 32-bit targets)
        let Some(total) = start.checked_add(len as usize) else {
            return Err(cut);
        };
        if bytes.len() < total {
            return Err(cut);
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&bytes[..crc_at]);
        h.update(&bytes[start..total]);
        if h.finalize() != le_u32(bytes, crc_at) {
            return Err(damaged);
        }
        if flags & FLAG_RESERVED != 0 {
            return Err(StreamError::Unsupported(format!(
                "chunk flags {flags:#x} at byte {offset}"
            )));
        }
        let levels = flags & 0x0F;
        if levels == 0 || levels > header.levels {
            return Err(StreamError::Malformed(format!(
                "chunk at byte {offset} codes {levels} levels (model has {})",
                header.levels
            )));
        }
        let kind = FrameKind::of_flags(flags);
        let mut payload = &bytes[start..total];
        let mut step = 0;
        if flags & FLAG_STEP != 0 {
            step = payload.first().copied().unwrap_or(0);
            if header.enhance_dims == 0 || !(1..=crate::MAX_STEP).contains(&step) {
                return Err(StreamError::Malformed(format!(
                    "chunk at byte {offset}: enhancement step {step} in a stream of {} refined values",
                    header.enhance_dims
                )));
            }
            payload = &payload[1..];
        }
        Ok((
            Chunk {
                kind,
                levels,
                step,
                pts,
                offset,
                len: total,
                payload,
            },
            total,
        ))
    }
}

/// Result of checking the chunk that starts at a position.
enum Probe<'a> {
    Ok(Chunk<'a>, usize),
    Bad(StreamError),
    Cut,
}

impl<'a> ChunkReader<'a> {
    /// Parses the header of `bytes` and positions the reader on the first chunk.
    ///
    /// # Errors
    /// As [`Header::parse`].
    pub fn new(bytes: &'a [u8], limits: Limits) -> Result<Self, StreamError> {
        let header = Header::parse(bytes, &limits)?;
        Ok(Self {
            bytes,
            pos: header.byte_len(),
            header,
            limits,
            chunks: 0,
            done: false,
        })
    }

    /// The sequence header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Byte offset of the next chunk.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    fn probe(&self, at: usize) -> Probe<'a> {
        match Chunk::parse(&self.bytes[at..], at as u64, &self.header, &self.limits) {
            Ok((chunk, len)) => Probe::Ok(chunk, len),
            Err(StreamError::Truncated { .. }) => Probe::Cut,
            Err(e) => Probe::Bad(e),
        }
    }

    /// Scans forward from `from` for the next chunk that passes its checks. A sync byte whose
    /// flags this stream cannot have is passed over before its CRC is computed.
    fn resync(&self, from: usize) -> Option<usize> {
        let mut at = from;
        while at + MIN_CHUNK_HEADER_LEN <= self.bytes.len() {
            at += self.bytes[at..].iter().position(|&b| b == SYNC)?;
            let flags = self.bytes.get(at + 1).copied().unwrap_or(0);
            let levels = flags & 0x0F;
            let plausible =
                flags & FLAG_RESERVED == 0 && levels >= 1 && levels <= self.header.levels;
            if plausible && let Probe::Ok(..) = self.probe(at) {
                return Some(at);
            }
            at += 1;
        }
        None
    }
}

impl<'a> Iterator for ChunkReader<'a> {
    type Item = Result<Chunk<'a>, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.bytes.len() {
            return None;
        }
        if self.chunks >= self.limits.max_frames {
            self.done = true;
            return Some(Err(StreamError::LimitExceeded {
                what: "frames".into(),
                value: self.chunks + 1,
                max: self.limits.max_frames,
            }));
        }
        let at = self.pos;
        match self.probe(at) {
            Probe::Ok(chunk, len) => {
                self.pos = at + len;
                self.chunks += 1;
                Some(Ok(chunk))
            }
            Probe::Cut => {
                // a cut, unless a later chunk parses (then this one was damaged)
                match self.resync(at + 1) {
                    Some(next) => {
                        self.pos = next;
                        Some(Err(StreamError::ChunkCrc { offset: at as u64 }))
                    }
                    None => {
                        self.done = true;
                        Some(Err(StreamError::Truncated {
                            offset: at as u64,
                            frames: self.chunks,
                        }))
                    }
                }
            }
            Probe::Bad(e) => {
                match self.resync(at + 1) {
                    Some(next) => self.pos = next,
                    None => self.done = true,
                }
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length_and_refuse_other_forms() {
        for v in [
            0u32,
            1,
            0x7F,
            0x80,
            0x3FFF,
            0x4000,
            0x1F_FFFF,
            0x20_0000,
            0x0FFF_FFFF,
        ] {
            for v in [v, v.saturating_add(1)] {
                let mut b = Vec::new();
                put_varint(&mut b, v);
                assert_eq!(b.len(), varint_len(v), "{v:#x}");
                assert_eq!(get_varint(&b), Ok(Some((v, b.len()))));
                // cut anywhere inside: not yet a varint
                assert_eq!(get_varint(&b[..b.len() - 1]), Ok(None));
            }
        }
        let mut max = Vec::new();
        put_varint(&mut max, u32::MAX);
        assert_eq!(max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        assert_eq!(get_varint(&max), Ok(Some((u32::MAX, 5))));
        // beyond 32 bits, six bytes, or a longer form than needed: damage
        assert_eq!(get_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x1F]), Err(()));
        assert_eq!(get_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), Err(()));
        assert_eq!(get_varint(&[0x81, 0x00]), Err(()));
    }

    /// A 64×48 stream of 3 levels of 128 codes, one slice.
    fn small_header() -> Header {
        Header {
            model_id: 1,
            codebook_id: 0,
            width: 64,
            height: 48,
            fps_num: 30,
            fps_den: 1,
            frame_count: 0,
            levels: 3,
            codebook_bits: 7,
            downsample: 8,
            chroma: SourceChroma::C420,
            fine_motion: 0,
            slices: 1,
            enhance_dims: 0,
            codebook: None,
        }
    }

    /// A header's slices: at most 16, one per latent row, and within the models' memory bound
    /// (the largest models: one slice); a header built by hand reaches no decoder unchecked.
    #[test]
    fn slice_counts_are_bounded_by_rows_and_models() {
        let h = Header {
            width: 1920,
            height: 1080,
            slices: 16,
            ..small_header()
        };
        let limits = Limits::default();
        assert!(h.check(&limits).is_ok());
        let malformed = |h: Header| matches!(h.check(&limits), Err(StreamError::Malformed(m)) if m.contains("slices"));
        assert!(malformed(Header {
            slices: 0,
            ..h.clone()
        }));
        assert!(malformed(Header {
            slices: 17,
            ..h.clone()
        }));
        // 135 rows: 16 slices; 2 rows: 2
        assert!(malformed(Header {
            height: 16,
            slices: 3,
            ..h.clone()
        }));
        assert!(
            Header {
                height: 16,
                slices: 2,
                ..h.clone()
            }
            .check(&limits)
            .is_ok()
        );
        // the largest models (15 levels of 4096 codes): one slice
        let big = Header {
            levels: 15,
            codebook_bits: 12,
            slices: 2,
            ..h.clone()
        };
        assert!(malformed(big.clone()));
        assert!(Header { slices: 1, ..big }.check(&limits).is_ok());
        assert_eq!(max_slices(135, 15, 12), 1);
        assert_eq!(max_slices(135, 12, 8), 16);
        assert_eq!(max_slices(135, 12, 10), 5);
        assert_eq!(max_slices(3, 3, 7), 3);
        assert!(matches!(
            crate::Decoder::new(
                &Header {
                    slices: 0,
                    ..h.clone()
                },
                None
            ),
            Err(StreamError::Malformed(_))
        ));
        assert!(crate::Decoder::new(&h, None).is_ok());
    }

    /// Every cut inside a chunk is `Truncated`, whatever the varints' lengths; a varint in a
    /// longer form than needed, or beyond 32 bits, is damage (`ChunkCrc`); a good chunk parses.
    #[test]
    fn chunk_headers_cut_or_damaged_are_told_apart() {
        let header = small_header();
        let limits = Limits::default();
        let parse = |b: &[u8]| {
            Chunk::parse(b, 100, &header, &limits).map(|(c, n)| (c.pts, c.payload.len(), n))
        };
        for (pts, len) in [
            (0u32, 0usize),
            (5, 200),
            (300, 20_000),
            (3_000_000, 3),
            (u32::MAX, 70),
        ] {
            let c = write_chunk(FrameKind::Delta, 2, 0, pts, &vec![9; len]);
            assert_eq!(parse(&c), Ok((pts, len, c.len())));
            for cut in 0..c.len() {
                assert_eq!(
                    parse(&c[..cut]),
                    Err(StreamError::Truncated {
                        offset: 100,
                        frames: 0
                    }),
                    "pts {pts}, {len} bytes, cut at {cut}"
                );
            }
        }
        let damaged = Err(StreamError::ChunkCrc { offset: 100 });
        // pts 1 written as two bytes; a six-byte pts; a length beyond 32 bits
        let mut long = vec![SYNC, 0x82, 0x81, 0x00, 0x00];
        long.extend_from_slice(&[0; 8]);
        assert_eq!(parse(&long), damaged);
        assert_eq!(
            parse(&[SYNC, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0, 0, 0]),
            damaged
        );
        assert_eq!(
            parse(&[SYNC, 0x82, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]),
            damaged
        );
        // no sync byte
        let mut c = write_chunk(FrameKind::Key, 3, 0, 7, &[1, 2, 3]);
        c[0] = b'Q';
        assert_eq!(parse(&c), damaged);
    }

    #[test]
    fn a_chunk_header_takes_eight_to_sixteen_bytes() {
        assert_eq!(chunk_header_len(0, 0), MIN_CHUNK_HEADER_LEN);
        assert_eq!(chunk_header_len(127, 127), 8);
        assert_eq!(chunk_header_len(128, 20_000), 11);
        assert_eq!(
            chunk_header_len(u32::MAX, u32::MAX as usize),
            MAX_CHUNK_HEADER_LEN
        );
        for (pts, len) in [(0u32, 0usize), (5, 300), (70_000, 3), (u32::MAX, 1 << 20)] {
            let c = write_chunk(FrameKind::Delta, 3, 0, pts, &vec![7; len]);
            assert_eq!(c.len(), chunk_header_len(pts, len) + len);
        }
    }
}
