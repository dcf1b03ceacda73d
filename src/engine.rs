//! [`Engine`]: a loaded model on a chosen backend, with frame-level calls that every front
//! end (CLI, wasm, tests) shares. All readback is async, as WebGPU in wasm requires; native
//! callers block on it with [`block_on`].

use burn::tensor::{DType, Element, Int, Tensor, TensorData};

use crate::backend::{Backend, BackendKind};
use crate::error::Error;
use crate::frame::Frame;
use crate::model::{ModelId, VqVae, VqVaeConfig, Weights};

/// Code indices for a batch of frames: `batch × levels × height × width`, row-major, where
/// `height × width` is the latent grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Frames.
    pub batch: usize,
    /// RVQ levels per position.
    pub levels: usize,
    /// Latent rows.
    pub height: usize,
    /// Latent columns.
    pub width: usize,
    /// The indices; [`Tokens::NONE`] where a position coded no index at that level.
    pub data: Vec<u32>,
}

impl Tokens {
    /// "No code at this level here": the position's depth ended (a stream's stop flag), or it
    /// copies or predicts from the previous frame from a finer level on. It decodes as a zero
    /// vector; [`Engine::decode`] accepts it anywhere (it adds nothing).
    pub const NONE: u32 = vqc::NONE as u32;

    /// The first `levels` levels of every frame (a coarser rung of the RVQ ladder).
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] if `levels` is 0 or more than the tokens hold.
    pub fn prefix(&self, levels: usize) -> Result<Tokens, Error> {
        if levels == 0 || levels > self.levels {
            return Err(Error::InvalidTokens(format!(
                "prefix of {levels} levels out of 1..={}",
                self.levels
            )));
        }
        let plane = self.height * self.width;
        let data = self
            .data
            .chunks_exact(self.levels * plane)
            .flat_map(|frame| frame[..levels * plane].iter().copied())
            .collect();
        Ok(Tokens {
            levels,
            data,
            ..*self
        })
    }
}

impl From<&vqc::TokenState> for Tokens {
    /// The coded levels of a decoded frame (`1 × coded × h × w`). A delta frame's indices refine
    /// the previous frame's latent: [`Engine::decode`] of them alone is not the frame a stream
    /// decoder shows ([`crate::pipeline::Renderer::frame`] decodes the state's latent).
    fn from(s: &vqc::TokenState) -> Self {
        Tokens {
            batch: 1,
            levels: s.coded,
            height: s.height,
            width: s.width,
            data: s.coded_indices().iter().map(|&v| u32::from(v)).collect(),
        }
    }
}

/// Frames decoded back and the tokens they came through.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    /// The decoded frames, same size as the input.
    pub frames: Vec<Frame>,
    /// The indices chosen by the encoder.
    pub tokens: Tokens,
}

/// A model loaded onto a backend. Cloning shares the device tensors (no copy).
#[derive(Debug, Clone)]
pub struct Engine {
    model: VqVae,
    config: VqVaeConfig,
    id: ModelId,
    backend: Backend,
    /// The codebooks on the host, the same the model holds (the trained ones, or a stream's
    /// or an adaptation's): what the format crate searches and reconstructs latents with.
    books: std::sync::Arc<vqc::Codebooks>,
}

impl Engine {
    /// Loads `weights` onto `backend`.
    ///
    /// # Errors
    /// [`Error::Weights`] if the tensors do not fit the architecture.
    pub fn new(weights: &Weights, backend: Backend) -> Result<Self, Error> {
        let model = weights.load(&backend.device)?;
        Ok(Self {
            model,
            config: weights.config().clone(),
            id: weights.id(),
            backend,
            books: std::sync::Arc::new(weights.codebooks()?),
        })
    }

    /// The backend in use and why.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Which backend.
    pub fn backend_kind(&self) -> BackendKind {
        self.backend.kind
    }

    /// The model's sizes.
    pub fn config(&self) -> &VqVaeConfig {
        &self.config
    }

    /// The weights' id.
    pub fn model_id(&self) -> ModelId {
        self.id
    }

    /// The burn model.
    pub fn model(&self) -> &VqVae {
        &self.model
    }

