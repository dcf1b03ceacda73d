//! Small building blocks shared by the encoder and the decoder.
//!
//! Resolution changes use pixel-unshuffle (space-to-depth) and pixel-shuffle (depth-to-space):
//! pure data movement, so all arithmetic happens in dense 1×1 and 3×3 convolutions at low
//! resolution, which map to GEMM on every backend (no strided or transposed convs at full size).

use std::sync::atomic::{AtomicU8, Ordering};

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};

/// Space-to-depth: `[B, C, H, W]` → `[B, C·f², H/f, W/f]`. `H` and `W` must be multiples of `f`.
///
/// Channel `c·f² + fy·f + fx` of output position `(y, x)` is input pixel `(y·f + fy, x·f + fx)` of
/// channel `c`. Two moves rather than one 6-D permute: each is a layout burn-flex copies fast (a
/// batched 2-D transpose, then whole rows), where the 6-D permute went element by element
/// (8–12% of a CPU encode at 640×360); the same values on every backend.
pub fn pixel_unshuffle(x: Tensor<4>, f: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let (hs, ws) = (h / f, w / f);
    // [B·C·H, W/f, fx] → [B·C·H, fx, W/f]: each row's columns grouped by their phase fx
    x.reshape([b * c * h, ws, f])
        .swap_dims(1, 2)
        // [B·C, H/f, (fy, fx), W/f] → [B·C, (fy, fx), H/f, W/f]
        .reshape([b * c, hs, f * f, ws])
        .swap_dims(1, 2)
        .reshape([b, c * f * f, hs, ws])
}

