//! The encoder's search on the device as two kernels of our own, on cubecl's GPU runtimes
//! (burn-wgpu natively, the WebGPU module in the browser): [`search_positions`].
//!
//! Why kernels of our own: [`crate::search`] states the search as burn tensor operations —
//! matrix products, argmins, gathers, concatenations —, about 250 of them for a delta frame,
//! each a dispatch (natively, fusion merges only the element-wise ones; the WebGPU module has no
//! fusion). Through Dawn that took ~480 ms a 1080p frame. Here a frame is two dispatches:
//! `search_candidates` weighs every candidate of every position — a cube is one candidate of 64
//! positions, so a warp's units walk the same chain over the same codes, and each level's codes
//! pass through shared memory once a cube, read by all its units alike (a broadcast) —, and
//! `pick_candidates` takes each position's cheapest. (A first version gave one unit a whole
//! position, every candidate in turn, reading the codes from global memory: on an H100 it took
//! ~4.2 ms a 1080p slice's delta frame, no faster than the operations; one unit a candidate
//! without shared memory, 10.9 ms: a warp's units then read different levels' codes.)
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

/// Positions a cube decides (one candidate of each).
const UNITS: usize = 64;
/// Workgroups a dispatch may count along one dimension (WebGPU's default limit).
const MAX_GROUPS: usize = 65_535;
/// Floats a cube keeps in shared memory (WebGPU's default limit: 16 KiB): one level's codes,
/// their squared norms and their bits.
const MAX_SHARED: usize = 4096;

/// Candidates a position weighs, as the kernel counts them: the intra chain, then for a delta
/// frame the five copies (one unit) and each inter chain (start × motion).
fn candidate_units(frame: &SearchFrame) -> usize {
    if frame.delta { 2 + 5 * frame.starts } else { 1 }
}

/// Whether a frame of `positions` latent positions with codes of `dim` values fits the
/// kernel: 4.19 M positions (a 16K frame at the models' stride of 8 is 2.1 M).
pub fn fits(positions: usize, dim: usize) -> bool {
    positions.div_ceil(UNITS) <= MAX_GROUPS && dim + 2 <= MAX_SHARED
}

/// Codes a cube holds in shared memory at once, of a level's `size`: the most that fit
/// [`MAX_SHARED`] and divide `size` (128 of 16 values; 32 of 64).
fn chunk(size: usize, dim: usize) -> usize {
    let most = (MAX_SHARED / (dim + 2)).min(size).max(1);
    (1..=most).rev().find(|c| size % c == 0).unwrap_or(1)
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

/// The search as kernels of our own (see the module's documentation).
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
        assert!(
            fits(n, dim),
            "search_positions: a frame the kernel does not fit"
        );
        let units = candidate_units(&frame);
        let chunk = chunk(frame.size, dim);
        let latents = into_contiguous(latents);
        let positions = into_contiguous(positions);
        let tables = into_contiguous(tables);
        let empty = |dims: [usize; 2]| {
            empty_device_dtype(
                latents.client.clone(),
                latents.device.clone(),
                Shape::new(dims),
                DType::F32,
            )
        };
        let each = empty([units * n, 4 + frame.coded]);
        let out = empty([n, 3 + frame.coded]);
        let groups = n.div_ceil(UNITS) as u32;
        search_candidates::launch(
            &latents.client,
            CubeCount::Static(groups, units as u32, 1),
            CubeDim::new_1d(UNITS as u32),
            latents.clone().into_buffer_arg(),
            positions.into_buffer_arg(),
            tables.into_buffer_arg(),
            each.clone().into_buffer_arg(),
            n,
            frame.grid.0,
            frame.grid.1,
            frame.starts,
            u32::from(frame.delta),
            u32::from(frame.depth_by_rd),
            dim,
            frame.coded,
            frame.size,
            chunk,
            frame.size / chunk,
        );
        pick_candidates::launch(
            &latents.client,
            CubeCount::Static(groups, 1, 1),
            CubeDim::new_1d(UNITS as u32),
            each.into_buffer_arg(),
            out.clone().into_buffer_arg(),
            n,
            units,
            frame.coded,
        );
        out
    }
}

