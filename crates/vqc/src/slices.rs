//! A frame's slices read apart: the entropy decoding of [`crate::Decoder`] spread over decoders that
//! share no memory (the browser's workers), each reading some of the stream's slices with their
//! own models. A [`SliceDecoder`] turns each chunk into a *part* (bytes: its slices' symbols, or
//! why they make no frame); [`crate::Decoder::decode_parts`] takes one chunk's parts, from decoders
//! that cover every slice once, instead of decoding the chunk itself, and goes on as
//! [`crate::Decoder::decode_shared`] does (the reconstruction, the reference, errors and resync).
//!
//! Slices share nothing within a frame, and a slice's models go from frame to frame on their
//! own, reset at every keyframe: so a decoder of some slices needs no other state than its
//! models. It reads every chunk it is given, also delta frames that a [`crate::Decoder`] without a
//! reference refuses; what it makes of those is dropped, and the next keyframe resets it.
//!
//! A part is our own bytes between our own decoders, not a format: its layout may change with
//! any release. [`crate::Decoder::decode_parts`] still checks everything in it (the chunk it was made
//! from, the slices, every symbol against what a decoder can read) so that parts from another
//! chunk or another stream fail with a [`ConfigError`] and never make a wrong frame or a panic.

use std::ops::Range;

use crate::container::{Chunk, FrameKind, Header};
use crate::error::ConfigError;
use crate::syntax::{
    Contexts, FAR_COUNT, FIRST_FINE, Mode, NONE, TokenState, decode_slice, first_level,
    frame_slices, join_states, slice_rows, starts,
};

/// What a part starts with.
const MAGIC: &[u8; 4] = b"VQSP";

/// Reads some of a stream's slices of every chunk (see the module's documentation).
#[derive(Debug, Clone)]
pub struct SliceDecoder {
    header: Header,
    slices: Range<usize>,
    ctx: Contexts,
}

impl SliceDecoder {
    /// A decoder of slices `slices` (a nonempty range of `0..header.slices`) of the stream
    /// with `header`.
    ///
    /// # Errors
    /// [`ConfigError::Option`] for slices the stream does not have, or a header whose slice
    /// count the format does not allow (one not from [`Header::parse`], which checks it).
    pub fn new(header: &Header, slices: Range<usize>) -> Result<Self, ConfigError> {
        let count = usize::from(header.slices);
        if let Err(e) = header.check_slices() {
            return Err(ConfigError::Option(format!("a header that says {e}")));
        }
        if slices.is_empty() || slices.end > count {
            return Err(ConfigError::Option(format!(
                "slices {}..{} of a stream of {count}",
                slices.start, slices.end
            )));
        }
        Ok(Self {
            ctx: Contexts::for_header(header),
            header: header.clone(),
            slices,
        })
    }

    /// The slices this decoder reads.
    pub fn slices(&self) -> Range<usize> {
        self.slices.clone()
    }

    /// This decoder's part of `chunk` (a chunk of its stream, as [`Chunk::parse`] gives it):
    /// its slices' symbols, or why they make no frame. Never fails: a payload that does not
    /// decode says so in the part, and [`crate::Decoder::decode_parts`] reports it as the stream's
    /// error.
    pub fn decode(&mut self, chunk: &Chunk<'_>) -> Vec<u8> {
        if chunk.kind == FrameKind::Key {
            self.ctx = Contexts::for_header(&self.header);
        }
        let h = &self.header;
        let (height, width) = h.latent_size();
        let (levels, slices) = (usize::from(h.levels), usize::from(h.slices));
        let codebook_size = 1usize << h.codebook_bits;
        let mut out = preamble(chunk, &self.slices);
        match frame_slices(chunk.payload, chunk.step, self.ctx.enhance_dims(), slices) {
            Err(reason) => put_error(&mut out, &reason),
            Ok(parts) => {
                out.push(0);
                let models = self.ctx.slice_models();
                for k in self.slices.clone() {
                    let rows = slice_rows(height, slices, k);
                    let decoded = decode_slice(
                        parts[k],
                        chunk.kind,
                        (chunk.levels.into(), chunk.step),
                        (levels, rows.len(), width),
                        codebook_size,
                        &mut models[k],
                    );
                    match decoded {
                        Ok(state) => {
                            out.push(0);
                            put_state(&mut out, &state);
                        }
                        Err(reason) => put_error(&mut out, &reason),
                    }
                }
            }
        }
        out
    }
}

