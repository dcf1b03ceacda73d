//! The encoder's search on the device: every position of a frame decided at once
//! ([`vqc::SearchPlan`] says what it leaves out against the coder's own search). On a GPU it is
//! two kernels of ours (`crate::search_kernel`: a unit per position and candidate, then one
//! per position picking the cheapest); on the CPU
//! backends, and on a GPU with [`set_search_operations`], burn tensor operations: matrix
//! products and argmins. Either way the latent, the reference and a few cost tables go up and
//! the choices come back in one readback: `3 + L'` values per position.
//!
//! Per position and candidate (intra; copy and inter from each start, each with the five
//! whole-position motions) the residual is quantised greedily level by level, each level's
//! code the one of least `squared error + λ·bits(code)`; the depth is the one of least
//! `error + λ·bits` along that path (stop flags included), and the candidate the one of least
//! `error + λ·(mode + motion + index bits)`. Ties go to the first candidate, the nearest code,
//! the shallowest depth.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{Device, Int, Tensor, TensorData};
use vqc::{FrameKind, MOTIONS, SearchChoice, SearchPlan};

use crate::{Engine, Error};

/// Whether GPU devices run the search as tensor operations too ([`set_search_operations`]).
static OPERATIONS: AtomicBool = AtomicBool::new(false);

/// Makes every device run the search as burn tensor operations (`true`), as the CPU backends
/// do, instead of the kernels GPU devices run by default (`crate::search_kernel`): for
/// comparisons (`vqcodec-lab bench --search-operations`). Process-wide, as
/// [`crate::model::set_conv_kernels`] is.
pub fn set_search_operations(on: bool) {
    OPERATIONS.store(on, Ordering::Relaxed);
}

/// The plan's tables on the device.
struct Tables {
    coded: usize,
    size: usize,
    /// Per level: its codes `[K, D]` in the search space.
    books: Vec<Tensor<2>>,
    /// Per class and level, each code's bits `[1, K]`.
    index: Vec<Tensor<2>>,
    /// Per class and level, `[−2·codesᵀ; bits; ‖codes‖²]` (`[D + 2, K]`): a row `[r, λ, 1]`
    /// times it is `‖r − c‖² − ‖r‖² + λ·bits(c)` for every code `c`, in one matrix product.
    keys: Vec<Tensor<2>>,
    /// Per class and level, (stop, go on) bits.
    stop: Vec<(f32, f32)>,
}

impl Tables {
    fn index(&self, class: usize, level: usize) -> Tensor<2> {
        self.index[class * self.coded + level].clone()
    }

    fn keys(&self, class: usize, level: usize) -> Tensor<2> {
        self.keys[class * self.coded + level].clone()
    }
}

/// One candidate's chain over all rows: its cost `error + λ·bits`, its squared error, its end
/// (one past its last level) and the index it chose at each level from its first.
struct Chain {
    j: Tensor<2>,
    err: Tensor<2>,
    end: Tensor<2, Int>,
    idx: Vec<Tensor<2, Int>>,
}

/// Greedy RVQ of `r` (`[R, D]`) from level `first` with class `class`'s bits, each row at its
/// own λ (`lam`, `[R, 1]`) and starting from `bits` (`[R, 1]`: the mode and motion).
fn chain(
    t: &Tables,
    mut r: Tensor<2>,
    (first, class): (usize, usize),
    lam: &Tensor<2>,
    mut bits: Tensor<2>,
    depth_by_rd: bool,
) -> Chain {
    let [rows, _] = r.dims();
    let (mut js, mut errs, mut idx) = (Vec::new(), Vec::new(), Vec::new());
    let lam_one = Tensor::cat(vec![lam.clone(), lam.ones_like()], 1);
    for l in first..t.coded {
        if l > first {
            let (stop, go) = t.stop[class * t.coded + l];
            if depth_by_rd {
                let e = r.clone().square().sum_dim(1);
                js.push(e.clone() + bits.clone().add_scalar(stop) * lam.clone());
                errs.push(e);
            }
            bits = bits.add_scalar(go);
        }
        let ib = t.index(class, l);
        let key = Tensor::cat(vec![r.clone(), lam_one.clone()], 1).matmul(t.keys(class, l));
        let k = key.argmin(1).reshape([rows]);
        r = r - t.books[l].clone().select(0, k.clone());
        bits = bits + ib.reshape([t.size]).select(0, k.clone()).reshape([rows, 1]);
        idx.push(k.unsqueeze_dim::<2>(1));
    }
    let e = r.square().sum_dim(1);
    js.push(e.clone() + bits * lam.clone());
    errs.push(e);
    let jm = Tensor::cat(js, 1);
    let which = jm.clone().argmin(1);
    let j = jm.gather(1, which.clone());
    let err = Tensor::cat(errs, 1).gather(1, which.clone());
    // depths first+1..=coded by RD; at λ = 0 every level is coded
    let end = which.add_scalar(if depth_by_rd { first + 1 } else { t.coded } as i64);
    Chain { j, err, end, idx }
}

