//! Latent → frame.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};

use super::config::VqVaeConfig;
use super::layers::{ResBlock, conv, conv1x1, conv3x3, pixel_shuffle, pixel_unshuffle};

/// Optional full-detail stage at 1/4 resolution: a 3×3 conv and a 1×1 to 48 = 3·4² channels.
#[derive(Module, Debug)]
pub struct MidStage {
    conv: Conv2d,
    out: Conv2d,
}

/// The block-edge filter (config `post_filter`): the decoded picture's `s × s` blocks are
/// made in one piece each (the linear path is a 1×1 per block, the nonlinear one ends in a
/// 1×1 and a shuffle), so at low rates their edges show. This adds to the picture a residual
/// computed on the blocks of a grid shifted by `s / 2` — each straddles the corner of four
/// decoded blocks — by a 1×1 MLP (`3·s²` → C → `3·s²`, ReLU): about `12·C` FLOPs a pixel.
/// The outer `s / 2` pixels of the padded frame, which no edge crosses, are left as they are.
#[derive(Module, Debug)]
pub struct PostFilter {
    hidden: Conv2d,
    out: Conv2d,
}

impl PostFilter {
    /// A filter of `channels` hidden channels for stride `s` that starts as the identity
    /// (its last layer at zero), so a trained decoder given one decodes as before.
    pub fn new(s: usize, channels: usize, device: &Device) -> Self {
        let block = 3 * s * s;
        let mut out = conv1x1(channels, block, device);
        out.weight = Param::from_tensor(Tensor::zeros([block, channels, 1, 1], device));
        out.bias = Some(Param::from_tensor(Tensor::zeros([block], device)));
        Self {
            hidden: conv1x1(block, channels, device),
            out,
        }
    }

