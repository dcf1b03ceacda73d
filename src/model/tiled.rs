//! The models' convolutions as one tiled kernel on cubecl's GPU runtimes (burn-wgpu natively, the
//! WebGPU module in the browser): [`conv_tiled`].
//!
//! Why a kernel of our own: burn-cubecl 0.22's only f32 3×3 candidate on wgpu is its direct
//! kernel (each output computed alone, the input re-read per output channel), which the H100
//! profiles put at ~1% of the f32 peak and 75–82% of the networks' device time
//! (docs/results/device-profile.md). Matrix products over gathered planes win natively only
//! where burn's fusion merges the gathering (and lost 3.5× in the WebGPU module, which has no
//! fusion: ~12 dispatches a band). This is the same product in **one dispatch**, the gathering
//! done while loading tiles: an implicit GEMM `out[co, p] = Σ_k W[co, k] · X[k, p]` with
//! `k = ci·T + tap` (burn's own weight layout `[Cout, Cin, kh, kw]`, so no reshuffle) and `X` the
//! zero-padded input read on the fly.
//!
//! Tiling: a cube of 16×16 units computes a 64 (output channels) × 64 (positions) tile; each unit
//! 4×4 outputs strided by 16 (so neighbouring units read neighbouring shared-memory words and
//! write neighbouring output positions); the reduction runs in steps of 16 through shared memory.

