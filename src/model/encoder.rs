//! Frame → latent.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::config::VqVaeConfig;
use super::layers::{ResBlock, conv, conv1x1, conv3x3, pixel_unshuffle};

/// Optional full-detail stage at 1/4 resolution: a 1×1 stem and a 3×3 conv.
#[derive(Module, Debug)]
pub struct MidStage {
    stem: Conv2d,
    conv: Conv2d,
}

/// The encoder: pixel-unshuffle stem, optional 1/4-resolution stage, residual trunk at
/// latent resolution, and a 1×1 projection to the code dimension.
#[derive(Module, Debug)]
pub struct Encoder {
    mid: Option<MidStage>,
    /// 1×1 convs into the trunk, each after a 2× unshuffle (the first one may be at 1/4).
    down: Vec<Conv2d>,
    blocks: Vec<ResBlock>,
    proj: Conv2d,
    /// The linear path: 1×1 from the unshuffled pixel block (`3·s²`) to the code dimension.
    pub linear: Option<Conv2d>,
    /// The enhancement's projection (config `enhance_dims` E): 1×1, no bias, from a residual
    /// pixel block (`3·s²`) to its E values.
    pub enhance: Option<Conv2d>,
    /// Whether `down[0]` works at 1/4 resolution with no unshuffle (downsample 4).
    first_down_in_place: bool,
    stride: usize,
}

impl Encoder {
    pub(crate) fn new(cfg: &VqVaeConfig, device: &Device) -> Self {
        let c = cfg.latent_channels;
        let m = cfg.mid_channels;
        let mid = (m > 0).then(|| MidStage {
            stem: conv1x1(48, m, device),
            conv: conv3x3(m, m, device),
        });
        let first_down_in_place = cfg.downsample == 4;
        let mut down = Vec::new();
        match (m > 0, first_down_in_place) {
            (true, true) => down.push(conv1x1(m, c, device)),
            (true, false) => down.push(conv1x1(4 * m, c, device)),
            (false, _) => down.push(conv1x1(192, c, device)),
        }
        if cfg.downsample == 16 {
            down.push(conv1x1(4 * c, c, device));
        }
        Self {
            mid,
            down,
            blocks: (0..cfg.res_blocks)
                .map(|_| ResBlock::new(c, device))
                .collect(),
            proj: conv1x1(c, cfg.net_dim(), device),
            linear: cfg
                .linear_path
                .then(|| conv1x1(3 * cfg.downsample * cfg.downsample, cfg.code_dim, device)),
            enhance: (cfg.enhance_dims > 0).then(|| {
                let block = 3 * cfg.downsample * cfg.downsample;
                Conv2dConfig::new([block, cfg.enhance_dims], [1, 1])
                    .with_bias(false)
                    .init(device)
            }),
            first_down_in_place,
            stride: cfg.downsample,
        }
    }

    /// The enhancement values `[B, E, H/s, W/s]` of a residual picture `[B, 3, H, W]`
    /// (`frame − the networks' picture`); `None` without an enhancement.
    pub fn enhancement(&self, residual: Tensor<4>) -> Option<Tensor<4>> {
        self.enhance
            .as_ref()
            .map(|e| conv(e, pixel_unshuffle(residual, self.stride)))
    }

    /// `[B, 3, H, W]` in [0, 1] (H, W multiples of the stride) → the networks' latent
    /// `[B, D − E, H/s, W/s]` (all of it without an enhancement).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = x.sub_scalar(0.5);
        let linear = self
            .linear
            .as_ref()
            .map(|l| conv(l, pixel_unshuffle(x.clone(), self.stride)));
        let mut x = match &self.mid {
            Some(mid) => {
                let x = relu(conv(&mid.stem, pixel_unshuffle(x, 4)));
                relu(conv(&mid.conv, x))
            }
            None => pixel_unshuffle(x, 8),
        };
        for (i, down) in self.down.iter().enumerate() {
            let in_place = (i == 0 && self.first_down_in_place) || (i == 0 && self.mid.is_none());
            if !in_place {
                x = pixel_unshuffle(x, 2);
            }
            x = conv(down, x);
            if i + 1 < self.down.len() {
                x = relu(x);
            }
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        let z = conv(&self.proj, relu(x));
        match linear {
            Some(l) => z + l,
            None => z,
        }
    }

    /// The last layer of the nonlinear path (zeroed when training starts from the linear
    /// path's initialisation).
    pub fn proj_mut(&mut self) -> &mut Conv2d {
        &mut self.proj
    }
}