/// A part's first bytes: the magic, the chunk it is made from (its payload's CRC, timestamp,
/// kind, levels and step) and its slices.
fn preamble(chunk: &Chunk<'_>, slices: &Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc_of(chunk).to_le_bytes());
    out.extend_from_slice(&chunk.pts.to_le_bytes());
    out.extend_from_slice(&[
        u8::from(chunk.kind == FrameKind::Delta),
        chunk.levels,
        chunk.step,
        slices.start as u8,
        slices.len() as u8,
    ]);
    out
}

fn crc_of(chunk: &Chunk<'_>) -> u32 {
    crc32fast::hash(chunk.payload)
}

fn put_error(out: &mut Vec<u8>, reason: &str) {
    out.push(1);
    out.extend_from_slice(&(reason.len() as u32).to_le_bytes());
    out.extend_from_slice(reason.as_bytes());
}

/// A slice's symbols: modes, motions, far motions, the levels' indices (level-major) and the
/// coefficients when the frame has a step; the sizes are the chunk's and the header's.
fn put_state(out: &mut Vec<u8>, s: &TokenState) {
    out.extend(s.mode.iter().map(|m| m.code()));
    out.extend_from_slice(&s.motion);
    out.extend_from_slice(&s.far);
    for v in &s.idx {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for c in &s.coef {
        out.extend_from_slice(&c.to_le_bytes());
    }
}

/// Reads a part's bytes in order; `None` where they end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Some(a)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A status byte: `Ok(())` for symbols to follow, `Err(reason)` for an error message.
    fn status(&mut self) -> Option<Result<(), String>> {
        match self.byte()? {
            0 => Some(Ok(())),
            1 => {
                let len = self.u32()? as usize;
                let text = self.take(len)?;
                Some(Err(String::from_utf8_lossy(text).into_owned()))
            }
            _ => None,
        }
    }
}

/// What the decoder of a chunk's parts needs to know of the stream to check them.
struct Frame<'c> {
    chunk: &'c Chunk<'c>,
    levels: usize,
    height: usize,
    width: usize,
    slices: usize,
    codebook_size: usize,
    fine_range: u8,
    dims: usize,
}

impl Frame<'_> {
    /// The symbols of slice `k` from `r`, checked against what [`decode_slice`] can make.
    fn read_state(&self, r: &mut Reader<'_>, k: usize) -> Result<TokenState, String> {
        let c = self.chunk;
        let rows = slice_rows(self.height, self.slices, k).len();
        let m = rows * self.width;
        let coded = usize::from(c.levels).clamp(1, self.levels);
        let mut s = TokenState::empty(self.levels, rows, self.width, coded)
            .with_enhancement(self.dims, c.step);
        let cut = || format!("slice {k}'s symbols are cut short");
        let modes = r.take(m).ok_or_else(cut)?;
        s.motion.copy_from_slice(r.take(m).ok_or_else(cut)?);
        s.far.copy_from_slice(r.take(m).ok_or_else(cut)?);
        let idx = r.take(2 * self.levels * m).ok_or_else(cut)?;
        for (v, b) in s.idx.iter_mut().zip(idx.chunks_exact(2)) {
            *v = u16::from_le_bytes([b[0], b[1]]);
        }
        let coef = r.take(4 * s.coef.len()).ok_or_else(cut)?;
        for (v, b) in s.coef.iter_mut().zip(coef.chunks_exact(4)) {
            *v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let starts = starts(coded);
        let moves = usize::from(FIRST_FINE)
            + if self.fine_range > 0 {
                crate::motion::fine_count(self.fine_range)
            } else {
                0
            };
        let bad = |p: usize, what: &str| format!("slice {k}, position {p}: {what}");
        for (p, &code) in modes.iter().enumerate() {
            let mode = match code {
                0 => Mode::Intra,
                1 if c.kind == FrameKind::Delta => Mode::Copy,
                s if c.kind == FrameKind::Delta && starts.contains(&s.wrapping_sub(2)) => {
                    Mode::Inter(s - 2)
                }
                _ => return Err(bad(p, "a mode the frame cannot hold")),
            };
            s.mode[p] = mode;
            let moved = s.motion[p] != 0 || s.far[p] != 0;
            if (mode == Mode::Intra && moved)
                || usize::from(s.motion[p]) >= moves
                || usize::from(s.far[p]) > FAR_COUNT
            {
                return Err(bad(p, "a motion the frame cannot hold"));
            }
            // indices from the mode's first level on, at least one, then none
            let first = first_level(mode);
            let mut end = first.unwrap_or(0);
            for l in 0..self.levels {
                let v = s.idx[l * m + p];
                let coded_here = first.is_some_and(|f| l >= f) && l == end && l < coded;
                if coded_here && usize::from(v) < self.codebook_size {
                    end += 1;
                } else if v != NONE || (coded_here && l == first.unwrap_or(0)) {
                    return Err(bad(p, "indices the frame cannot hold"));
                }
            }
            let d = self.dims;
            if !s.coef.is_empty() {
                let cs = &s.coef[p * d..(p + 1) * d];
                let most = crate::coefs::MAX_DECODED.unsigned_abs();
                if cs
                    .iter()
                    .any(|&v| v.unsigned_abs() > most || (mode == Mode::Copy && v != 0))
                {
                    return Err(bad(p, "coefficients the frame cannot hold"));
                }
            }
        }
        Ok(s)
    }
}