/// One candidate (`CUBE_POS_Y`: 0 intra, 1 the five copies, 2 + si·5 + m inter from start
/// `si` with motion `m`) of `UNITS` positions a cube: `[cost, candidate, end, squared error,
/// index per level…]` per position into `each` (`[units · n, 4 + coded]`). A chain is a greedy
/// RVQ from its first level with its class's bits; its depth the one of least cost
/// (shallowest on ties). Level by level, the cube reads the level's codes, norms and bits
/// into shared memory once and every unit reads them from there (the same address across the
/// cube: a broadcast).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn search_candidates(
    latents: &[f32],
    positions: &[f32],
    tables: &[f32],
    each: &mut [f32],
    n: usize,
    h: usize,
    w: usize,
    starts: usize,
    delta: u32,
    depth_by_rd: u32,
    #[comptime] dim: usize,
    #[comptime] coded: usize,
    #[comptime] size: usize,
    #[comptime] chunk: usize,
    #[comptime] chunks: usize,
) {
    let u = CUBE_POS_Y as usize;
    let tid = UNIT_POS_X as usize;
    let p = CUBE_POS_X as usize * UNITS + tid;
    let inside = p < n;
    // units past the end compute for the last position (every unit meets the barriers)
    let mut q_p = p;
    if q_p >= n {
        q_p = n - 1;
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
    let lam = positions[q_p];
    let y = q_p / w;
    let x = q_p % w;
    let mut r = Array::<f32>::new(dim);
    #[unroll]
    for d in 0..dim {
        r[d] = latents[q_p * dim + d];
    }
    // this cube's chain: its first level (`coded`: none, the copies), class and bits so far
    let mut first = 0usize;
    let mut class = 0usize;
    let mut b = 0.0f32;
    let mut cand = 0usize;
    if delta != 0 {
        class = 1;
        b = positions[at_modes + q_p * width + 1];
        if u == 1 {
            first = coded;
        } else if u > 1 {
            let i = u - 2;
            let si = i / 5;
            let m = i % 5;
            first = u32::cast_from(tables[at_starts + si]) as usize;
            class = 2;
            // the residual from the moved reference
            let q = n + moved(tables, at_shifts, m, y, x, h, w);
            #[unroll]
            for d in 0..dim {
                r[d] -= latents[q * dim + d];
            }
            b = positions[at_motions + q_p * 5 + m] + positions[at_modes + q_p * width + 2 + si];
            cand = 6 + i;
        }
    }
    let mut idx = Array::<u32>::new(coded);
    #[unroll]
    for l in 0..coded {
        idx[l] = 0u32;
    }
    let mut book = Shared::<[f32]>::new_slice(chunk * dim);
    let mut norms = Shared::<[f32]>::new_slice(chunk);
    let mut bits = Shared::<[f32]>::new_slice(chunk);
    let mut best_j = 3.0e38f32;
    let mut best_e = 0.0f32;
    // set below: by a shallower depth, or by the last level
    let mut best_end = first;
    for l in 0..coded {
        let active = l >= first;
        if active && l > first {
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
        // ‖r − c‖² − ‖r‖² = ‖c‖² − 2·r·c: one multiply-add a value
        let mut t = Array::<f32>::new(dim);
        #[unroll]
        for d in 0..dim {
            t[d] = r[d] * -2.0f32;
        }
        let mut best_k = 0usize;
        let mut best_d = 3.0e38f32;
        // the level's codes `chunk` at a time through shared memory
        for c in 0..chunks {
            let k0 = c * chunk;
            sync_cube();
            let mut i = tid;
            while i < chunk * dim {
                book[i] = tables[(l * size + k0) * dim + i];
                i += UNITS;
            }
            i = tid;
            while i < chunk {
                norms[i] = tables[at_norms + l * size + k0 + i];
                bits[i] = tables[at_bits + (class * coded + l) * size + k0 + i];
                i += UNITS;
            }
            sync_cube();
            if active {
                for k in 0..chunk {
                    let mut acc = norms[k];
                    #[unroll]
                    for d in 0..dim {
                        acc += book[k * dim + d] * t[d];
                    }
                    let v = acc + lam * bits[k];
                    if v < best_d {
                        best_d = v;
                        best_k = k0 + k;
                    }
                }
            }
        }
        if active {
            let c0 = (l * size + best_k) * dim;
            #[unroll]
            for d in 0..dim {
                r[d] -= tables[c0 + d];
            }
            b += tables[at_bits + (class * coded + l) * size + best_k];
            idx[l] = best_k as u32;
        }
    }
    if first < coded {
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
    } else {
        // copy with each motion: nothing coded
        let copy_bits = positions[at_modes + q_p * width];
        best_end = 0;
        for m in 0..5usize {
            let qm = n + moved(tables, at_shifts, m, y, x, h, w);
            let mut e = 0.0f32;
            #[unroll]
            for d in 0..dim {
                let v = latents[q_p * dim + d] - latents[qm * dim + d];
                e += v * v;
            }
            let j = e + (copy_bits + positions[at_motions + q_p * 5 + m]) * lam;
            if j < best_j {
                best_j = j;
                best_e = e;
                cand = 1 + m;
            }
        }
    }
    if inside {
        let o = (u * n + p) * (4 + coded);
        each[o] = best_j;
        each[o + 1] = f32::cast_from(cand as u32);
        each[o + 2] = f32::cast_from(best_end as u32);
        each[o + 3] = best_e;
        #[unroll]
        for l in 0..coded {
            each[o + 4 + l] = f32::cast_from(idx[l]);
        }
    }
}

/// Per position the first of `units` candidates of least cost, in the order they are counted
/// (as the operations compare: a later NaN never wins): `[candidate, end, squared error, index
/// per level…]` into `out`.
#[cube(launch)]
fn pick_candidates(
    each: &[f32],
    out: &mut [f32],
    n: usize,
    units: usize,
    #[comptime] coded: usize,
) {
    let p = CUBE_POS_X as usize * UNITS + UNIT_POS_X as usize;
    if p >= n {
        terminate!();
    }
    let stride = 4 + coded;
    let mut at = p * stride;
    let mut least = each[at];
    for u in 1..units {
        let o = (u * n + p) * stride;
        if each[o] < least {
            least = each[o];
            at = o;
        }
    }
    #[unroll]
    for i in 0..3 + coded {
        out[p * (3 + coded) + i] = each[at + 1 + i];
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