    fn check_batch(frames: &[Frame]) -> Result<(usize, usize), Error> {
        let first = frames.first().ok_or(Error::MixedSizes)?;
        let (w, h) = (first.width(), first.height());
        if frames.iter().any(|f| f.width() != w || f.height() != h) {
            return Err(Error::MixedSizes);
        }
        Ok((w, h))
    }

    fn levels(&self, levels: Option<usize>) -> usize {
        levels
            .unwrap_or(self.config.levels)
            .clamp(1, self.config.levels)
    }

    /// Frames → tokens with the first `levels` RVQ levels (all when `None`).
    ///
    /// # Errors
    /// [`Error::MixedSizes`] for an empty batch or frames of different sizes;
    /// [`Error::Backend`] if readback fails.
    pub async fn encode(&self, frames: &[Frame], levels: Option<usize>) -> Result<Tokens, Error> {
        Self::check_batch(frames)?;
        let x = self.frames_tensor(frames);
        let idx = self.model.encode(x, self.levels(levels));
        read_tokens(idx).await
    }

    /// Tokens → frames of `width × height` (the latent grid must be the one that size gives).
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] if the tokens do not fit the model or the frame size;
    /// [`Error::Backend`] if readback fails.
    pub async fn decode(
        &self,
        tokens: &Tokens,
        width: usize,
        height: usize,
    ) -> Result<Vec<Frame>, Error> {
        let idx = self.tokens_tensor(tokens, width, height)?;
        let out = self.model.decode(idx, height, width);
        self.read_frames(out).await
    }

    /// The decoder network's `[B, 3, H, W]` output in [0, 1] for latents (as
    /// [`Engine::decode_latents`] takes them, or fixed point as [`Engine::decode_fixed`]), not
    /// yet read back.
    /// `empty`: the caller knows that every latent's enhancement values are zero (a stream
    /// decoder's [`vqc::TokenState::zero_tail`]); else they are looked at.
    fn decoder_output<T: LatentValue>(
        &self,
        latents: &[&[T]],
        width: usize,
        height: usize,
        empty: bool,
    ) -> Result<Tensor<4>, Error> {
        let (lh, lw) = self.model.latent_size(height, width);
        let d = self.config.code_dim;
        let net = d - self.config.enhance_dims;
        // every latent whole (`d` values a position), or every one as the networks' values
        // alone (`net`: an enhancement known to be empty, left out by the caller)
        let given = latents.first().map_or(0, |z| z.len());
        let stride = if net > 0 && given == lh * lw * net {
            net
        } else {
            d
        };
        if latents.is_empty() || latents.iter().any(|z| z.len() != lh * lw * stride) {
            return Err(Error::InvalidTokens(if net < d {
                format!(
                    "latents of {lh}x{lw}x{d} (or the networks' {lh}x{lw}x{net}) values expected \
                     for {width}x{height} frames"
                )
            } else {
                format!("latents of {lh}x{lw}x{d} values expected for {width}x{height} frames")
            }));
        }
        let b = latents.len();
        // an enhanced model's latents with nothing in the enhancement (a stream that has not
        // opened its levels, or coded no coefficient since its keyframe): the networks' picture
        // alone, which is what the enhancement's 1×1 (no bias) would add nothing to, from their
        // values alone
        let plain = net < d
            && (empty
                || stride == net
                || latents.iter().all(|z| {
                    z.chunks_exact(d)
                        .all(|p| p[net..].iter().all(|&v| v == T::ZERO))
                }));
        let dd = if plain { net } else { d };
        // one pass into a vector of the batch's size (a `flat_map` into `collect` grew element
        // by element: 1.2 ms of a lite 1080p frame in the WebGPU module's wasm)
        let mut data = Vec::with_capacity(b * lh * lw * dd);
        for z in latents {
            if dd == stride {
                data.extend(z.iter().map(|&v| v.value()));
            } else {
                for p in z.chunks_exact(stride) {
                    data.extend(p[..dd].iter().map(|&v| v.value()));
                }
            }
        }
        let z =
            Tensor::<4>::from_data(TensorData::new(data, [b, lh, lw, dd]), &self.backend.device)
                .permute([0, 3, 1, 2]);
        let decoder = &self.model.decoder;
        let picture = if plain {
            decoder.picture(z)
        } else {
            decoder.forward(z)
        };
        Ok(picture
            .slice([0..b, 0..3, 0..height, 0..width])
            .clamp(0.0, 1.0))
    }

    /// Latents → frames of `width × height`: the decoder network on latents a stream's
    /// decoder reconstructed ([`vqc::TokenState::latent_f32`]), one `rows × columns × dim`
    /// vector per frame, position-major.
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] if a latent does not fit the model and frame size;
    /// [`Error::Backend`] if readback fails.
    pub async fn decode_latents(
        &self,
        latents: &[&[f32]],
        width: usize,
        height: usize,
    ) -> Result<Vec<Frame>, Error> {
        let out = self.decoder_output(latents, width, height, false)?;
        self.read_frames(out).await
    }

    /// [`Engine::decode_latents`] as interleaved RGBA bytes (opaque alpha), `width × height × 4`
    /// per frame: what a browser draws. The same pixels as [`Frame::to_rgba`] of that method's
    /// frames, without the RGB frames between: on WebGPU the words read back are the RGBA
    /// bytes already, on the CPU one pass converts the planes.
    ///
    /// # Errors
    /// As [`Engine::decode_latents`].
    pub async fn decode_latents_rgba(
        &self,
        latents: &[&[f32]],
        width: usize,
        height: usize,
    ) -> Result<RgbaFrames, Error> {
        let out = self.decoder_output(latents, width, height, false)?;
        self.rgba_output(out).await
    }

    /// The decoder network's output read back as RGBA bytes.
    pub(crate) async fn rgba_output(&self, out: Tensor<4>) -> Result<RgbaFrames, Error> {
        let [b, _, h, w] = out.dims();
        if self.backend.kind == BackendKind::Gpu {
            let data = pack_rgb8(out)
                .into_data_async()
                .await
                .map_err(|e| Error::Backend(format!("{e:?}")))?;
            RgbaFrames::from_words(data, b, h, w)
        } else {
            let data = read_f32(out).await?;
            Ok(RgbaFrames::owned(Frame::rgba_from_planar(&data, b, h, w)?))
        }
    }

    /// [`Engine::decode_latents`] of fixed-point latents as a stream's decoder reconstructs them
    /// ([`vqc::TokenState::latent`], units of 2^-[`vqc::LATENT_FRAC_BITS`]), converted on the
    /// way to the device: no `f32` copy of the whole latent first, and of an enhanced model's
    /// values only the networks' where the enhancement holds nothing. An enhanced model's
    /// latents may also come as the networks' values alone, every one of them (as
    /// [`crate::pipeline::Renderer::latent`] hands over a frame whose enhancement is empty).
    ///
    /// # Errors
    /// As [`Engine::decode_latents`].
    pub async fn decode_fixed(
        &self,
        latents: &[&[i32]],
        width: usize,
        height: usize,
    ) -> Result<Vec<Frame>, Error> {
        let out = self.decoder_output(latents, width, height, false)?;
        self.read_frames(out).await
    }

    /// [`Engine::decode_latents_rgba`] of fixed-point latents, as [`Engine::decode_fixed`].
    ///
    /// # Errors
    /// As [`Engine::decode_latents`].
    pub async fn decode_fixed_rgba(
        &self,
        latents: &[&[i32]],
        width: usize,
        height: usize,
    ) -> Result<RgbaFrames, Error> {
        let out = self.decoder_output(latents, width, height, false)?;
        self.rgba_output(out).await
    }

    /// The decoder network's output (as [`Engine::decode_fixed`] makes it, not yet read back)
    /// for a stream decoder's state, whose [`vqc::TokenState::zero_tail`] spares looking at the
    /// enhancement's values when it covers them.
    pub(crate) fn state_output(
        &self,
        state: &vqc::TokenState,
        width: usize,
        height: usize,
    ) -> Result<Tensor<4>, Error> {
        let empty = self.enhancement_known_empty(state);
        self.decoder_output(&[&state.latent], width, height, empty)
    }

    /// Whether a stream decoder's state knows that its latent holds nothing in this model's
    /// enhancement values ([`vqc::TokenState::zero_tail`] covers them; always, for a model
    /// without any).
    pub(crate) fn enhancement_known_empty(&self, state: &vqc::TokenState) -> bool {
        state.zero_tail >= self.config.enhance_dims
    }

    /// Encoder → RVQ → decoder on a batch, one pass on the device.
    ///
    /// # Errors
    /// As [`Engine::encode`].
    pub async fn roundtrip(
        &self,
        frames: &[Frame],
        levels: Option<usize>,
    ) -> Result<RoundTrip, Error> {
        let (w, h) = Self::check_batch(frames)?;
        let x = self.frames_tensor(frames);
        let idx = self.model.encode(x, self.levels(levels));
        let out = self.model.decode(idx.clone(), h, w);
        Ok(RoundTrip {
            frames: self.read_frames(out).await?,
            tokens: read_tokens(idx).await?,
        })
    }

    /// Encoder → decoder on a batch with the continuous latent, no RVQ: the autoencoder's own
    /// ceiling, which no codebook can beat (a measurement: `vqcodec-lab ceiling`). Frames come
    /// back as [`Engine::roundtrip`] returns them (cropped, clamped, 8-bit).
    ///
    /// # Errors
    /// As [`Engine::encode`].
    pub async fn roundtrip_unquantized(&self, frames: &[Frame]) -> Result<Vec<Frame>, Error> {
        let (w, h) = Self::check_batch(frames)?;
        let x = self.frames_tensor(frames);
        let out = self
            .model
            .decoder
            .forward(self.model.latent(x))
            .slice([0..frames.len(), 0..3, 0..h, 0..w])
            .clamp(0.0, 1.0);
        self.read_frames(out).await
    }

    /// The encoder's continuous latents for a batch: one `rows × columns × dim` vector per
    /// frame, position-major, as the format's encoder takes them (through
    /// [`crate::pipeline::Encoder`]).
    ///
    /// # Errors
    /// As [`Engine::encode`].
    pub async fn latents(&self, frames: &[Frame]) -> Result<Vec<Vec<f32>>, Error> {
        self.latents_with(frames, true).await
    }

    /// [`Engine::latents`], with an enhanced model's enhancement values at zero unless
    /// `enhancement` ([`crate::model::VqVae::latent_with`]): for an encoder that never codes
    /// the enhancement's levels.
    ///
    /// # Errors
    /// As [`Engine::encode`].
    pub async fn latents_with(
        &self,
        frames: &[Frame],
        enhancement: bool,
    ) -> Result<Vec<Vec<f32>>, Error> {
        Self::check_batch(frames)?;
        let x = self.frames_tensor(frames);
        let z = self.model.latent_with(x, enhancement).permute([0, 2, 3, 1]);
        let [b, h, w, d] = z.dims();
        let data = read_f32(z).await?;
        debug_assert_eq!(data.len(), b * h * w * d);
        Ok(data.chunks_exact(h * w * d).map(<[f32]>::to_vec).collect())
    }

    /// The model's sizes and id as the codec needs them.
    pub fn codec_info(&self) -> vqc::ModelInfo {
        vqc::ModelInfo {
            id: self.id.0,
            levels: self.config.levels,
            codebook_size: self.config.codebook_size,
            downsample: self.config.downsample,
        }
    }

    /// Replaces the RVQ codebooks (with ones adapted to a clip, [`crate::adapt`]): the device's
    /// nearest-code search and the decoder use them from now on.
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] if their shape is not the model's.
    pub(crate) fn set_codebooks(&mut self, books: &vqc::Codebooks) -> Result<(), Error> {
        let c = &self.config;
        if (books.levels(), books.size(), books.dim()) != (c.levels, c.codebook_size, c.code_dim) {
            return Err(Error::InvalidTokens(format!(
                "codebooks {}x{}x{} for a model of {}x{}x{}",
                books.levels(),
                books.size(),
                books.dim(),
                c.levels,
                c.codebook_size,
                c.code_dim
            )));
        }
        let t = Tensor::<3>::from_data(
            TensorData::new(
                books.data().to_vec(),
                [books.levels(), books.size(), books.dim()],
            ),
            &self.backend.device,
        );
        self.model.quantizer.codebooks = burn::module::Param::from_tensor(t);
        self.books = std::sync::Arc::new(books.clone());
        Ok(())
    }

    /// This engine with `patch`'s levels in place of the model's codebook levels: the engine a
    /// stream that carries an adapted codebook decodes through (the pipeline builds it). Built
    /// on the device, no readback; the other tensors are shared with `self`.
    ///
    /// # Errors
    /// [`Error::Stream`] if the patch was made for another model or shape.
    pub(crate) fn with_codebook(&self, patch: &vqc::CodebookPatch) -> Result<Engine, Error> {
        let c = &self.config;
        if patch.model_id != self.id.0 {
            return Err(vqc::StreamError::ModelMismatch {
                stream: patch.model_id,
                decoder: self.id.0,
            }
            .into());
        }
        // a patch changes the values the model's levels code: a scalar enhancement's stay as
        // they are
        let net = vqc::CodebookPatch::values_per_code(&self.books);
        if (patch.levels, patch.size, patch.dim) != (c.levels, c.codebook_size, net) {
            return Err(Error::InvalidTokens(format!(
                "codebook {}x{}x{} for a model of {}x{}x{net}",
                patch.levels, patch.size, patch.dim, c.levels, c.codebook_size
            )));
        }
        let base = self.model.quantizer.constant_codebooks();
        let per_level = patch.size * patch.dim;
        let levels = (0..c.levels)
            .map(|l| {
                let trained = base.clone().slice([l..l + 1]);
                match patch.adapted.iter().position(|&a| a == l) {
                    // trained + q · step, as `CodebookPatch::apply` computes it on the CPU
                    Some(i) => {
                        let q: Vec<f32> = patch.deltas[i * per_level..(i + 1) * per_level]
                            .iter()
                            .map(|&q| f32::from(q))
                            .collect();
                        let q = Tensor::<3>::from_data(
                            TensorData::new(q, [1, patch.size, patch.dim]),
                            &self.backend.device,
                        )
                        .mul_scalar(patch.steps[i]);
                        let q = if net < c.code_dim {
                            let rest =
                                Tensor::zeros([1, patch.size, c.code_dim - net], &q.device());
                            Tensor::cat(vec![q, rest], 2)
                        } else {
                            q
                        };
                        trained + q
                    }
                    None => trained,
                }
            })
            .collect();
        let mut engine = self.clone();
        engine.model.quantizer.codebooks = burn::module::Param::from_tensor(Tensor::cat(levels, 0));
        engine.books = std::sync::Arc::new(patch.apply(self.id.0, &self.books)?);
        Ok(engine)
    }

    /// The RVQ codebooks on the host (the model's, as the device holds them), for the
    /// encoder's decisions, latent reconstruction and adaptation.
    pub fn codebooks(&self) -> &vqc::Codebooks {
        &self.books
    }

    fn tokens_tensor(
        &self,
        t: &Tokens,
        width: usize,
        height: usize,
    ) -> Result<Tensor<4, Int>, Error> {
        let (lh, lw) = self.model.latent_size(height, width);
        if t.height != lh || t.width != lw {
            return Err(Error::InvalidTokens(format!(
                "latent grid {}x{} does not match {width}x{height} frames (expected {lw}x{lh})",
                t.width, t.height
            )));
        }
        if t.levels == 0 || t.levels > self.config.levels {
            return Err(Error::InvalidTokens(format!(
                "{} levels (model has {})",
                t.levels, self.config.levels
            )));
        }
        if t.data.len() != t.batch * t.levels * t.height * t.width || t.batch == 0 {
            return Err(Error::InvalidTokens(
                "length does not match the shape".into(),
            ));
        }
        let k = self.config.codebook_size as u32;
        if let Some(bad) = t.data.iter().find(|&&v| v >= k && v != Tokens::NONE) {
            return Err(Error::InvalidTokens(format!(
                "index {bad} out of range (codebook has {k})"
            )));
        }
        // the model decodes index k (one past the codebook) as the zero vector
        let data: Vec<i32> = t
            .data
            .iter()
            .map(|&v| {
                if v == Tokens::NONE {
                    k as i32
                } else {
                    v as i32
                }
            })
            .collect();
        Ok(Tensor::from_data(
            TensorData::new(data, [t.batch, t.levels, t.height, t.width]),
            &self.backend.device,
        ))
    }

    /// Frames → the networks' `[B, 3, H, W]` input in [0, 1]. On the GPU a pixel crosses as
    /// one 32-bit word (a third of the f32 planes' bytes) and is unpacked and scaled on the
    /// device, where the frame then stays; on the CPU backends the host's loop makes the planes.
    fn frames_tensor(&self, frames: &[Frame]) -> Tensor<4> {
        if self.backend.kind == BackendKind::Gpu {
            let first = &frames[0];
            let (w, h) = (first.width(), first.height());
            let words = Frame::to_packed(frames);
            let t = Tensor::<4, Int>::from_data(
                TensorData::new(words, [frames.len(), 1, h, w]),
                &self.backend.device,
            );
            unpack_rgb8(t)
        } else {
            Frame::to_tensor(frames, &self.backend.device)
        }
    }

    /// A decoder network's `[B, 3, H, W]` output in [0, 1] → 8-bit frames. On the GPU the
    /// conversion runs on the device and a pixel crosses as one 32-bit word (a third of the
    /// f32 planes' bytes, and no conversion pass on the host); on the CPU backends the host's
    /// vectorised loop is faster than tensor ops. Both round `v · 255 + 0.5` down.
    pub(crate) async fn read_frames(&self, out: Tensor<4>) -> Result<Vec<Frame>, Error> {
        let [b, _, h, w] = out.dims();
        if self.backend.kind == BackendKind::Gpu {
            let words = read_i32(pack_rgb8(out)).await?;
            Frame::from_packed(&words, b, h, w)
        } else {
            let data = read_f32(out).await?;
            Frame::from_planar(&data, b, h, w)
        }
    }
}