/// The frame that `parts` (of [`SliceDecoder`]s) make of `chunk` of the stream with `header`:
/// `Ok(Err)` the stream's error when its payload makes no frame; `Err` for parts that are not
/// this chunk's.
pub(crate) fn join_parts(
    header: &Header,
    chunk: &Chunk<'_>,
    parts: &[&[u8]],
) -> Result<Result<TokenState, String>, String> {
    let (height, width) = header.latent_size();
    let frame = Frame {
        chunk,
        levels: usize::from(header.levels),
        height,
        width,
        slices: usize::from(header.slices),
        codebook_size: 1 << header.codebook_bits,
        fine_range: header.fine_motion,
        dims: usize::from(header.enhance_dims),
    };
    // whether the payload makes a frame at all is the chunk's to say, not the parts'
    let whole = frame_slices(chunk.payload, chunk.step, frame.dims, frame.slices).map(|_| ());
    let decoded = frame.read_parts(parts)?;
    if whole.is_ok() != decoded.is_ok() {
        return Err("the parts and the chunk disagree on whether it makes a frame".into());
    }
    Ok(whole.and(decoded).and_then(|states| {
        join_states(
            states,
            (frame.levels, height, width),
            (chunk.levels.into(), chunk.step),
            frame.dims,
        )
    }))
}

impl Frame<'_> {
    /// The slices' states from `parts` in slice order, or the stream's error for the frame
    /// (`Ok(Err)`); `Err` for parts that are not this chunk's.
    #[allow(clippy::type_complexity)]
    fn read_parts(
        &self,
        parts: &[&[u8]],
    ) -> Result<Result<Vec<Result<TokenState, String>>, String>, String> {
        let c = self.chunk;
        let mut states: Vec<Option<Result<TokenState, String>>> = vec![None; self.slices];
        let mut frame_error = None;
        let want = preamble(c, &(0..0));
        for (i, part) in parts.iter().enumerate() {
            let mut r = Reader { bytes: part };
            let head = r
                .take(want.len() - 2)
                .ok_or(format!("part {i} is cut short"))?;
            if head != &want[..want.len() - 2] {
                return Err(format!("part {i} is not of this chunk"));
            }
            let (first, count) = (r.byte(), r.byte());
            let (Some(first), Some(count)) = (first, count) else {
                return Err(format!("part {i} is cut short"));
            };
            let range = usize::from(first)..usize::from(first) + usize::from(count);
            if range.is_empty() || range.end > self.slices {
                return Err(format!(
                    "part {i} holds slices {range:?} of {}",
                    self.slices
                ));
            }
            let whole = r.status().ok_or(format!("part {i} is cut short"))?;
            for k in range {
                // every part of a payload that makes no frame says so, and nothing more
                let state = match &whole {
                    Err(reason) => {
                        frame_error = Some(reason.clone());
                        Err(String::new())
                    }
                    Ok(()) => match r.status().ok_or(format!("part {i} is cut short"))? {
                        Ok(()) => Ok(self.read_state(&mut r, k)?),
                        Err(reason) => Err(reason),
                    },
                };
                if states[k].replace(state).is_some() {
                    return Err(format!("slice {k} is in two parts"));
                }
            }
            if !r.bytes.is_empty() {
                return Err(format!("part {i} has {} bytes too many", r.bytes.len()));
            }
        }
        if let Some(k) = states.iter().position(Option::is_none) {
            return Err(format!("no part holds slice {k}"));
        }
        Ok(match frame_error {
            Some(reason) => Err(reason),
            None => Ok(states.into_iter().flatten().collect()),
        })
    }
}
