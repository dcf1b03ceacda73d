//! The encoder's search on the device as one kernel of our own, on cubecl's GPU runtimes
//! (burn-wgpu natively, the WebGPU module in the browser): [`search_positions`].
//!
//! Why a kernel of our own: [`crate::search`] states the search as burn tensor operations —
//! matrix products, argmins, gathers, concatenations —, about 250 of them for a delta frame,
//! each a dispatch (natively, fusion merges only the element-wise ones; the WebGPU module has no
//! fusion). On an H100 the search took 11–20 ms of a 1080p frame that way, in many small device
//! calls, and held base's encode with the search on the device to 42–68 fps by host
//! (docs/results/device-profile.md, tiled-conv.md); through Dawn it took ~480 ms a frame. Here
//! one unit decides one position: every candidate's greedy RVQ, depth and cost in registers, the
//! codebooks read by every unit alike (one cached broadcast per load), one dispatch per frame.
//!
//! It decides what the operations decide, in the same order (candidates as
//! [`vqc::SearchPlan::candidate`] counts them, codes nearest first, depths shallowest first; ties
//! to the first), with the same sums in another order: a choice may differ where two costs tie
//! to float rounding. The stream stays what the host codes from the choices, exactly.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Shape, Tensor};
use burn_cubecl::CubeBackend;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::{self, CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

/// Positions (units) a cube decides.
const UNITS: usize = 64;
/// Workgroups a dispatch may count along one dimension (WebGPU's default limit).
const MAX_GROUPS: usize = 65_535;
/// Whether a frame of `positions` latent positions fits one dispatch (4.19 M positions: a
/// 16K frame at the models' stride of 8 is 2.1 M).
pub fn fits(positions: usize) -> bool {
    positions.div_ceil(UNITS) <= MAX_GROUPS
}

/// The frame's shape and what it offers: ordinary arguments of [`SearchKernel::search_positions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchFrame {
    /// Latent rows and columns.
    pub grid: (usize, usize),
    /// Codes per level.
    pub size: usize,
    /// Levels coded.
    pub coded: usize,
    /// Inter start levels offered (delta frames).
    pub starts: usize,
    /// A delta frame (else a keyframe: intra only).
    pub delta: bool,
    /// Depth chosen by `error + λ·bits` (else every level coded: λ = 0).
    pub depth_by_rd: bool,
}

/// The search as one kernel (see the module's documentation).
#[backend_extension(Fusion: cfg(feature = "fusion"), Cube: cfg(feature = "wgpu"))]
pub trait SearchKernel: Backend {
    /// Per position `[candidate, end, squared error, index per level…]` (`[n, 3 + coded]`, f32)
    /// from three buffers (WebGPU's default limits allow a shader 8 storage buffers):
    /// `latents` (`[n, D]` the frame's latent in the search space, then for a delta frame `[n, D]`
    /// the reference), `positions` (λ `[n]`, then for a delta frame the mode bits
    /// `[n, 2 + starts]` and the motion bits `[n, 5]`) and `tables` (the codes
    /// `[coded, size, D]`, their squared norms `[coded, size]`, their bits `[3, coded, size]` per
    /// class and level, the stop bits
    /// `[3, coded, 2]`, the start levels, the motions' `(dx, dy)`).
    #[fusion(dtype = latents, shape = Shape::new([frame.grid.0 * frame.grid.1, 3 + frame.coded]))]
    fn search_positions(
        latents: FloatTensor<Self>,
        positions: FloatTensor<Self>,
        tables: FloatTensor<Self>,
        frame: SearchFrame,
    ) -> FloatTensor<Self>;
}

/// [`SearchKernel::search_positions`] on a cubecl device (not an autodiff one).
pub fn search_positions(
    latents: Tensor<2>,
    positions: Tensor<1>,
    tables: Tensor<1>,
    frame: SearchFrame,
) -> Tensor<2> {
    Tensor::from_dispatch(<burn::backend::Dispatch as SearchKernel>::search_positions(
        latents.into_dispatch(),
        positions.into_dispatch(),
        tables.into_dispatch(),
        frame,
    ))
}

