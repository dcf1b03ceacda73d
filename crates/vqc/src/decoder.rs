//! The stream decoder: chunks in, code indices (and, given the model's codebooks, the latent
//! they reconstruct) out. Pure integer work; no model needed beyond its id, sizes and codebooks.

use std::sync::Arc;

use crate::ModelInfo;
use crate::codebook::Codebooks;
use crate::container::{Chunk, ChunkReader, FrameKind, Header, Limits};
use crate::error::{ConfigError, StreamError};
use crate::syntax::{Contexts, TokenState, decode_frame};

/// Decodes chunks of one stream into [`TokenState`]s.
#[derive(Debug, Clone)]
pub struct Decoder {
    header: Header,
    grid: (usize, usize),
    ctx: Contexts,
    /// The last frame decoded: the reference of the next, shared with whoever took it from
    /// [`Decoder::decode_shared`].
    prev: Option<Arc<TokenState>>,
    books: Option<Codebooks>,
    /// The models were not carried through the last frame ([`Decoder::decode_parts`]): delta
    /// frames wait for a keyframe to decode here again.
    stale_models: bool,
}

impl Decoder {
    /// A decoder for a stream with `header`, checked against the `model` that will turn its
    /// indices into pixels (`None` to decode symbols only, as `vqcodec info` does).
    ///
    /// # Errors
    /// [`StreamError::ModelMismatch`] if the stream was made with other weights or sizes;
    /// [`StreamError::Malformed`] for a slice count the format does not allow (a header not
    /// from [`Header::parse`]).
    pub fn new(header: &Header, model: Option<&ModelInfo>) -> Result<Self, StreamError> {
        if let Some(m) = model {
            let fits = header.levels as usize == m.levels
                && 1usize << header.codebook_bits == m.codebook_size
                && header.downsample as usize == m.downsample;
            if header.model_id != m.id || !fits {
                return Err(StreamError::ModelMismatch {
                    stream: header.model_id,
                    decoder: m.id,
                });
            }
        }
        // a parsed header was checked; one built by hand may hold any count
        header.check_slices()?;
        Ok(Self {
            grid: header.latent_size(),
            ctx: Contexts::for_header(header),
            header: header.clone(),
            prev: None,
            books: None,
            stale_models: false,
        })
    }

    /// This decoder, reconstructing each frame's latent ([`TokenState::latent`]) with the
    /// model's own codebooks `books`, or the stream's adapted ones when its header carries a
    /// codebook (which holds differences from them).
    ///
    /// # Errors
    /// [`StreamError::ModelMismatch`] for codebooks of another shape than the header's, or a
    /// header codebook made for another model; [`StreamError::Malformed`] for a header codebook
    /// whose values the format cannot hold.
    pub fn with_codebooks(mut self, books: &Codebooks) -> Result<Self, StreamError> {
        let h = &self.header;
        if books.levels() != usize::from(h.levels) || books.size() != 1 << h.codebook_bits {
            return Err(StreamError::ModelMismatch {
                stream: h.model_id,
                decoder: h.model_id,
            });
        }
        if books.fine_range() != h.fine_motion || usize::from(h.enhance_dims) > books.dim() {
            return Err(StreamError::ModelMismatch {
                stream: h.model_id,
                decoder: h.model_id,
            });
        }
        let books = match &h.codebook {
            Some(patch) => patch.apply(h.model_id, books).map_err(|e| match e {
                crate::ConfigError::CodebookModel { codebook, model } => {
                    StreamError::ModelMismatch {
                        stream: codebook,
                        decoder: model,
                    }
                }
                e => StreamError::Malformed(format!("the stream's codebook: {e}")),
            })?,
            None => books.clone(),
        };
        self.books = Some(books);
        Ok(self)
    }

    /// Forgets the reference frame: after a lost chunk, delta frames wait for a keyframe.
    pub fn lose_reference(&mut self) {
        self.prev = None;
    }

    /// Decodes one chunk.
    ///
    /// # Errors
    /// [`StreamError::NeedKeyframe`] for a delta frame without a reference (or after
    /// [`Decoder::decode_parts`], whose frames did not carry this decoder's models),
    /// [`StreamError::BadPayload`] for symbols that do not make a frame. Either way the
    /// reference is dropped and decoding resumes at the next keyframe.
    pub fn decode(&mut self, chunk: &Chunk<'_>) -> Result<&TokenState, StreamError> {
        self.decode_frame(chunk)?;
        Ok(self
            .prev
            .as_deref()
            .expect("a decoded frame is the reference"))
    }

    /// [`Decoder::decode`], the frame shared with the decoder, which keeps it as the next
    /// frame's reference: no copy of its latent (a base 1920×1080 frame's is 8 MB).
    ///
    /// # Errors
    /// As [`Decoder::decode`].
    pub fn decode_shared(&mut self, chunk: &Chunk<'_>) -> Result<Arc<TokenState>, StreamError> {
        self.decode_frame(chunk)
    }

