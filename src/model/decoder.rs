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
    /// The linear path: 1×1 from the code dimension to the pixel block (`3·s²`), shuffled.
    pub linear: Option<Conv2d>,
    /// Whether the last `up` conv works at 1/4 resolution with no shuffle (downsample 4).
    last_up_in_place: bool,
    stride: usize,
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
            linear: cfg
                .linear_path
                .then(|| conv1x1(cfg.code_dim, 3 * cfg.downsample * cfg.downsample, device)),
            last_up_in_place,
            stride: cfg.downsample,
        }
    }

    /// Latent `[B, D, h, w]` → `[B, 3, h·s, w·s]`, nominally in [0, 1] (not clamped).
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let linear = self
            .linear
            .as_ref()
            .map(|l| pixel_shuffle(l.forward(z.clone()), self.stride));
        let y = self.nonlinear(z);
        match linear {
            Some(l) => y + l,
            None => y,
        }
        .add_scalar(0.5)
    }

    /// The last layer of the nonlinear path (zeroed when training starts from the linear
    /// path's initialisation).
    pub fn last_mut(&mut self) -> &mut Conv2d {
        match self.mid.as_mut() {
            Some(mid) => &mut mid.out,
            None => self.up.last_mut().expect("the decoder has an up conv"),
        }
    }

    /// The networks' part, centred on 0.
    fn nonlinear(&self, z: Tensor<4>) -> Tensor<4> {
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
                return pixel_shuffle(x, 8);
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
        pixel_shuffle(mid.out.forward(x), 4)
    }
}