/// `[B, 3, H, W]` values → `[B, 1, H, W]` words `r | g << 8 | b << 16 | 0xFF << 24`, each
/// channel `⌊clamp(v, 0, 1) · 255 + 0.5⌋`: a word's little-endian bytes are the pixel's RGBA
/// with opaque alpha ([`Frame::rgba_from_packed`]; [`Frame::from_packed`] ignores the alpha).
pub(crate) fn pack_rgb8(out: Tensor<4>) -> Tensor<4, Int> {
    let [b, _, h, w] = out.dims();
    let q = out
        .clamp(0.0, 1.0)
        .mul_scalar(255.0)
        .add_scalar(0.5)
        .floor()
        .int();
    let channel = |c: usize| q.clone().slice([0..b, c..c + 1, 0..h, 0..w]);
    // + 0xFF << 24 as an i32 (−2^24): the 24-bit colour plus it stays in i32's range
    let alpha = i32::from_le_bytes([0, 0, 0, 0xFF]);
    (channel(0) + channel(1).mul_scalar(1 << 8) + channel(2).mul_scalar(1 << 16)).add_scalar(alpha)
}

/// `[B, 1, H, W]` words `r | g << 8 | b << 16` → `[B, 3, H, W]` values `channel / 255`, the
/// inverse of [`pack_rgb8`] and what [`Frame::to_tensor`] makes on the host.
pub(crate) fn unpack_rgb8(words: Tensor<4, Int>) -> Tensor<4> {
    let channel = |shift: i32| {
        words
            .clone()
            .bitwise_right_shift_scalar(shift)
            .bitwise_and_scalar(255)
    };
    Tensor::cat(vec![channel(0), channel(8), channel(16)], 1)
        .float()
        .div_scalar(255.0)
}