    /// `y [B, 3, H, W]` (`H`, `W` multiples of `s`) plus the filter's residual.
    fn forward(&self, y: Tensor<4>, s: usize) -> Tensor<4> {
        let [b, c, h, w] = y.dims();
        if h < 2 * s || w < 2 * s {
            return y;
        }
        let o = s / 2;
        let inner = y.clone().slice([0..b, 0..c, o..h - o, o..w - o]);
        let d = conv(
            &self.out,
            relu(conv(&self.hidden, pixel_unshuffle(inner, s))),
        );
        y + pixel_shuffle(d, s).pad((o, o, o, o), PadMode::Constant(0.0))
    }
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
    /// The block-edge filter on the output (config `post_filter` > 0).
    post: Option<PostFilter>,
    /// The enhancement (config `enhance_dims` E): 1×1, no bias, from the latent's last E values
    /// to a pixel block (`3·s²`), added after the filter.
    pub enhance: Option<Conv2d>,
    /// Latent values the networks read (the first ones).
    net_dim: usize,
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
            input: conv1x1(cfg.net_dim(), c, device),
            blocks: (0..cfg.res_blocks)
                .map(|_| ResBlock::new(c, device))
                .collect(),
            up,
            mid,
            linear: cfg
                .linear_path
                .then(|| conv1x1(cfg.code_dim, 3 * cfg.downsample * cfg.downsample, device)),
            post: (cfg.post_filter > 0)
                .then(|| PostFilter::new(cfg.downsample, cfg.post_filter, device)),
            enhance: (cfg.enhance_dims > 0).then(|| {
                let block = 3 * cfg.downsample * cfg.downsample;
                Conv2dConfig::new([cfg.enhance_dims, block], [1, 1])
                    .with_bias(false)
                    .init(device)
            }),
            net_dim: cfg.net_dim(),
            last_up_in_place,
            stride: cfg.downsample,
        }
    }

    /// Gives a trained decoder a block-edge filter of `channels` channels that starts as the
    /// identity (what `vqcodec-lab train --post-filter` adds to a checkpoint).
    #[must_use]
    pub fn with_post_filter(mut self, channels: usize, device: &Device) -> Self {
        self.post = Some(PostFilter::new(self.stride, channels, device));
        self
    }

    /// Latent `[B, D, h, w]` → `[B, 3, h·s, w·s]`, nominally in [0, 1] (not clamped).
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let Some(enhance) = &self.enhance else {
            return self.picture(z);
        };
        let [b, d, h, w] = z.dims();
        let base = z.clone().slice([0..b, 0..self.net_dim, 0..h, 0..w]);
        let extra = z.slice([0..b, self.net_dim..d, 0..h, 0..w]);
        self.picture(base) + pixel_shuffle(conv(enhance, extra), self.stride)
    }

    /// The networks' picture of their part of the latent `[B, D − E, h, w]` (the whole
    /// picture without an enhancement).
    pub fn picture(&self, z: Tensor<4>) -> Tensor<4> {
        let linear = self
            .linear
            .as_ref()
            .map(|l| pixel_shuffle(conv(l, z.clone()), self.stride));
        let y = self.nonlinear(z);
        let y = match linear {
            Some(l) => y + l,
            None => y,
        }
        .add_scalar(0.5);
        match &self.post {
            Some(post) => post.forward(y, self.stride),
            None => y,
        }
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
        let mut x = conv(&self.input, z);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let n = self.up.len();
        for (i, up) in self.up.iter().enumerate() {
            x = conv(up, relu(x));
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
        let x = relu(conv(&mid.conv, relu(x)));
        pixel_shuffle(conv(&mid.out, x), 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use burn::tensor::{Distribution, TensorData};

    fn vec(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// A new filter adds exactly nothing; once its last layer is not zero, a change to one
    /// pixel moves only pixels of the shifted block around it, and never the outer ring that
    /// no block edge crosses.
    #[test]
    fn the_block_edge_filter_starts_as_the_identity_and_reaches_one_shifted_block() {
        let device = Backend::cpu("test").device;
        device.seed(3);
        let (s, h, w) = (8, 24, 32);
        let y = Tensor::<4>::random([1, 3, h, w], Distribution::Uniform(0.0, 1.0), &device);
        let mut filter = PostFilter::new(s, 16, &device);
        assert_eq!(vec(filter.forward(y.clone(), s)), vec(y.clone()));

        filter.out.weight = Param::from_tensor(Tensor::random(
            [3 * s * s, 16, 1, 1],
            Distribution::Normal(0.0, 0.1),
            &device,
        ));
        let base = vec(filter.forward(y.clone(), s));
        assert_ne!(base, vec(y.clone()), "a trained filter changes the picture");
        // one pixel of channel 1 at (row 13, column 18): its shifted block spans rows 12..20
        // and columns 12..20 (the grid starts at s / 2 = 4)
        let (py, px) = (13, 18);
        let mut data = vec(y.clone());
        data[(h + py) * w + px] += 0.5;
        let moved = vec(filter.forward(
            Tensor::from_data(TensorData::new(data, [1, 3, h, w]), &device),
            s,
        ));
        for c in 0..3 {
            for yy in 0..h {
                for xx in 0..w {
                    let i = (c * h + yy) * w + xx;
                    let inside = (12..20).contains(&yy) && (12..20).contains(&xx);
                    let changed = (moved[i] - base[i]).abs() > 1e-6;
                    if !inside {
                        assert!(!changed, "pixel ({c}, {yy}, {xx}) outside the block moved");
                    }
                    if yy < 4 || yy >= h - 4 || xx < 4 || xx >= w - 4 {
                        assert_eq!(moved[i], base[i]);
                    }
                }
            }
        }
        let inside_changed = (12..20)
            .flat_map(|yy| (12..20).map(move |xx| (yy, xx)))
            .filter(|&(yy, xx)| {
                let i = yy * w + xx;
                (moved[i] - base[i]).abs() > 1e-6
            })
            .count();
        assert!(
            inside_changed > 32,
            "the block around the pixel should move ({inside_changed} of 64 did)"
        );
    }
}
