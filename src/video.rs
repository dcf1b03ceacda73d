//! Frames in, chunks out, and back: an [`Engine`] and the [`codec`](crate::codec) together,
//! shaped like rav1e's and WebCodecs' send-frame / receive-chunk calls. The CLI uses these;
//! the wasm layer calls the same ones.

use crate::codec::container::Chunk;
use crate::codec::{
    Decoder, Encoder, EncoderConfig, FrameKind, Header, Limits, Packet, StreamError, TokenState,
};
use crate::{Engine, Error, Frame};

/// Encodes frames of one size into `.vqc` chunks.
#[derive(Debug, Clone)]
pub struct VideoEncoder {
    encoder: Encoder,
    width: usize,
    height: usize,
}

impl VideoEncoder {
    /// An encoder for `engine`'s model.
    ///
    /// # Errors
    /// As [`Encoder::new`], and [`Error::Backend`] if the codebooks cannot be read back.
    pub async fn new(engine: &Engine, config: EncoderConfig) -> Result<Self, Error> {
        let books = engine.codebooks().await?;
        let (width, height) = (config.width as usize, config.height as usize);
        Ok(Self {
            encoder: Encoder::new(config, &engine.codec_info(), books)?,
            width,
            height,
        })
    }

    /// The stream header; write it before the first chunk.
    pub fn header(&self) -> &Header {
        self.encoder.header()
    }

    /// The header's bytes.
    pub fn header_bytes(&self) -> Vec<u8> {
        self.encoder.header_bytes()
    }

    /// Encodes a batch of frames in order (one network pass); `force_key` makes the first a
    /// keyframe.
    ///
    /// # Errors
    /// [`Error::MixedSizes`] for a frame of another size, else as [`Engine::latents`].
    pub async fn encode(
        &mut self,
        engine: &Engine,
        frames: &[Frame],
        force_key: bool,
    ) -> Result<Vec<Packet>, Error> {
        if frames
            .iter()
            .any(|f| f.width() != self.width || f.height() != self.height)
        {
            return Err(Error::MixedSizes);
        }
        let latents = engine.latents(frames).await?;
        latents
            .iter()
            .enumerate()
            .map(|(i, z)| self.encoder.encode_latent(z, force_key && i == 0))
            .collect()
    }
}

/// Decodes the chunks of one stream into frames.
#[derive(Debug, Clone)]
pub struct VideoDecoder {
    header: Header,
    limits: Limits,
    decoder: Decoder,
    /// The caller's engine with the stream's codebook, when the stream carries one.
    adapted: Option<Engine>,
}

/// One decoded frame and what it came from.
#[derive(Debug, Clone)]
pub struct DecodedVideoFrame {
    /// The pixels.
    pub frame: Frame,
    /// Key or delta.
    pub kind: FrameKind,
    /// Presentation timestamp.
    pub pts: u32,
    /// The code indices.
    pub state: TokenState,
}

impl VideoDecoder {
    /// A decoder for the stream whose header (with its codebook block, if any) starts
    /// `header_bytes`, checked against `engine`'s model. A stream's own codebook is loaded
    /// onto `engine`'s device here; [`VideoDecoder::decode`] uses it.
    ///
    /// # Errors
    /// As [`Header::parse`], [`Decoder::new`] and [`Engine::with_codebook`].
    pub fn new(engine: &Engine, header_bytes: &[u8], limits: Limits) -> Result<Self, Error> {
        let header = Header::parse(header_bytes, &limits)?;
        let decoder = Decoder::new(&header, Some(&engine.codec_info()))?;
        let adapted = match &header.codebook {
            Some(patch) => Some(engine.with_codebook(patch)?),
            None => None,
        };
        Ok(Self {
            header,
            limits,
            decoder,
            adapted,
        })
    }

    /// The engine this stream's frames decode through: `engine`, or `engine` with the stream's
    /// codebook (the one given to [`VideoDecoder::new`]).
    pub fn engine<'a>(&'a self, engine: &'a Engine) -> &'a Engine {
        self.adapted.as_ref().unwrap_or(engine)
    }

    /// The stream header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads one chunk (the bytes of one [`Packet::data`]: header and payload) down to its
    /// code indices: the integer half of [`VideoDecoder::decode`], no model involved.
    ///
    /// # Errors
    /// [`Error::Stream`] for a damaged chunk or a delta frame without its reference; either
    /// way the reference is dropped and chunks up to the next keyframe fail too.
    pub fn decode_symbols(&mut self, chunk: &[u8]) -> Result<(FrameKind, u32, TokenState), Error> {
        let parsed = match Chunk::parse(chunk, 0, &self.header, &self.limits) {
            Ok((c, len)) if len == chunk.len() => c,
            Ok((_, len)) => {
                self.decoder.lose_reference();
                return Err(StreamError::Malformed(format!(
                    "{} stray bytes after the chunk",
                    chunk.len() - len
                ))
                .into());
            }
            Err(e) => {
                self.decoder.lose_reference();
                return Err(e.into());
            }
        };
        let state = self.decoder.decode(&parsed)?.clone();
        Ok((parsed.kind, parsed.pts, state))
    }

    /// Decodes one chunk to a frame: [`VideoDecoder::decode_symbols`], then [`frame_of`].
    ///
    /// # Errors
    /// As those two.
    pub async fn decode(
        &mut self,
        engine: &Engine,
        chunk: &[u8],
    ) -> Result<DecodedVideoFrame, Error> {
        let (kind, pts, state) = self.decode_symbols(chunk)?;
        let frame = frame_of(self.engine(engine), &self.header, &state).await?;
        Ok(DecodedVideoFrame {
            frame,
            kind,
            pts,
            state,
        })
    }
}

/// The frame a stream's code indices decode to, through `engine`'s model (which must hold the
/// stream's codebook: see [`Engine::with_codebook`], [`VideoDecoder::engine`]).
///
/// # Errors
/// [`Error::InvalidTokens`] if the indices do not fit the header's size; [`Error::Backend`] if
/// the model fails.
pub async fn frame_of(
    engine: &Engine,
    header: &Header,
    state: &TokenState,
) -> Result<Frame, Error> {
    let (w, h) = (header.width as usize, header.height as usize);
    engine
        .decode(&state.tokens(), w, h)
        .await?
        .pop()
        .ok_or_else(|| Error::Backend("the model returned no frame".into()))
}