/// Frames as interleaved RGBA bytes with opaque alpha, `width × height × 4` each, as
/// [`Engine::decode_latents_rgba`] reads them back. On WebGPU this holds the read-back buffer
/// itself: [`pack_rgb8`]'s 32-bit words are the RGBA bytes, so [`RgbaFrames::frame`] borrows
/// them and a caller that copies the pixels elsewhere (the browser's decoder into a JS array)
/// copies them once. (The words' conversion to a vector and [`Frame::rgba_from_packed`], then a
/// copy per frame, were 2.6% + 3.4% and then 3.3% of the WebGPU module's samples in a lite
/// 1080p decode.)
#[derive(Debug, Clone)]
pub struct RgbaFrames(RgbaStore);

#[derive(Debug, Clone)]
enum RgbaStore {
    /// A readback of `[B, 1, H, W]` 32-bit words, and one frame's byte length.
    Words(TensorData, usize),
    Owned(Vec<Vec<u8>>),
}

impl RgbaFrames {
    fn owned(frames: Vec<Vec<u8>>) -> Self {
        Self(RgbaStore::Owned(frames))
    }

    /// [`pack_rgb8`]'s words as read back: kept as they are when they are 32-bit (what a GPU
    /// backend's integers are), else converted to bytes per frame.
    fn from_words(
        data: TensorData,
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Self, Error> {
        let frame_len = 4 * height * width;
        if data.dtype() == DType::I32 && data.as_bytes().len() == batch * frame_len && frame_len > 0
        {
            return Ok(Self(RgbaStore::Words(data, frame_len)));
        }
        let words: Vec<i32> = into_vec(Ok::<_, Error>(data))?;
        Ok(Self::owned(Frame::rgba_from_packed(
            &words, batch, height, width,
        )?))
    }

    /// How many frames.
    pub fn len(&self) -> usize {
        match &self.0 {
            RgbaStore::Words(data, frame_len) => data.as_bytes().len() / frame_len,
            RgbaStore::Owned(frames) => frames.len(),
        }
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frame `i`'s RGBA bytes, if there is a frame `i`.
    pub fn frame(&self, i: usize) -> Option<&[u8]> {
        match &self.0 {
            RgbaStore::Words(data, frame_len) => data.as_bytes().chunks_exact(*frame_len).nth(i),
            RgbaStore::Owned(frames) => frames.get(i).map(Vec::as_slice),
        }
    }

    /// Each frame's bytes as a vector of its own.
    pub fn into_vecs(self) -> Vec<Vec<u8>> {
        match self.0 {
            RgbaStore::Words(data, frame_len) => data
                .as_bytes()
                .chunks_exact(frame_len)
                .map(<[u8]>::to_vec)
                .collect(),
            RgbaStore::Owned(frames) => frames,
        }
    }
}

async fn read_i32(t: Tensor<4, Int>) -> Result<Vec<i32>, Error> {
    into_vec(t.into_data_async().await)
}

async fn read_f32(t: Tensor<4>) -> Result<Vec<f32>, Error> {
    into_vec(t.into_data_async().await)
}

/// A readback's values as `E`, its failures as [`Error::Backend`].
fn into_vec<E: Element>(data: Result<TensorData, impl std::fmt::Debug>) -> Result<Vec<E>, Error> {
    data.map_err(|e| Error::Backend(format!("{e:?}")))?
        .convert::<E>()
        .try_into_vec::<E>()
        .map_err(|e| Error::Backend(format!("{e:?}")))
}

async fn read_tokens(t: Tensor<4, Int>) -> Result<Tokens, Error> {
    let [batch, levels, height, width] = t.dims();
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("{e:?}")))?;
    let data = data.iter::<i64>().map(|v| v as u32).collect();
    Ok(Tokens {
        batch,
        levels,
        height,
        width,
        data,
    })
}