/// A group of candidates, each field `[n, width]`: each one's end, its squared error, and its
/// indices per level (none where the group codes no index at that level).
type Group = (Tensor<2>, Tensor<2>, Vec<Option<Tensor<2, Int>>>);

/// `v` (`[h·w, D]`, position-major) read at each position moved by motion `m` ([`MOTIONS`]),
/// clamped to the grid.
fn shifted(v: &Tensor<2>, (h, w): (usize, usize), m: usize) -> Tensor<2> {
    let [n, d] = v.dims();
    let g = v.clone().reshape([h, w, d]);
    let (dx, dy) = MOTIONS[m];
    let g = match (dx, dy) {
        (-1, 0) if w > 1 => Tensor::cat(vec![g.clone().narrow(1, 0, 1), g.narrow(1, 0, w - 1)], 1),
        (1, 0) if w > 1 => Tensor::cat(
            vec![g.clone().narrow(1, 1, w - 1), g.narrow(1, w - 1, 1)],
            1,
        ),
        (0, -1) if h > 1 => Tensor::cat(vec![g.clone().narrow(0, 0, 1), g.narrow(0, 0, h - 1)], 0),
        (0, 1) if h > 1 => Tensor::cat(
            vec![g.clone().narrow(0, 1, h - 1), g.narrow(0, h - 1, 1)],
            0,
        ),
        _ => g,
    };
    g.reshape([n, d])
}

fn upload(data: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape), device)
}

/// `Error::InvalidTokens` unless `plan`'s arrays and `latent` agree in size.
fn check_sizes(plan: &SearchPlan, latent: &[f32]) -> Result<(), Error> {
    let (n, dim, size, coded) = (plan.positions(), plan.dim, plan.size, plan.coded);
    let levels = plan.search_books.len() / (size * dim).max(1);
    let delta = plan.kind == FrameKind::Delta;
    let sizes_ok = latent.len() == n * dim
        && n > 0
        && coded >= 1
        && coded <= levels
        && plan.search_books.len() == levels * size * dim
        && plan.lambda.len() == n
        && plan.index_bits.len() == 3 * coded * size
        && plan.stop_bits.len() == 3 * coded * 2
        && plan
            .search_matrix
            .as_ref()
            .is_none_or(|a| a.len() == dim * dim)
        && (!delta
            || (plan.mode_bits.len() == n * (2 + plan.starts.len())
                && plan.motion_bits.len() == n * MOTIONS.len()
                && plan.reference.as_ref().is_some_and(|r| r.len() == n * dim)));
    if sizes_ok {
        Ok(())
    } else {
        Err(Error::InvalidTokens(
            "a search plan whose sizes disagree with the latent".into(),
        ))
    }
}

/// The search's one readback: per position the candidate, the end, the squared error, then the
/// indices (`[n, 3 + coded]`, f32: exact for these small integers).
async fn read_choices(out: Tensor<2>, n: usize, coded: usize) -> Result<SearchChoice, Error> {
    let data = out
        .into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("{e:?}")))?;
    let values: Vec<f32> = data.iter::<f32>().collect();
    let width = 3 + coded;
    if values.len() != n * width {
        return Err(Error::Backend(format!(
            "the search returned {} values for {n} positions",
            values.len()
        )));
    }
    let mut choice = SearchChoice {
        candidate: Vec::with_capacity(n),
        end: Vec::with_capacity(n),
        idx: vec![0; coded * n],
        distortion: 0.0,
    };
    for (p, row) in values.chunks_exact(width).enumerate() {
        choice.candidate.push(row[0] as u8);
        choice.end.push(row[1] as u8);
        choice.distortion += f64::from(row[2]);
        for l in 0..coded {
            choice.idx[l * n + p] = row[3 + l] as u16;
        }
    }
    Ok(choice)
}

