//! Small building blocks shared by the encoder and the decoder.
//!
//! Resolution changes use pixel-unshuffle (space-to-depth) and pixel-shuffle (depth-to-space):
//! pure data movement, so all arithmetic happens in dense 1×1 and 3×3 convolutions at low
//! resolution, which map to GEMM on every backend (no strided or transposed convs at full size).

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Space-to-depth: `[B, C, H, W]` → `[B, C·f², H/f, W/f]`. `H` and `W` must be multiples of `f`.
pub fn pixel_unshuffle(x: Tensor<4>, f: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h / f, f, w / f, f])
        .permute([0, 1, 3, 5, 2, 4])
        .reshape([b, c * f * f, h / f, w / f])
}

/// Depth-to-space: `[B, C·f², H, W]` → `[B, C, H·f, W·f]`; the inverse of [`pixel_unshuffle`].
pub fn pixel_shuffle(x: Tensor<4>, f: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let c_out = c / (f * f);
    x.reshape([b, c_out, f, f, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([b, c_out, h * f, w * f])
}

/// A 1×1 convolution (a per-position GEMM).
pub fn conv1x1(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [1, 1]).init(device)
}

/// A 3×3 convolution with "same" zero padding.
pub fn conv3x3(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// Pre-activation residual block: `x + conv1x1(relu(conv3x3(relu(x))))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    conv3: Conv2d,
    conv1: Conv2d,
}

impl ResBlock {
    /// A block of `channels` channels.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            conv3: conv3x3(channels, channels, device),
            conv1: conv1x1(channels, channels, device),
        }
    }

    /// `x + f(x)`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self
            .conv1
            .forward(relu(self.conv3.forward(relu(x.clone()))));
        x + y
    }
}

/// Multiply–adds ×2 per output position of a `k×k` convolution from `cin` to `cout` channels.
pub(crate) const fn conv_flops(k: usize, cin: usize, cout: usize) -> usize {
    2 * k * k * cin * cout
}
