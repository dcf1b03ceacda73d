//! The VQ-VAE: [`Encoder`] → [`ResidualQuantizer`] → [`Decoder`], in burn.
//!
//! One definition serves training (through [`VqVae::forward`]), the CLI and the browser
//! (through [`VqVae::encode`] and [`VqVae::decode`]). Frames of any size are padded (edge
//! replication) to a multiple of the stride and cropped back.

mod config;
mod decoder;
mod encoder;
mod layers;
mod quantizer;
#[cfg(feature = "wgpu")]
mod tiled;
mod weights;

pub use config::VqVaeConfig;
pub use decoder::{Decoder, PostFilter};
pub use encoder::Encoder;
pub use layers::{ConvKernels, pixel_shuffle, pixel_unshuffle, set_conv_kernels};
pub use quantizer::{
    EmaState, PARENT_CONTEXTS, Quantized, RatePenalty, ResidualQuantizer, parent_class,
};
pub use weights::{ModelId, ModelKind, Precision, Weights, WeightsError};

use burn::module::{Module, Param};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Int, Tensor};

/// The whole model.
#[derive(Module, Debug)]
pub struct VqVae {
    /// Frame → latent.
    pub encoder: Encoder,
    /// Latent → code indices (and back).
    pub quantizer: ResidualQuantizer,
    /// Latent → frame.
    pub decoder: Decoder,
    /// Fine-motion maps `[4·r, 2·D + 1, D]` (config `motion_range` r > 0): not used by the
    /// networks; the format crate predicts delta frames with them ([`vqc::MotionOps`]).
    pub motion: Option<Param<Tensor<3>>>,
    /// The encoder's latent metric `[D, D]` (config `latent_metric`): not used by the networks;
    /// the format crate's encoder weighs its choices by it ([`vqc::Metric`]).
    pub metric: Option<Param<Tensor<2>>>,
    downsample: usize,
    /// Config `enhance_dims` (0 without an enhancement).
    enhance_dims: usize,
}

/// What a training forward pass yields.
#[derive(Debug)]
pub struct ForwardOutput {
    /// Reconstruction `[B, 3, H, W]` (cropped to the input size, not clamped).
    pub reconstruction: Tensor<4>,
    /// Code indices `[B, levels, h, w]`.
    pub indices: Tensor<4, Int>,
    /// The encoder's latent, flattened to `[B·h·w, D]`.
    pub latent: Tensor<2>,
    /// The quantizer's pass (commitment loss, residuals for the EMA and restart hooks).
    pub quantized: Quantized,
}

impl VqVaeConfig {
    /// Builds a model with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If [`VqVaeConfig::validate`] fails; validate configs from untrusted sources first.
    pub fn init(&self, device: &Device) -> VqVae {
        if let Err(e) = self.validate() {
            panic!("model config should be valid: {e}");
        }
        VqVae {
            encoder: Encoder::new(self, device),
            quantizer: ResidualQuantizer::new(
                self.levels,
                self.codebook_size,
                self.code_dim,
                device,
            ),
            decoder: Decoder::new(self, device),
            motion: (self.motion_range > 0).then(|| {
                let r = self.motion_range;
                let shape = [4 * r, 2 * self.code_dim + 1, self.code_dim];
                Param::from_tensor(Tensor::zeros(shape, device)).set_require_grad(false)
            }),
            metric: self.latent_metric.then(|| {
                let d = self.code_dim;
                Param::from_tensor(Tensor::zeros([d, d], device)).set_require_grad(false)
            }),
            downsample: self.downsample,
            enhance_dims: self.enhance_dims,
        }
    }
}

impl VqVae {
    /// Pixels per latent position along each axis.
    pub fn stride(&self) -> usize {
        self.downsample
    }

    /// RVQ levels the model has.
    pub fn levels(&self) -> usize {
        self.quantizer.dims().0
    }

    /// Latent grid `(h, w)` for a `height × width` frame: the frame padded up to a multiple
    /// of the stride.
    pub fn latent_size(&self, height: usize, width: usize) -> (usize, usize) {
        (
            height.div_ceil(self.downsample),
            width.div_ceil(self.downsample),
        )
    }

    fn pad(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let (lh, lw) = self.latent_size(h, w);
        let (ph, pw) = (lh * self.downsample - h, lw * self.downsample - w);
        if ph == 0 && pw == 0 {
            x
        } else {
            x.pad((0, pw, 0, ph), PadMode::Edge)
        }
    }

    fn flatten(z: Tensor<4>) -> Tensor<2> {
        let [b, d, h, w] = z.dims();
        z.permute([0, 2, 3, 1]).reshape([b * h * w, d])
    }