impl Engine {
    /// Decides the frame `plan` describes for `latent` (`n × dim`, position-major, the encoder
    /// network's output) on this engine's device.
    ///
    /// # Errors
    /// [`Error::InvalidTokens`] for a latent or plan whose sizes disagree; [`Error::Backend`]
    /// if the device fails.
    pub(crate) async fn search(
        &self,
        plan: &SearchPlan,
        latent: &[f32],
    ) -> Result<SearchChoice, Error> {
        #[cfg(feature = "wgpu")]
        if self.backend().kind == crate::BackendKind::Gpu
            && !OPERATIONS.load(Ordering::Relaxed)
            && crate::search_kernel::fits(plan.positions(), plan.dim)
        {
            return self.search_kernel(plan, latent).await;
        }
        self.search_operations(plan, latent).await
    }

    /// [`Engine::search`] on the GPU as kernels of ours (`crate::search_kernel`): three
    /// uploads, the search matrix's product, two dispatches, one readback.
    #[cfg(feature = "wgpu")]
    async fn search_kernel(
        &self,
        plan: &SearchPlan,
        latent: &[f32],
    ) -> Result<SearchChoice, Error> {
        use crate::search_kernel::{SearchFrame, search_positions};
        check_sizes(plan, latent)?;
        let device = &self.backend().device;
        let (n, dim, size, coded) = (plan.positions(), plan.dim, plan.size, plan.coded);
        let delta = plan.kind == FrameKind::Delta;
        let one = |v: Vec<f32>| {
            let len = v.len();
            Tensor::<1>::from_data(TensorData::new(v, [len]), device)
        };
        // the latent, then a delta frame's reference, in the search space
        let mut rows = latent.to_vec();
        let mut positions = plan.lambda.clone();
        if delta {
            rows.extend_from_slice(plan.reference.as_deref().unwrap_or_default());
            positions.extend_from_slice(&plan.mode_bits);
            positions.extend_from_slice(&plan.motion_bits);
        }
        let count = rows.len() / dim;
        let mut latents = Tensor::<2>::from_data(TensorData::new(rows, [count, dim]), device);
        if let Some(a) = &plan.search_matrix {
            latents = latents.matmul(upload(a, [dim, dim], device).transpose());
        }
        let mut tables = plan.search_books[..coded * size * dim].to_vec();
        let norms: Vec<f32> = tables
            .chunks_exact(dim)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        tables.extend(norms);
        tables.extend_from_slice(&plan.index_bits);
        tables.extend_from_slice(&plan.stop_bits);
        if delta {
            tables.extend(plan.starts.iter().map(|&s| f32::from(s)));
        }
        tables.extend(
            MOTIONS
                .iter()
                .flat_map(|&(dx, dy)| [f32::from(dx), f32::from(dy)]),
        );
        let out = search_positions(
            latents,
            one(positions),
            one(tables),
            SearchFrame {
                grid: plan.grid,
                size,
                coded,
                starts: if delta { plan.starts.len() } else { 0 },
                delta,
                depth_by_rd: plan.lambda.iter().any(|&l| l > 0.0),
            },
        );
        read_choices(out, n, coded).await
    }