/// Depth-to-space: `[B, C·f², H, W]` → `[B, C, H·f, W·f]`; the inverse of [`pixel_unshuffle`].
pub fn pixel_shuffle(x: Tensor<4>, f: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let c_out = c / (f * f);
    x.reshape([b, c_out, f, f, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([b, c_out, h * f, w * f])
}

/// How the model's convolutions run (every model's 1×1 and 3×3 convolutions go through
/// [`conv`]). The same function of the same weights either way; the floating-point sums differ
/// in order, so pixels may differ by rounding (never the bitstream's symbols, which the decoder
/// reads, not computes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum ConvKernels {
    /// What measurement chose (docs/results/tiled-conv.md, conv-kernels.md,
    /// train-speed.md): burn's convolution on the CPU (there the matrix products were 1.3–3.5×
    /// slower); the tiled kernel on every GPU device, native or WebGPU, and in training on a GPU
    /// with the `autodiff` feature ([`TILED_BY_DEFAULT`]); on a GPU device with autodiff but
    /// without that feature, matrix products for planes of at least a 1080p frame's
    /// 1/8-resolution size ([`GEMM_MIN_POSITIONS`]) outside wasm, burn's convolution for
    /// smaller ones.
    #[default]
    Auto,
    /// burn's convolution everywhere (on burn-wgpu: its direct kernel, as the f32
    /// convolutions have no other candidate there).
    Direct,
    /// Matrix products everywhere: a 1×1 is one product over the `[C, H·W]` planes as they lie;
    /// a 3×3 gathers its nine shifted planes (rows in bands, to bound the buffer) and makes one
    /// product with `9·C` inputs.
    Gemm,
    /// The same product as one tiled kernel of our own, gathering while it loads (GPU devices;
    /// on autodiff ones with the `autodiff` feature, its input gradient by the same kernel;
    /// elsewhere burn's convolution). Only with the `wgpu` feature.
    Tiled,
}

/// The smallest input plane (`h·w` positions) that [`ConvKernels::Auto`] runs as matrix
/// products on a native GPU: just under a 1920×1080 frame's 1/8-resolution plane (240×135 =
/// 32,400; its block-edge filter's 239×134) and far above 640×360's largest (base's 1/4 stage,
/// 160×90), so that both sizes run as measured, all products and all direct. On an H100 through
/// burn-wgpu (docs/results/conv-kernels.md): base's stream decode at 1920×1080 73–76 → 114–125
/// fps with products, but 380 → 294 fps at 640×360, and lite's at 1080p no better (171–221
/// against 183–195 fps). Never in the WebGPU module: without burn's fusion and autotune there,
/// base's 1080p stream through Dawn took 3.5× longer with products (24.5 → 87.2 ms a frame).
const GEMM_MIN_POSITIONS: usize = 30_000;

/// Whether [`ConvKernels::Auto`] takes the tiled kernel on every GPU device (native and
/// WebGPU; on autodiff devices with the `autodiff` feature, which gives it a backward pass).
/// Measured on an H100 (docs/results/tiled-conv.md; `vqcodec-lab bench --conv
/// tiled|direct|gemm` through `scripts/device-conv.sh`, and the WebGPU module through Dawn):
/// base's 1920×1080 stream decode 76.6 fps with burn's convolution, 135.1 with the products,
/// 213.8–222.6 tiled; its device-search encode 50.3 / 65.7 / 64.9–67.6; through Dawn 24.7 →
/// 15.9 ms a frame; at 640×360 as fast or faster everywhere. Training (docs/results/
/// train-speed.md, `scripts/device-train-speed.sh`, 40-s runs from scratch, the rate of their
/// last seconds): base 35.9 Mpx/s tiled against 23.7 with burn's convolution, lite64L (bound
/// by its code search) 18.2 against 19.2.
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
const TILED_BY_DEFAULT: bool = true;

static CONV_KERNELS: AtomicU8 = AtomicU8::new(ConvKernels::Auto as u8);

/// Sets how convolutions run from now on, for the whole process (the lab's A/B benches;
/// the codec leaves it at [`ConvKernels::Auto`]).
pub fn set_conv_kernels(kernels: ConvKernels) {
    CONV_KERNELS.store(kernels as u8, Ordering::Relaxed);
}

fn on_cpu(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// Input values (9·C·rows·W) a 3×3's gathered planes may hold at once: 16 Mi f32 = 64 MiB,
/// half of WebGPU's default largest storage binding (128 MiB).
const GATHER_LIMIT: usize = 16 << 20;

/// `conv.forward(x)` for the model's convolutions (1×1, or 3×3 with stride 1 and padding 1),
/// on the kernels [`set_conv_kernels`] chose.
pub fn conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let kernels = CONV_KERNELS.load(Ordering::Relaxed);
    let plain = conv.stride == [1, 1] && conv.dilation == [1, 1] && conv.groups == 1;
    let shape = matches!(
        (conv.kernel_size, &conv.padding),
        ([1, 1], PaddingConfig2d::Valid | PaddingConfig2d::Same)
            | (
                [3, 3],
                PaddingConfig2d::Same | PaddingConfig2d::Explicit(1, 1, 1, 1)
            )
    );
    if !plain || !shape {
        return conv.forward(x);
    }
    #[cfg(feature = "wgpu")]
    if kernels == ConvKernels::Tiled as u8
        || (TILED_BY_DEFAULT && kernels == ConvKernels::Auto as u8)
    {
        let device = x.device();
        let [b, _, h, w] = x.dims();
        // the kernel reads and writes f32 (the models' dtype; an f16 experiment takes burn's)
        let f32 = burn::tensor::DType::F32;
        let f32s = x.dtype() == f32 && conv.weight.val().dtype() == f32;
        // on an autodiff device only with its backward pass (`autodiff` feature)
        let ad_ok = !device.is_autodiff() || cfg!(feature = "autodiff");
        if f32s && ad_ok && !on_cpu(&device) && super::tiled::fits(b, h * w) {
            let [cout, ..] = conv.weight.dims();
            let bias = match &conv.bias {
                Some(bias) => bias.val(),
                None => Tensor::zeros([cout], &device),
            };
            return super::tiled::conv_tiled(x, conv.weight.val(), bias);
        }
    }
    let gemm = match kernels {
        k if k == ConvKernels::Direct as u8 || k == ConvKernels::Tiled as u8 => false,
        k if k == ConvKernels::Gemm as u8 => true,
        _ => {
            let [_, _, h, w] = x.dims();
            !cfg!(target_arch = "wasm32") && !on_cpu(&x.device()) && h * w >= GEMM_MIN_POSITIONS
        }
    };
    if !gemm {
        return conv.forward(x);
    }
    conv_gemm(conv, x, GATHER_LIMIT)
}

/// [`conv`] as matrix products, a 3×3's gathered planes at most `limit` values a band.
fn conv_gemm(conv: &Conv2d, x: Tensor<4>, limit: usize) -> Tensor<4> {
    let [cout, cin, kh, _] = conv.weight.dims();
    let [b, c, h, w] = x.dims();
    debug_assert_eq!(c, cin);
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val().reshape([1, cout, 1]));
    let product = |weight: &Tensor<3>, cols: Tensor<3>| {
        let y = weight.clone().matmul(cols);
        match &bias {
            Some(bias) => y + bias.clone(),
            None => y,
        }
    };
    if kh == 1 {
        let y = product(&weight.reshape([1, cout, cin]), x.reshape([b, cin, h * w]));
        return y.reshape([b, cout, h, w]);
    }
    // input index (ky·3 + kx)·C + c, the order the nine planes are gathered in
    let weight = weight.permute([0, 2, 3, 1]).reshape([1, cout, 9 * cin]);
    let padded = x.pad((1, 1, 1, 1), PadMode::Constant(0.0));
    let band = (limit / (9 * cin * w * b).max(1)).clamp(1, h);
    let mut out = Vec::with_capacity(h.div_ceil(band));
    for r0 in (0..h).step_by(band) {
        let rows = band.min(h - r0);
        let taps: Vec<Tensor<4>> = (0..9)
            .map(|k| {
                let (dy, dx) = (k / 3, k % 3);
                padded
                    .clone()
                    .slice([0..b, 0..cin, r0 + dy..r0 + dy + rows, dx..dx + w])
            })
            .collect();
        let cols = Tensor::cat(taps, 1).reshape([b, 9 * cin, rows * w]);
        out.push(product(&weight, cols).reshape([b, cout, rows, w]));
    }
    if out.len() == 1 {
        out.pop().expect("one band")
    } else {
        Tensor::cat(out, 2)
    }
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
        let y = conv(&self.conv1, relu(conv(&self.conv3, relu(x.clone()))));
        x + y
    }
}