use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::{Shape, Tensor};
use burn_cubecl::CubeBackend;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::{self, CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

/// Output channels a cube computes.
const TILE_M: usize = 64;
/// Positions a cube computes.
const TILE_N: usize = 64;
/// Reduction step held in shared memory.
const TILE_K: usize = 16;
/// Units along each side of a cube (16×16 = 256).
const UNITS: usize = 16;
/// Outputs per unit along each side (`TILE_M / UNITS`).
const PER_UNIT: usize = 4;
/// Row length of the weights' tile in shared memory: one word longer than a row, so that the
/// units storing one column (16 consecutive `k`) hit different banks.
const A_STRIDE: usize = TILE_M + 1;

/// Convolutions run as one tiled kernel (see the module's documentation).
#[backend_extension(
    Fusion: cfg(feature = "fusion"),
    Cube: cfg(feature = "wgpu"),
    Autodiff: cfg(feature = "autodiff")
)]
pub trait TiledConv: Backend {
    /// `x` `[B, Cin, H, W]`, `weight` `[Cout, Cin, k, k]` with `k` 1 or 3 (stride 1, padding
    /// `k / 2`), `bias` `[Cout]` → `[B, Cout, H, W]`.
    #[fusion(dtype = x, shape = out_shape(x, weight))]
    fn conv_tiled(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

// read by the extension's fusion path only (feature `fusion`; the WebGPU module has none)
#[cfg_attr(not(feature = "fusion"), allow(dead_code))]
fn out_shape(x: &Shape, weight: &Shape) -> Shape {
    Shape::new([x[0], weight[0], x[2], x[3]])
}

/// Whether a batch of `batch` planes of `positions` positions fits one launch: WebGPU's
/// guaranteed 65,535 workgroups along each dimension (positions go along x in tiles of 64, so up
/// to 4.19 M positions: an 8192×8192 frame's 1/4-resolution plane, 2048×2048, is just past it).
pub fn fits(batch: usize, positions: usize) -> bool {
    positions.div_ceil(TILE_N) <= MAX_GROUPS && batch <= MAX_GROUPS
}

/// Workgroups a dispatch may count along each dimension (WebGPU's default limit).
const MAX_GROUPS: usize = 65_535;

/// `conv(x)` for a 1×1 or 3×3 (stride 1, padding `k / 2`, no groups or dilation) on a cubecl
/// device; with the `autodiff` feature also on an autodiff one (the input's gradient by the same
/// kernel, the weights' and bias's by burn's).
pub fn conv_tiled(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as TiledConv>::conv_tiled(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

impl TiledConv for CubeBackend {
    fn conv_tiled(x: CubeTensor, weight: CubeTensor, bias: CubeTensor) -> CubeTensor {
        let [b, cin, h, w] = x.meta.shape().dims::<4>();
        let [cout, wcin, kh, kw] = weight.meta.shape().dims::<4>();
        assert!(
            fits(b, h * w) && cout.div_ceil(TILE_M) <= MAX_GROUPS,
            "conv_tiled: too large"
        );
        assert!(
            wcin == cin && kh == kw && (kh == 1 || kh == 3),
            "conv_tiled: 1×1 or 3×3"
        );
        // a device below WebGPU's default limits (compatibility mode allows 128 invocations a
        // workgroup) gets burn's convolution
        let hw = &x.client.properties().hardware;
        let shared = (TILE_K * A_STRIDE + TILE_K * TILE_N) * size_of::<f32>();
        if hw.max_units_per_cube < (UNITS * UNITS) as u32
            || hw.max_cube_dim.0 < UNITS as u32
            || hw.max_cube_dim.1 < UNITS as u32
            || hw.max_shared_memory_size < shared
        {
            let options = ConvOptions::new([1, 1], [kh / 2, kh / 2], [1, 1], 1);
            return Self::conv2d(x, weight, Some(bias), options);
        }
        let x = into_contiguous(x);
        let weight = into_contiguous(weight);
        let bias = into_contiguous(bias);
        let out = empty_device_dtype(
            x.client.clone(),
            x.device.clone(),
            Shape::new([b, cout, h, w]),
            x.dtype,
        );
        let positions = h * w;
        let count = CubeCount::Static(
            positions.div_ceil(TILE_N) as u32,
            cout.div_ceil(TILE_M) as u32,
            b as u32,
        );
        conv_tiled_kernel::launch(
            &x.client,
            count,
            CubeDim::new_2d(UNITS as u32, UNITS as u32),
            x.clone().into_buffer_arg(),
            weight.into_buffer_arg(),
            bias.into_buffer_arg(),
            out.clone().into_buffer_arg(),
            cin,
            cout,
            h,
            w,
            kh * kw,
        );
        out
    }
}

/// Training through the tiled kernel: the input's gradient is the same convolution of the
/// output's gradient with the weights transposed (`[Cin, Cout]`) and flipped in space, by the
/// tiled kernel again; the weights' and bias's gradients are burn's.
#[cfg(feature = "autodiff")]
mod autodiff {
    use super::TiledConv;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::ops::ConvOptions;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, TensorMetadata};
    use burn::tensor::{FloatDType, Shape};

    #[derive(Debug)]
    struct ConvTiledBackward;

    impl<B: Backend + TiledConv> Backward<B, 3> for ConvTiledBackward {
        type State = (NodeId, NodeId, NodeId);

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_x, node_weight, node_bias] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (x, weight, bias) = ops.state;
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
            let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight);
            let bias = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(bias);
            let k = weight.shape()[2];
            let options = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
            if let Some(node) = node_x {
                let cin = weight.shape()[1];
                let flipped = B::float_flip(B::float_swap_dims(weight.clone(), 0, 1), &[2, 3]);
                let zero = B::float_zeros(Shape::new([cin]), &grad.device(), FloatDType::F32);
                grads.register::<B>(node.id, B::conv_tiled(grad.clone(), flipped, zero));
            }
            if let Some(node) = node_weight {
                let g = B::conv2d_weight_backward(x.clone(), weight, grad.clone(), options);
                grads.register::<B>(node.id, g);
            }
            if let Some(node) = node_bias {
                grads.register::<B>(node.id, B::conv2d_bias_backward(x, bias, grad));
            }
        }
    }

    impl<B: Backend + TiledConv, C: CheckpointStrategy> TiledConv for Autodiff<B, C> {
        fn conv_tiled(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            match ConvTiledBackward
                .prepare::<C>([x.node(), weight.node(), bias.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let state = (
                        prep.checkpoint(&x),
                        prep.checkpoint(&weight),
                        prep.checkpoint(&bias),
                    );
                    let out = B::conv_tiled(
                        x.into_primitive(),
                        weight.into_primitive(),
                        bias.into_primitive(),
                    );
                    prep.finish(state, out)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::conv_tiled(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                )),
            }
        }
    }
}