    /// [`Decoder::decode_shared`] of `chunk` with its entropy decoding done by
    /// [`SliceDecoder`](crate::SliceDecoder)s: `parts` are what they made of this chunk,
    /// together covering every slice once, in any order. The frame, the reference, the errors
    /// and the resync are those of [`Decoder::decode_shared`]. This decoder's own models are
    /// not carried along: after this it decodes delta frames from parts only, or again itself
    /// from the next keyframe it decodes (a delta chunk in between is refused with
    /// [`StreamError::NeedKeyframe`]).
    ///
    /// # Errors
    /// The outer [`ConfigError::SliceParts`] for parts that are not this chunk's (another
    /// chunk's, slices missing or twice, bytes that are no part): nothing is decoded, and the
    /// reference is dropped (the slice decoders have read the chunk: their models and this
    /// decoder's frames no longer go together before a keyframe). The inner [`StreamError`] as
    /// [`Decoder::decode_shared`].
    pub fn decode_parts(
        &mut self,
        chunk: &Chunk<'_>,
        parts: &[&[u8]],
    ) -> Result<Result<Arc<TokenState>, StreamError>, ConfigError> {
        if chunk.kind == FrameKind::Delta && self.prev.is_none() {
            return Ok(Err(StreamError::NeedKeyframe {
                offset: chunk.offset,
            }));
        }
        let frame = match crate::slices::join_parts(&self.header, chunk, parts) {
            Ok(frame) => frame,
            Err(why) => {
                self.prev = None;
                return Err(ConfigError::SliceParts(why));
            }
        };
        self.stale_models = true;
        Ok(self.take_frame(chunk, frame))
    }

    fn decode_frame(&mut self, chunk: &Chunk<'_>) -> Result<Arc<TokenState>, StreamError> {
        let levels = usize::from(self.header.levels);
        if chunk.kind == FrameKind::Delta && (self.prev.is_none() || self.stale_models) {
            self.prev = None;
            return Err(StreamError::NeedKeyframe {
                offset: chunk.offset,
            });
        }
        if chunk.kind == FrameKind::Key {
            self.ctx = Contexts::for_header(&self.header);
            self.stale_models = false;
        }
        let result = decode_frame(
            chunk.payload,
            chunk.kind,
            (chunk.levels.into(), chunk.step),
            (levels, self.grid.0, self.grid.1),
            1 << self.header.codebook_bits,
            &mut self.ctx,
        );
        self.take_frame(chunk, result)
    }

    /// The frame of `chunk` decoded to `result`: reconstructed, the next reference (shared with
    /// the caller); or the stream's error, and no reference.
    fn take_frame(
        &mut self,
        chunk: &Chunk<'_>,
        result: Result<TokenState, String>,
    ) -> Result<Arc<TokenState>, StreamError> {
        match result {
            Ok(mut state) => {
                if let Some(books) = &self.books {
                    state.reconstruct_after(books, self.prev.as_deref());
                }
                let state = Arc::new(state);
                self.prev = Some(Arc::clone(&state));
                Ok(state)
            }
            Err(reason) => {
                self.prev = None;
                Err(StreamError::BadPayload {
                    offset: chunk.offset,
                    reason,
                })
            }
        }
    }
}

/// A frame's indices with where they came from.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    /// Key or delta.
    pub kind: FrameKind,
    /// Presentation timestamp.
    pub pts: u32,
    /// Byte offset of the chunk.
    pub offset: u64,
    /// Chunk bytes (header + payload).
    pub bytes: usize,
    /// The indices (shared with the decoder, which keeps them as the next frame's reference).
    pub state: Arc<TokenState>,
}

/// Decodes a whole stream held in memory: yields each frame's indices, or the error that cost
/// a chunk (then goes on at the next keyframe), or the error that ended the stream.
#[derive(Debug, Clone)]
pub struct StreamDecoder<'a> {
    reader: ChunkReader<'a>,
    decoder: Decoder,
}

impl<'a> StreamDecoder<'a> {
    /// Parses the header and checks it against `model`.
    ///
    /// # Errors
    /// As [`Header::parse`] and [`Decoder::new`]; nothing is allocated for a stream that fails.
    pub fn new(
        bytes: &'a [u8],
        limits: Limits,
        model: Option<&ModelInfo>,
    ) -> Result<Self, StreamError> {
        let reader = ChunkReader::new(bytes, limits)?;
        let decoder = Decoder::new(reader.header(), model)?;
        Ok(Self { reader, decoder })
    }

    /// This decoder, reconstructing latents: [`Decoder::with_codebooks`].
    ///
    /// # Errors
    /// As [`Decoder::with_codebooks`].
    pub fn with_codebooks(mut self, books: &Codebooks) -> Result<Self, StreamError> {
        self.decoder = self.decoder.with_codebooks(books)?;
        Ok(self)
    }

    /// The sequence header.
    pub fn header(&self) -> &Header {
        self.reader.header()
    }
}

impl Iterator for StreamDecoder<'_> {
    type Item = Result<DecodedFrame, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        let chunk = match self.reader.next()? {
            Ok(c) => c,
            Err(e) => {
                self.decoder.lose_reference();
                return Some(Err(e));
            }
        };
        Some(
            self.decoder
                .decode_shared(&chunk)
                .map(|state| DecodedFrame {
                    kind: chunk.kind,
                    pts: chunk.pts,
                    offset: chunk.offset,
                    bytes: chunk.len,
                    state,
                }),
        )
    }
}