    fn unflatten(z: Tensor<2>, b: usize, h: usize, w: usize) -> Tensor<4> {
        let [_, d] = z.dims();
        z.reshape([b, h, w, d]).permute([0, 3, 1, 2])
    }

    /// The encoder's continuous latent `[B, D, h, w]` for frames `[B, 3, H, W]` in [0, 1].
    ///
    /// With an enhancement (config `enhance_dims` E), the networks' values come first; the
    /// last E project, block by block, what the networks' picture of those values (unquantized)
    /// leaves of the frame. Decoding a quantized latent then errs by the networks' error in
    /// their values plus the enhancement's in its own, each measured in the latent, so the
    /// encoder's choices (and its metric) stay in one space.
    pub fn latent(&self, frames: Tensor<4>) -> Tensor<4> {
        self.latent_with(frames, true)
    }

    /// [`Self::latent`], with an enhancement's values left at zero unless `enhancement`: what
    /// an encoder that never codes the enhancement's levels reads (those values need the
    /// decoder's pass over the networks' latent; without them the encoder costs what the
    /// model without the enhancement costs).
    pub fn latent_with(&self, frames: Tensor<4>, enhancement: bool) -> Tensor<4> {
        if self.enhance_dims == 0 {
            return self.encoder.forward(self.pad(frames));
        }
        if !enhancement {
            let z = self.encoder.forward(self.pad(frames));
            let [b, _, h, w] = z.dims();
            let zeros = Tensor::zeros([b, self.enhance_dims, h, w], &z.device());
            return Tensor::cat(vec![z, zeros], 1);
        }
        let (residual, z) = self.residual(frames);
        let extra = self
            .encoder
            .enhancement(residual)
            .expect("a model with enhance_dims has the projection");
        Tensor::cat(vec![z, extra], 1)
    }

    /// What the networks' picture of their own (unquantized) latent leaves of frames
    /// `[B, 3, H, W]` in [0, 1]: `[B, 3, H', W']`, the frames padded to the stride; with the
    /// networks' latent `[B, D − E, h, w]`. What an enhancement codes (`vqcodec-lab enhance`
    /// fits one to it).
    pub fn residual(&self, frames: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let x = self.pad(frames);
        let z = self.encoder.forward(x.clone());
        (x - self.decoder.picture(z.clone()), z)
    }

    /// Training pass with the first `levels` RVQ levels (straight-through estimator).
    pub fn forward(&self, frames: Tensor<4>, levels: usize) -> ForwardOutput {
        self.forward_penalized(frames, levels, None)
    }

    /// [`Self::forward`] with a rate penalty on each level's codes (entropy-constrained
    /// assignment: [`ResidualQuantizer::forward_penalized`]).
    pub fn forward_penalized(
        &self,
        frames: Tensor<4>,
        levels: usize,
        penalty: Option<RatePenalty>,
    ) -> ForwardOutput {
        let [b, _, height, width] = frames.dims();
        let z = self.latent(frames);
        let [_, _, h, w] = z.dims();
        let latent = Self::flatten(z);
        let quantized = self
            .quantizer
            .forward_penalized(latent.clone(), levels, penalty);
        let l = quantized.indices.dims()[1];
        let indices = quantized
            .indices
            .clone()
            .reshape([b, h, w, l])
            .permute([0, 3, 1, 2]);
        let zq = Self::unflatten(quantized.quantized.clone(), b, h, w);
        let reconstruction = self
            .decoder
            .forward(zq)
            .slice([0..b, 0..3, 0..height, 0..width]);
        ForwardOutput {
            reconstruction,
            indices,
            latent,
            quantized,
        }
    }

    /// Frames `[B, 3, H, W]` in [0, 1] → code indices `[B, levels, h, w]`.
    pub fn encode(&self, frames: Tensor<4>, levels: usize) -> Tensor<4, Int> {
        let z = self.latent(frames);
        let [b, _, h, w] = z.dims();
        let idx = self.quantizer.encode(Self::flatten(z), levels);
        let l = idx.dims()[1];
        idx.reshape([b, h, w, l]).permute([0, 3, 1, 2])
    }

    /// Code indices `[B, L', h, w]` (any L' ≤ L) → frames `[B, 3, height, width]`, clamped
    /// to [0, 1]. `height` and `width` crop the padded output back to the frame size.
    pub fn decode(&self, indices: Tensor<4, Int>, height: usize, width: usize) -> Tensor<4> {
        let [b, l, h, w] = indices.dims();
        let flat = indices.permute([0, 2, 3, 1]).reshape([b * h * w, l]);
        let zq = Self::unflatten(self.quantizer.decode(flat), b, h, w);
        self.decoder
            .forward(zq)
            .slice([0..b, 0..3, 0..height, 0..width])
            .clamp(0.0, 1.0)
    }
}