#[cube(launch)]
fn conv_tiled_kernel(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    output: &mut [f32],
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    #[comptime] taps: usize,
) {
    let tx = UNIT_POS_X as usize;
    let ty = UNIT_POS_Y as usize;
    let tid = ty * UNITS + tx;
    let n0 = CUBE_POS_X as usize * TILE_N;
    let m0 = CUBE_POS_Y as usize * TILE_M;
    let batch = CUBE_POS_Z as usize;
    let positions = h * w;
    let k_total = cin * taps;
    let in_base = batch * cin * positions;

    let mut a_tile = Shared::<[f32]>::new_slice(TILE_K * A_STRIDE);
    let mut b_tile = Shared::<[f32]>::new_slice(TILE_K * TILE_N);
    let mut acc = Array::<f32>::new(PER_UNIT * PER_UNIT);
    #[unroll]
    for i in 0..PER_UNIT * PER_UNIT {
        acc[i] = 0.0;
    }

    // the input position this unit loads into the tiles (the same at every step)
    let b_col = tid % TILE_N;
    let b_row = tid / TILE_N;
    let b_n = n0 + b_col;
    let b_inside = b_n < positions;
    let b_y = b_n / w;
    let b_x = b_n % w;
    let pad = taps / 9;

    let mut k0 = 0usize;
    while k0 < k_total {
        // weights: 16 (k) × 64 (channels), four a unit; neighbouring units read neighbouring k
        #[unroll]
        for r in 0..(TILE_K * TILE_M) / (UNITS * UNITS) {
            let e = tid + r * UNITS * UNITS;
            let kk = e % TILE_K;
            let mm = e / TILE_K;
            let k = k0 + kk;
            let m = m0 + mm;
            let mut v = 0.0f32;
            if k < k_total && m < cout {
                v = weight[m * k_total + k];
            }
            a_tile[kk * A_STRIDE + mm] = v;
        }
        // inputs: 16 (k) × 64 (positions), gathered from the zero-padded planes; a unit always
        // loads the same position (its row and column worked out once, above)
        #[unroll]
        for r in 0..(TILE_K * TILE_N) / (UNITS * UNITS) {
            let kk = b_row + r * (UNITS * UNITS / TILE_N);
            let k = k0 + kk;
            let mut v = 0.0f32;
            if k < k_total && b_inside {
                let ci = k / taps;
                let tap = k % taps;
                // row and column in the padded plane: 0 ..= h + 1 for a 3×3
                let yy = b_y + tap / 3;
                let xx = b_x + tap % 3;
                if yy >= pad && yy < h + pad && xx >= pad && xx < w + pad {
                    v = input[in_base + ci * positions + (yy - pad) * w + (xx - pad)];
                }
            }
            b_tile[kk * TILE_N + b_col] = v;
        }
        sync_cube();
        #[unroll]
        for kk in 0..TILE_K {
            let mut a = Array::<f32>::new(PER_UNIT);
            let mut b = Array::<f32>::new(PER_UNIT);
            #[unroll]
            for i in 0..PER_UNIT {
                a[i] = a_tile[kk * A_STRIDE + ty + i * UNITS];
                b[i] = b_tile[kk * TILE_N + tx + i * UNITS];
            }
            #[unroll]
            for i in 0..PER_UNIT {
                #[unroll]
                for j in 0..PER_UNIT {
                    acc[i * PER_UNIT + j] += a[i] * b[j];
                }
            }
        }
        sync_cube();
        k0 += TILE_K;
    }

    let out_base = batch * cout * positions;
    #[unroll]
    for i in 0..PER_UNIT {
        let m = m0 + ty + i * UNITS;
        if m < cout {
            let bias_m = bias[m];
            #[unroll]
            for j in 0..PER_UNIT {
                let n = n0 + tx + j * UNITS;
                if n < positions {
                    output[out_base + m * positions + n] = acc[i * PER_UNIT + j] + bias_m;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, BackendRequest};
    use crate::model::layers::{conv1x1, conv3x3};
    use burn::module::Module;
    use burn::tensor::TensorData;

    /// A launch counts at most 65,535 workgroups along each dimension: planes past that take
    /// burn's convolution.
    #[test]
    fn planes_past_one_launch_are_left_to_burn() {
        assert!(fits(1, 1920 / 4 * 1080 / 4));
        assert!(fits(1, 8192 / 4 * 8184 / 4));
        assert!(!fits(1, 8192 / 4 * 8192 / 4));
        assert!(fits(2, 65_535 * 64));
        assert!(!fits(1, 65_535 * 64 + 1));
        assert!(!fits(65_536, 64));
    }

    /// Training through the tiled kernel: the gradients of the input, the weights and the bias
    /// on the GPU's autodiff device are burn's on the CPU, for a 3×3 and
    /// a 1×1 of sizes that fill no tile. Needs a GPU adapter (lavapipe will do).
    #[cfg(feature = "autodiff")]
    #[test]
    fn the_tiled_kernel_trains_with_burns_gradients() {
        let gpu = match Backend::select(BackendRequest::Gpu) {
            Ok(b) => b.device.autodiff(),
            Err(e) => return eprintln!("no GPU adapter here ({e}); the tiled kernel not run"),
        };
        let cpu = Backend::cpu("test").device.autodiff();
        for (b, cin, cout, h, w, k) in [(2, 19, 70, 9, 11, 3), (1, 24, 40, 7, 5, 1)] {
            let data: Vec<f32> = (0..b * cin * h * w)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let weights: Vec<f32> = (0..b * cout * h * w)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let base = Backend::cpu("test").device;
            let layer0 = if k == 1 {
                conv1x1(cin, cout, &base)
            } else {
                conv3x3(cin, cout, &base)
            };
            let wdata = layer0.weight.val().into_data();
            let bdata = layer0.bias.as_ref().unwrap().val().into_data();
            let grads_on = |device: &burn::tensor::Device, tiled: bool| {
                let weight = Tensor::<4>::from_data(wdata.clone(), device).require_grad();
                let bias = Tensor::<1>::from_data(bdata.clone(), device).require_grad();
                let x =
                    Tensor::<4>::from_data(TensorData::new(data.clone(), [b, cin, h, w]), device)
                        .require_grad();
                let r = Tensor::<4>::from_data(
                    TensorData::new(weights.clone(), [b, cout, h, w]),
                    device,
                );
                let y = if tiled {
                    conv_tiled(x.clone(), weight.clone(), bias.clone())
                } else {
                    let options =
                        burn::tensor::ops::ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
                    burn::tensor::module::conv2d(
                        x.clone(),
                        weight.clone(),
                        Some(bias.clone()),
                        options,
                    )
                };
                let g = (y * r).sum().backward();
                let v = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
                let gx = v(x.grad(&g).unwrap().flatten(0, 3));
                let gw = v(weight.grad(&g).unwrap().flatten(0, 3));
                let gb = v(bias.grad(&g).unwrap());
                (gx, gw, gb)
            };
            let want = grads_on(&cpu, false);
            let got = grads_on(&gpu, true);
            for (name, g, w) in [
                ("input", &got.0, &want.0),
                ("weights", &got.1, &want.1),
                ("bias", &got.2, &want.2),
            ] {
                assert_eq!(g.len(), w.len(), "{name}");
                let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let worst = g
                    .iter()
                    .zip(w)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(
                    worst <= 1e-4 * scale,
                    "{k}×{k}, {name}: off by {worst} (scale {scale})"
                );
            }
        }
    }

    /// The tiled kernel computes what burn's convolution computes on the CPU: 1×1 and 3×3, a batch
    /// of two, sizes that fill neither a tile's 64 channels nor its 64 positions nor its
    /// reduction step of 16 (and more than one tile of each), a 3×3 without bias. Needs a GPU
    /// adapter (a software one will do: lavapipe here); without one it says so and checks nothing.
    #[test]
    fn the_tiled_kernel_matches_burns_convolution() {
        let gpu = match Backend::select(BackendRequest::Gpu) {
            Ok(b) => b.device,
            Err(e) => return eprintln!("no GPU adapter here ({e}); the tiled kernel not run"),
        };
        let cpu = Backend::cpu("test").device;
        for (b, cin, cout, h, w, k, bias) in [
            (2, 20, 48, 7, 13, 3, true),
            (1, 37, 70, 9, 17, 1, true),
            (1, 12, 130, 11, 8, 3, false),
            (2, 64, 64, 16, 16, 3, true),
        ] {
            let data: Vec<f32> = (0..b * cin * h * w)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(data, [b, cin, h, w]), &cpu);
            let mut layer = if k == 1 {
                conv1x1(cin, cout, &cpu)
            } else {
                conv3x3(cin, cout, &cpu)
            };
            if !bias {
                layer.bias = None;
            }
            let want = layer
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let layer = layer.to_device(&gpu);
            let bias = match &layer.bias {
                Some(bias) => bias.val(),
                None => Tensor::zeros([cout], &gpu),
            };
            let got = conv_tiled(x.to_device(&gpu), layer.weight.val(), bias);
            assert_eq!(got.dims(), [b, cout, h, w]);
            let got = got.into_data().try_to_vec::<f32>().unwrap();
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0, f32::max);
            let case = format!(
                "{b}×{cin}→{cout}, {h}×{w}, {k}×{k}, bias {}",
                layer.bias.is_some()
            );
            assert!(worst < 1e-4, "{case}: off by {worst}");
        }
    }
}