    /// [`Engine::search`] as burn tensor operations, on any device: what the CPU backends run
    /// (and GPU devices with [`set_search_operations`]).
    ///
    /// # Errors
    /// As [`Engine::search`].
    pub(crate) async fn search_operations(
        &self,
        plan: &SearchPlan,
        latent: &[f32],
    ) -> Result<SearchChoice, Error> {
        let device = &self.backend().device;
        let (n, dim, size, coded) = (plan.positions(), plan.dim, plan.size, plan.coded);
        check_sizes(plan, latent)?;
        let levels = plan.search_books.len() / (size * dim).max(1);
        let t_starts = plan.starts.len();
        let delta = plan.kind == FrameKind::Delta;
        let books = upload(&plan.search_books, [levels * size, dim], device);
        let books: Vec<Tensor<2>> = (0..coded)
            .map(|l| books.clone().narrow(0, l * size, size))
            .collect();
        let bits = upload(&plan.index_bits, [3 * coded, size], device);
        let index: Vec<Tensor<2>> = (0..3 * coded)
            .map(|i| bits.clone().narrow(0, i, 1))
            .collect();
        let keys = index
            .iter()
            .enumerate()
            .map(|(i, ib)| {
                let cb = books[i % coded].clone();
                let norms = cb.clone().square().sum_dim(1).reshape([1, size]);
                Tensor::cat(vec![cb.transpose().mul_scalar(-2.0), ib.clone(), norms], 0)
            })
            .collect();
        let tables = Tables {
            coded,
            size,
            books,
            index,
            keys,
            stop: plan
                .stop_bits
                .chunks_exact(2)
                .map(|s| (s[0], s[1]))
                .collect(),
        };
        let to_search = |v: Tensor<2>| match &plan.search_matrix {
            Some(a) => v.matmul(upload(a, [dim, dim], device).transpose()),
            None => v,
        };
        let z = to_search(upload(latent, [n, dim], device));
        let lam = upload(&plan.lambda, [n, 1], device);
        let depth_by_rd = plan.lambda.iter().any(|&l| l > 0.0);
        let out = if !delta {
            let c = chain(
                &tables,
                z,
                (0, 0),
                &lam,
                Tensor::zeros([n, 1], device),
                depth_by_rd,
            );
            let mut cols = vec![Tensor::<2>::zeros([n, 1], device), c.end.float(), c.err];
            cols.extend(c.idx.into_iter().map(|i| i.float()));
            Tensor::cat(cols, 1)
        } else {
            let reference = plan.reference.as_deref().unwrap_or_default();
            let prev = to_search(upload(reference, [n, dim], device));
            let modes = upload(&plan.mode_bits, [n, 2 + t_starts], device);
            let motions = upload(&plan.motion_bits, [n, MOTIONS.len()], device);
            let col = |t: &Tensor<2>, i: usize| t.clone().slice([0..n, i..i + 1]);
            let residuals: Vec<Tensor<2>> = (0..MOTIONS.len())
                .map(|m| z.clone() - shifted(&prev, plan.grid, m))
                .collect();
            // candidates: intra, copy × motions, inter from each start × motions
            let intra = chain(
                &tables,
                z.clone(),
                (0, 1),
                &lam,
                col(&modes, 1),
                depth_by_rd,
            );
            let mut js = vec![intra.j];
            // each candidate group's ends, errors and indices per level (a copy codes none)
            let mut groups: Vec<Group> = vec![(
                intra.end.float(),
                intra.err,
                intra.idx.into_iter().map(Some).collect(),
            )];
            let mut copy_err = Vec::with_capacity(MOTIONS.len());
            for (m, r) in residuals.iter().enumerate() {
                let bits = col(&modes, 0) + col(&motions, m);
                let e = r.clone().square().sum_dim(1);
                js.push(e.clone() + bits * lam.clone());
                copy_err.push(e);
            }
            groups.push((
                Tensor::zeros([n, MOTIONS.len()], device),
                Tensor::cat(copy_err, 1),
                vec![None; coded],
            ));
            // the inter chains run on `n × motions` rows, position-major (row p·5 + m), so
            // their results reshape to one column per motion
            let k = MOTIONS.len();
            let rows = Tensor::stack::<3>(residuals, 1).reshape([n * k, dim]);
            let lam_all = lam.clone().repeat_dim(1, k).reshape([n * k, 1]);
            for (si, &s) in plan.starts.iter().enumerate() {
                let s = usize::from(s);
                let bits = (motions.clone() + col(&modes, 2 + si)).reshape([n * k, 1]);
                let c = chain(&tables, rows.clone(), (s, 2), &lam_all, bits, depth_by_rd);
                js.push(c.j.reshape([n, k]));
                let idx = (0..coded)
                    .map(|l| l.checked_sub(s).map(|i| c.idx[i].clone().reshape([n, k])))
                    .collect();
                groups.push((c.end.float().reshape([n, k]), c.err.reshape([n, k]), idx));
            }
            let which = Tensor::cat(js, 1).argmin(1);
            // the chosen candidate's end, error and indices, in one gather over every
            // candidate's values laid out candidate by candidate (`2 + coded` columns each), in
            // f32, exact for these small integers (a gather over concatenated integer columns
            // read wrong values on burn-wgpu 0.22)
            let f = 2 + coded;
            let all: Vec<Tensor<2>> = groups
                .into_iter()
                .map(|(end, err, idx)| {
                    let [_, w] = end.dims();
                    let mut fields = vec![end, err];
                    fields.extend(idx.into_iter().map(|i| match i {
                        Some(i) => i.float(),
                        None => Tensor::zeros([n, w], device),
                    }));
                    Tensor::stack::<3>(fields, 2).reshape([n, w * f])
                })
                .collect();
            let at = which.clone().repeat_dim(1, f).mul_scalar(f as i64)
                + Tensor::<1, Int>::arange(0..f as i64, device)
                    .reshape([1, f])
                    .repeat_dim(0, n);
            let picked = Tensor::cat(all, 1).gather(1, at);
            Tensor::cat(vec![which.float(), picked], 1)
        };
        read_choices(out, n, coded).await
    }
}