/// Runs a future to completion on the current thread (native callers of the async API).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    burn::tensor::read_sync(f)
}

/// A latent value as the decoder network reads it: `f32` as it is, a stream decoder's fixed point
/// (`i32`, 2^-[`vqc::LATENT_FRAC_BITS`] units) scaled as [`vqc::latent_f32`] does.
trait LatentValue: Copy + PartialEq {
    const ZERO: Self;
    fn value(self) -> f32;
}

impl LatentValue for f32 {
    const ZERO: Self = 0.0;
    #[inline]
    fn value(self) -> f32 {
        self
    }
}

impl LatentValue for i32 {
    const ZERO: Self = 0;
    #[inline]
    fn value(self) -> f32 {
        self as f32 * (1.0 / (1u32 << vqc::LATENT_FRAC_BITS) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The device's 8-bit conversion (run here on the CPU backend) and the host's agree on
    /// every 8-bit level, the points halfway between levels and values out of range.
    #[test]
    fn packing_on_the_device_matches_the_host_conversion() {
        let device = Backend::cpu("test").device;
        let mut values: Vec<f32> = (0..=255)
            .flat_map(|k| {
                [
                    k as f32 / 255.0,
                    (k as f32 + 0.5) / 255.0,
                    (k as f32 + 0.49) / 255.0,
                ]
            })
            .collect();
        values.extend([-1.0, -0.001, 1.001, 7.0, 0.0, 1.0]);
        let (h, w) = (2, values.len().div_ceil(2 * 3));
        values.resize(3 * h * w, 0.25);
        // the three planes hold the values in different orders, so the channels differ
        let mut data = values.clone();
        data.rotate_left(h * w / 3);
        data.extend(values.iter().rev());
        data.truncate(3 * h * w);
        let host = Frame::from_planar(
            &data.iter().map(|v| v.clamp(0.0, 1.0)).collect::<Vec<_>>(),
            1,
            h,
            w,
        )
        .unwrap();
        let t = Tensor::<4>::from_data(TensorData::new(data.clone(), [1, 3, h, w]), &device);
        let words = block_on(read_i32(pack_rgb8(t))).unwrap();
        let packed = Frame::from_packed(&words, 1, h, w).unwrap();
        assert_eq!(packed[0].rgb(), host[0].rgb());
        assert!(host[0].rgb().contains(&255) && host[0].rgb().contains(&0));
        // the words' bytes are the frame's RGBA, alpha opaque: read as 32-bit words (a GPU
        // backend's integers) and as whatever this backend reads back
        let rgba = Frame::rgba_from_packed(&words, 1, h, w).unwrap();
        assert_eq!(rgba, [host[0].to_rgba()]);
        let frames = |data: TensorData, b: usize| {
            let f = RgbaFrames::from_words(data, b, h, w).unwrap();
            assert_eq!(f.len(), b);
            assert!(f.frame(b).is_none());
            let borrowed: Vec<Vec<u8>> = (0..b).map(|i| f.frame(i).unwrap().to_vec()).collect();
            assert_eq!(f.into_vecs(), borrowed);
            borrowed
        };
        let as_i32 = TensorData::new(words.clone(), [1, 1, h, w]);
        assert_eq!(frames(as_i32, 1), rgba);
        let as_i64 = TensorData::new(words.iter().map(|&v| i64::from(v)).collect(), [1, 1, h, w]);
        assert_eq!(frames(as_i64, 1), rgba);
        let t = Tensor::<4>::from_data(TensorData::new(data.clone(), [1, 3, h, w]), &device);
        let read = block_on(pack_rgb8(t).into_data_async()).unwrap();
        assert_eq!(frames(read, 1), rgba);
        // two frames of a batch, in order
        let two = TensorData::new([words.clone(), words.clone()].concat(), [2, 1, h, w]);
        assert_eq!(frames(two, 2), [rgba[0].clone(), rgba[0].clone()]);
    }

    /// Frames uploaded as 32-bit words and unpacked by tensor ops (here on the CPU backend)
    /// give the networks the same input as the host's planes: every 8-bit value in every
    /// channel, two frames of a batch.
    #[test]
    fn unpacking_on_the_device_matches_the_host_planes() {
        let device = Backend::cpu("test").device;
        let (w, h) = (16, 16);
        let frames: Vec<Frame> = (0..2)
            .map(|b| {
                let rgb = (0..w * h)
                    .flat_map(|i| [i as u8, (255 - i) as u8, (i * 7 + b * 31) as u8])
                    .collect();
                Frame::from_rgb(w, h, rgb).unwrap()
            })
            .collect();
        let host = Frame::to_tensor(&frames, &device).into_data();
        let words = Tensor::<4, Int>::from_data(
            TensorData::new(Frame::to_packed(&frames), [2, 1, h, w]),
            &device,
        );
        let unpacked = unpack_rgb8(words);
        assert_eq!(unpacked.dims(), [2, 3, h, w]);
        assert_eq!(
            unpacked.into_data().try_to_vec::<f32>().unwrap(),
            host.try_to_vec::<f32>().unwrap()
        );
    }
}