impl SearchKernel for CubeBackend {
    fn search_positions(
        latents: CubeTensor,
        positions: CubeTensor,
        tables: CubeTensor,
        frame: SearchFrame,
    ) -> CubeTensor {
        let [_, dim] = latents.meta.shape().dims::<2>();
        let n = frame.grid.0 * frame.grid.1;
        assert!(fits(n), "search_positions: too many positions");
        let latents = into_contiguous(latents);
        let positions = into_contiguous(positions);
        let tables = into_contiguous(tables);
        let out = empty_device_dtype(
            latents.client.clone(),
            latents.device.clone(),
            Shape::new([n, 3 + frame.coded]),
            DType::F32,
        );
        search_kernel::launch(
            &latents.client,
            CubeCount::Static(n.div_ceil(UNITS) as u32, 1, 1),
            CubeDim::new_1d(UNITS as u32),
            latents.clone().into_buffer_arg(),
            positions.into_buffer_arg(),
            tables.into_buffer_arg(),
            out.clone().into_buffer_arg(),
            n,
            frame.grid.0,
            frame.grid.1,
            frame.size,
            frame.starts,
            u32::from(frame.delta),
            u32::from(frame.depth_by_rd),
            dim,
            frame.coded,
        );
        out
    }
}

/// A greedy RVQ of `r` from level `first` with class `class`'s bits, starting from `bits0`:
/// `(cost, squared error, end)` of the depth of least cost (shallowest on ties), `r` left as
/// the residual after every level and `idx` holding each level's code from `first` on.
/// `tables` as [`SearchKernel::search_positions`] lays it out: the codes' squared norms from
/// `at_norms`, their bits from `at_bits`, the stop bits from `at_stop`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn chain(
    r: &mut Array<f32>,
    idx: &mut Array<u32>,
    tables: &[f32],
    at_norms: usize,
    at_bits: usize,
    at_stop: usize,
    first: usize,
    class: usize,
    lam: f32,
    bits0: f32,
    size: usize,
    depth_by_rd: u32,
    #[comptime] dim: usize,
    #[comptime] coded: usize,
) -> (f32, f32, usize) {
    let mut b = bits0;
    let mut best_j = 3.0e38f32;
    let mut best_e = 0.0f32;
    // set below: by a shallower depth, or by the last level
    let mut best_end = first;
    for l in first..coded {
        if l > first {
            let so = at_stop + (class * coded + l) * 2;
            if depth_by_rd != 0 {
                let mut e = 0.0f32;
                #[unroll]
                for d in 0..dim {
                    e += r[d] * r[d];
                }
                let j = e + (b + tables[so]) * lam;
                if j < best_j {
                    best_j = j;
                    best_e = e;
                    best_end = l;
                }
            }
            b += tables[so + 1];
        }
        let book = l * size * dim;
        let row = at_bits + (class * coded + l) * size;
        // ‖r − c‖² − ‖r‖² = ‖c‖² − 2·r·c: one multiply-add a value
        let mut t = Array::<f32>::new(dim);
        #[unroll]
        for d in 0..dim {
            t[d] = r[d] * -2.0f32;
        }
        let mut best_k = 0usize;
        let mut best_d = 3.0e38f32;
        for k in 0..size {
            let c0 = book + k * dim;
            let mut acc = tables[at_norms + l * size + k];
            #[unroll]
            for d in 0..dim {
                acc += tables[c0 + d] * t[d];
            }
            let v = acc + lam * tables[row + k];
            if v < best_d {
                best_d = v;
                best_k = k;
            }
        }
        let c0 = book + best_k * dim;
        #[unroll]
        for d in 0..dim {
            r[d] -= tables[c0 + d];
        }
        b += tables[row + best_k];
        idx[l] = best_k as u32;
    }
    let mut e = 0.0f32;
    #[unroll]
    for d in 0..dim {
        e += r[d] * r[d];
    }
    let j = e + b * lam;
    if depth_by_rd == 0 || j < best_j {
        best_j = j;
        best_e = e;
        best_end = coded;
    }
    (best_j, best_e, best_end)
}

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn search_kernel(
    latents: &[f32],
    positions: &[f32],
    tables: &[f32],
    out: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    size: usize,
    starts: usize,
    delta: u32,
    depth_by_rd: u32,
    #[comptime] dim: usize,
    #[comptime] coded: usize,
) {
    let p = CUBE_POS_X as usize * UNITS + UNIT_POS_X as usize;
    if p >= n {
        terminate!();
    }
    // where each part of `positions` and `tables` starts
    let width = 2 + starts;
    let at_modes = n;
    let at_motions = n + n * width;
    let at_norms = coded * size * dim;
    let at_bits = at_norms + coded * size;
    let at_stop = at_bits + 3 * coded * size;
    let at_starts = at_stop + 3 * coded * 2;
    let at_shifts = at_starts + starts;
    let lam = positions[p];
    let mut r = Array::<f32>::new(dim);
    let mut idx = Array::<u32>::new(coded);
    let mut best_idx = Array::<u32>::new(coded);
    #[unroll]
    for d in 0..dim {
        r[d] = latents[p * dim + d];
    }
    #[unroll]
    for l in 0..coded {
        idx[l] = 0u32;
    }
    let mut class = 0usize;
    let mut bits0 = 0.0f32;
    if delta != 0 {
        class = 1;
        bits0 = positions[at_modes + p * width + 1];
    }
    // intra (a keyframe's only candidate)
    let (j0, e0, end0) = chain(
        &mut r,
        &mut idx,
        tables,
        at_norms,
        at_bits,
        at_stop,
        0,
        class,
        lam,
        bits0,
        size,
        depth_by_rd,
        dim,
        coded,
    );
    let mut best_j = j0;
    let mut best_e = e0;
    let mut best_end = end0;
    let mut best_c = 0usize;
    #[unroll]
    for l in 0..coded {
        best_idx[l] = idx[l];
    }
    if delta != 0 {
        let y = p / w;
        let x = p % w;
        let copy_bits = positions[at_modes + p * width];
        // copy with each motion: nothing coded
        for m in 0..5usize {
            let q = n + moved(tables, at_shifts, m, y, x, h, w);
            let mut e = 0.0f32;
            #[unroll]
            for d in 0..dim {
                let v = latents[p * dim + d] - latents[q * dim + d];
                e += v * v;
            }
            let j = e + (copy_bits + positions[at_motions + p * 5 + m]) * lam;
            if j < best_j {
                best_j = j;
                best_e = e;
                best_end = 0;
                best_c = 1 + m;
                #[unroll]
                for l in 0..coded {
                    best_idx[l] = 0u32;
                }
            }
        }
        // inter from each start with each motion
        for si in 0..starts {
            let s = u32::cast_from(tables[at_starts + si]) as usize;
            let start_bits = positions[at_modes + p * width + 2 + si];
            for m in 0..5usize {
                let q = n + moved(tables, at_shifts, m, y, x, h, w);
                #[unroll]
                for d in 0..dim {
                    r[d] = latents[p * dim + d] - latents[q * dim + d];
                }
                #[unroll]
                for l in 0..coded {
                    idx[l] = 0u32;
                }
                let (j, e, end) = chain(
                    &mut r,
                    &mut idx,
                    tables,
                    at_norms,
                    at_bits,
                    at_stop,
                    s,
                    2,
                    lam,
                    positions[at_motions + p * 5 + m] + start_bits,
                    size,
                    depth_by_rd,
                    dim,
                    coded,
                );
                if j < best_j {
                    best_j = j;
                    best_e = e;
                    best_end = end;
                    best_c = 6 + si * 5 + m;
                    #[unroll]
                    for l in 0..coded {
                        best_idx[l] = idx[l];
                    }
                }
            }
        }
    }
    let o = p * (3 + coded);
    out[o] = f32::cast_from(best_c as u32);
    out[o + 1] = f32::cast_from(best_end as u32);
    out[o + 2] = best_e;
    #[unroll]
    for l in 0..coded {
        out[o + 3 + l] = f32::cast_from(best_idx[l]);
    }
}

/// The position `(y, x)` moved by motion `m` (`tables[at + 2m]`, `tables[at + 2m + 1]`: `dx`,
/// `dy`), clamped to the `h × w` grid, as an index.
#[cube]
#[allow(clippy::too_many_arguments)]
fn moved(tables: &[f32], at: usize, m: usize, y: usize, x: usize, h: usize, w: usize) -> usize {
    let mut xx = i32::cast_from(tables[at + 2 * m]) + x as i32;
    let mut yy = i32::cast_from(tables[at + 2 * m + 1]) + y as i32;
    if xx < 0 {
        xx = 0;
    }
    if yy < 0 {
        yy = 0;
    }
    if xx > w as i32 - 1 {
        xx = w as i32 - 1;
    }
    if yy > h as i32 - 1 {
        yy = h as i32 - 1;
    }
    yy as usize * w + xx as usize
}
