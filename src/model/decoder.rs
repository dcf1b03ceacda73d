//! Latent → frame.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::config::VqVaeConfig;
use super::layers::{ResBlock, conv1x1, conv3x3, pixel_shuffle};

/// Optional full-detail stage at 1/4 resolution: a 3×3 conv and a 1×1 to 48 = 3·4² channels.
#[derive(Module, Debug)]
pub struct MidStage {
    conv: Conv2d,
    out: Conv2d,
}

/// The decoder mirrors the [`Encoder`](super::Encoder): 1×1 from the code dimension, residual
/// trunk, 1×1 convs followed by pixel-shuffle back to full resolution.
#[derive(Module, Debug)]
pub struct Decoder {
    input: Conv2d,
    blocks: Vec<ResBlock>,
    /// 1×1 convs out of the trunk, each followed by a 2× shuffle (the last may be in place).
    up: Vec<Conv2d>,
    mid: Option<MidStage>,
    /// Whether the last `up` conv works at 1/4 resolution with no shuffle (downsample 4).
    last_up_in_place: bool,
}

impl Decoder {
    pub(crate) fn new(cfg: &VqVaeConfig, device: &Device) -> Self {
        let c = cfg.latent_channels;
        let m = cfg.mid_channels;
        let last_up_in_place = cfg.downsample == 4;
        let mut up = Vec::new();
        if cfg.downsample == 16 {
            up.push(conv1x1(c, 4 * c, device));
        }
        match (m > 0, last_up_in_place) {
            (true, true) => up.push(conv1x1(c, m, device)),
            (true, false) => up.push(conv1x1(c, 4 * m, device)),
            (false, _) => up.push(conv1x1(c, 192, device)),
        }
        let mid = (m > 0).then(|| MidStage {
            conv: conv3x3(m, m, device),
            out: conv1x1(m, 48, device),
        });
        Self {
            input: conv1x1(cfg.code_dim, c, device),
            blocks: (0..cfg.res_blocks)
                .map(|_| ResBlock::new(c, device))
                .collect(),
            up,
            mid,
            last_up_in_place,
        }
    }

    /// Latent `[B, D, h, w]` → `[B, 3, h·s, w·s]`, nominally in [0, 1] (not clamped).
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let mut x = self.input.forward(z);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let n = self.up.len();
        for (i, conv) in self.up.iter().enumerate() {
            x = conv.forward(relu(x));
            let last = i + 1 == n;
            if last && self.mid.is_none() {
                // straight from 1/8 to pixels
                return pixel_shuffle(x, 8).add_scalar(0.5);
            }
            if !(last && self.last_up_in_place) {
                x = pixel_shuffle(x, 2);
            }
        }
        let mid = self
            .mid
            .as_ref()
            .expect("mid stage exists when the last up conv is not to pixels");
        let x = relu(mid.conv.forward(relu(x)));
        pixel_shuffle(mid.out.forward(x), 4).add_scalar(0.5)
    }
}