/// Multiply–adds ×2 per output position of a `k×k` convolution from `cin` to `cout` channels.
pub(crate) const fn conv_flops(k: usize, cin: usize, cout: usize) -> usize {
    2 * k * k * cin * cout
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use burn::tensor::TensorData;

    /// Every output value of `pixel_unshuffle` is the input pixel its doc comment names, for the
    /// factors the models use and a batch of two; `pixel_shuffle` puts every one back.
    #[test]
    fn pixel_unshuffle_moves_each_pixel_where_its_definition_says() {
        let device = Backend::cpu("test").device;
        let (b, c, h, w) = (2, 3, 16, 24);
        let data: Vec<f32> = (0..b * c * h * w).map(|i| i as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(data.clone(), [b, c, h, w]), &device);
        for f in [2, 4, 8] {
            let y = pixel_unshuffle(x.clone(), f);
            let (hs, ws) = (h / f, w / f);
            assert_eq!(y.dims(), [b, c * f * f, hs, ws]);
            let got = y.clone().into_data().try_to_vec::<f32>().unwrap();
            let mut want = Vec::with_capacity(got.len());
            for bi in 0..b {
                for ch in 0..c * f * f {
                    let (ci, fy, fx) = (ch / (f * f), ch / f % f, ch % f);
                    for ys in 0..hs {
                        for xs in 0..ws {
                            want.push(data[((bi * c + ci) * h + ys * f + fy) * w + xs * f + fx]);
                        }
                    }
                }
            }
            assert_eq!(got, want, "factor {f}");
            let back = pixel_shuffle(y, f).into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(back, data, "factor {f}");
        }
    }

    /// The matrix-product convolutions compute what burn's convolution does: 1×1 and 3×3
    /// (with and without bias), a batch of two, a size that is not square, and a 3×3 whose
    /// planes are gathered in bands of two rows (the last band shorter).
    #[test]
    fn gemm_convolutions_match_burns() {
        let device = Backend::cpu("test").device;
        let (b, c, h, w) = (2, 5, 7, 9);
        let data: Vec<f32> = (0..b * c * h * w)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [b, c, h, w]), &device);
        let no_bias = Conv2dConfig::new([c, 4], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init(&device);
        for (name, layer) in [
            ("1x1", conv1x1(c, 6, &device)),
            ("3x3", conv3x3(c, 6, &device)),
            ("3x3 without bias", no_bias),
        ] {
            let want = layer
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for limit in [GATHER_LIMIT, 2 * 9 * c * w * b] {
                let got = conv_gemm(&layer, x.clone(), limit);
                assert_eq!(got.dims()[..2], [b, layer.weight.dims()[0]]);
                let got = got.into_data().try_to_vec::<f32>().unwrap();
                assert_eq!(got.len(), want.len(), "{name}");
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (g - w).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-5, "{name}, limit {limit}: off by {worst}");
            }
        }
    }
}
