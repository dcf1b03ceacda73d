//! Residual vector quantizer: L codebooks of K codes of D dimensions; each level quantizes
//! the residual the previous levels left.
//!
//! Training hooks live here too: exponential-moving-average codebook updates
//! ([`ResidualQuantizer::ema_update`]), k-means initialisation
//! ([`ResidualQuantizer::kmeans_init`]) and dead-code restarts
//! ([`ResidualQuantizer::restart_dead_codes`]). The codebooks are parameters so they are
//! saved with the weights, but the forward pass detaches them: they move by EMA, not by
//! the optimiser.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Int, Tensor};

/// The quantizer's learned state.
#[derive(Module, Debug)]
pub struct ResidualQuantizer {
    /// `[L, K, D]`.
    pub codebooks: Param<Tensor<3>>,
}

/// What one quantizer pass yields.
#[derive(Debug)]
pub struct Quantized {
    /// Σ of the chosen codes over the levels used, with the straight-through estimator
    /// applied (`z + (ẑ − z).detach()`), `[N, D]`.
    pub quantized: Tensor<2>,
    /// Chosen code per position and level, `[N, levels]`.
    pub indices: Tensor<2, Int>,
    /// Commitment loss: mean over levels of ‖r_l − sg(c_l)‖², averaged over elements.
    pub commitment: Tensor<1>,
    /// The (detached) residual each level quantized: what EMA and k-means fit.
    pub residuals: Vec<Tensor<2>>,
}

/// Running EMA statistics for the codebooks; owned by the trainer, not saved with weights.
#[derive(Debug, Clone)]
pub struct EmaState {
    /// Smoothed count of assignments per code, `[L, K]`.
    pub cluster_size: Tensor<2>,
    /// Smoothed sum of the vectors assigned to each code, `[L, K, D]`.
    pub embed_sum: Tensor<3>,
    /// Smoothed count of assignments per parent class and code, `[L, P, K]`
    /// ([`PARENT_CONTEXTS`]): at level `l > 0` the class of the index level `l − 1` chose at
    /// the same position, at level 0 the last class ("none"), as the bitstream's index trees
    /// are chosen. Kept only when asked for ([`ResidualQuantizer::ema_state_with_parents`]:
    /// only a rate priced by parent reads them, and counting them costs every training step).
    pub parent_counts: Option<Tensor<3>>,
}

/// Parent contexts of an index, as the bitstream's coder has them (docs/bitstream.md, "Frame
/// syntax"): 16 classes of the index one level up (its top 4 bits), and one for a position's
/// first level.
pub const PARENT_CONTEXTS: usize = 17;

/// The parent class of each index of `idx` (codes of a `k`-code level): its top 4 bits, the
/// index itself for codebooks of fewer than 16 codes.
pub fn parent_class(idx: Tensor<1, Int>, k: usize) -> Tensor<1, Int> {
    idx.div_scalar((k / (PARENT_CONTEXTS - 1)).max(1) as i64)
}

/// What a rate-aware assignment charges each code (λ × bits, in the assignment's units).
#[derive(Debug, Clone)]
pub enum RatePenalty {
    /// One price per code and level, `[L, K]` ([`EmaState::code_bits`]).
    PerCode(Tensor<2>),
    /// A price per code under each parent context, `[L, P, K]`
    /// ([`EmaState::code_bits_given_parent`]).
    PerParent(Tensor<3>),
}

impl EmaState {
    /// Each code's length in bits, `−log2 p` under the smoothed assignment counts, `[L, K]`:
    /// what an adaptive coder without context would spend on it. Counts are floored at a
    /// hundredth of an assignment, so a code nobody uses costs much but not infinitely.
    pub fn code_bits(&self) -> Tensor<2> {
        let counts = self.cluster_size.clone().detach().clamp_min(0.01);
        let total = counts.clone().sum_dim(1); // [L, 1]
        (total.log() - counts.log()).div_scalar(std::f32::consts::LN_2)
    }

    /// Each code's length in bits under each parent context, `[L, P, K]`: `−log2 p(code |
    /// parent class)` from the smoothed counts (floored as [`Self::code_bits`]'s): what the
    /// bitstream's index trees, which are chosen by the parent class, spend on it.
    ///
    /// # Panics
    /// For a state made without them ([`ResidualQuantizer::ema_state`]; a caller bug).
    pub fn code_bits_given_parent(&self) -> Tensor<3> {
        let counts = self
            .parent_counts
            .clone()
            .expect("EMA statistics kept per parent (ResidualQuantizer::ema_state_with_parents)")
            .detach()
            .clamp_min(0.01);
        let total = counts.clone().sum_dim(2); // [L, P, 1]
        (total.log() - counts.log()).div_scalar(std::f32::consts::LN_2)
    }
}

impl ResidualQuantizer {
    pub(crate) fn new(levels: usize, codes: usize, dim: usize, device: &Device) -> Self {
        // Deeper levels see smaller residuals: start their codes smaller.
        let scale = Tensor::<1>::from_floats(
            (0..levels)
                .map(|l| 0.5f32.powi(l as i32))
                .collect::<Vec<_>>()
                .as_slice(),
            device,
        )
        .reshape([levels, 1, 1]);
        let cb = Tensor::<3>::random([levels, codes, dim], Distribution::Normal(0.0, 1.0), device)
            * scale;
        Self {
            codebooks: Param::from_tensor(cb),
        }
    }

    /// `(levels, codes, dim)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        let [l, k, d] = self.codebooks.val().dims();
        (l, k, d)
    }

    /// The codebooks as a constant: no gradient flows into them (they move by EMA). On
    /// autodiff, `detach` alone keeps a parameter's `require_grad`, which would make every
    /// tensor derived from it tracked again.
    /// The codebooks `[L, K, D]`, detached from autodiff.
    pub fn constant_codebooks(&self) -> Tensor<3> {
        self.codebooks.val().detach().set_require_grad(false)
    }

    fn codebook(&self, level: usize) -> Tensor<2> {
        let (_, k, d) = self.dims();
        self.constant_codebooks()
            .slice([level..level + 1])
            .reshape([k, d])
    }

    /// Index of the nearest code (squared Euclidean distance) for each row of `x` `[N, D]`.
    pub fn nearest(x: Tensor<2>, codebook: Tensor<2>) -> Tensor<1, Int> {
        let [n, _] = x.dims();
        let [k, _] = codebook.dims();
        // ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²; ‖x‖² does not change the argmin.
        let c2 = codebook.clone().square().sum_dim(1).reshape([1, k]);
        let dist = c2 - x.matmul(codebook.transpose()).mul_scalar(2.0);
        dist.argmin(1).reshape([n])
    }

    /// Index of the code with the least `‖x − c‖² + penalty[c]` for each row of `x` `[N, D]`
    /// (`penalty` `[K]`): entropy-constrained assignment when the penalty is λ × each code's
    /// length in bits, so a code far from `x` can still win by being cheap to send.
    pub fn nearest_penalized(
        x: Tensor<2>,
        codebook: Tensor<2>,
        penalty: Tensor<1>,
    ) -> Tensor<1, Int> {
        let [k, _] = codebook.dims();
        Self::nearest_penalized_rows(x, codebook, penalty.reshape([1, k]))
    }

    /// [`Self::nearest_penalized`] with a penalty per row and code, `[N, K]` (each row's codes
    /// priced under its own context; `[1, K]` prices every row alike).
    pub fn nearest_penalized_rows(
        x: Tensor<2>,
        codebook: Tensor<2>,
        penalty: Tensor<2>,
    ) -> Tensor<1, Int> {
        let [n, _] = x.dims();
        let [k, _] = codebook.dims();
        let c2 = codebook.clone().square().sum_dim(1).reshape([1, k]);
        let dist = penalty + c2 - x.matmul(codebook.transpose()).mul_scalar(2.0);
        dist.argmin(1).reshape([n])
    }

    /// Quantizes `z` `[N, D]` with the first `levels` levels.
    pub fn forward(&self, z: Tensor<2>, levels: usize) -> Quantized {
        self.forward_penalized(z, levels, None)
    }

    /// [`Self::forward`] with each level's codes penalised by `penalty` (added to the squared
    /// distance; see [`Self::nearest_penalized`], [`EmaState::code_bits`] and
    /// [`EmaState::code_bits_given_parent`]: per parent context, each row's codes are priced
    /// under the class of the index the level before chose for it).
    pub fn forward_penalized(
        &self,
        z: Tensor<2>,
        levels: usize,
        penalty: Option<RatePenalty>,
    ) -> Quantized {
        let (total, k, _) = self.dims();
        let levels = levels.clamp(1, total);
        let mut residual = z.clone();
        let mut sum = z.zeros_like();
        let mut indices = Vec::with_capacity(levels);
        let mut residuals = Vec::with_capacity(levels);
        let mut commitment = Tensor::<1>::zeros([1], &z.device());
        for level in 0..levels {
            let cb = self.codebook(level);
            let r = residual.clone().detach();
            let idx = match &penalty {
                Some(RatePenalty::PerCode(p)) => Self::nearest_penalized(
                    r.clone(),
                    cb.clone(),
                    p.clone().slice([level..level + 1]).reshape([k]),
                ),
                Some(RatePenalty::PerParent(p)) => {
                    let class = Self::parent_classes(&indices, r.dims()[0], k, &r.device());
                    let rows = p
                        .clone()
                        .narrow(0, level, 1)
                        .reshape([PARENT_CONTEXTS, k])
                        .select(0, class);
                    Self::nearest_penalized_rows(r.clone(), cb.clone(), rows)
                }
                None => Self::nearest(r.clone(), cb.clone()),
            };
            let q = cb.select(0, idx.clone());
            commitment = commitment + (residual.clone() - q.clone()).square().mean();
            residuals.push(r);
            residual = residual - q.clone();
            sum = sum + q;
            indices.push(idx.unsqueeze_dim::<2>(1));
        }
        Quantized {
            quantized: z.clone() + (sum - z).detach(),
            indices: Tensor::cat(indices, 1),
            commitment: commitment.div_scalar(levels as f32),
            residuals,
        }
    }

    /// The parent context of each of `n` rows at the level after `chosen` (each level's indices
    /// `[N, 1]` so far): the class of the last level's index, or "none" before the first.
    fn parent_classes(
        chosen: &[Tensor<2, Int>],
        n: usize,
        k: usize,
        device: &Device,
    ) -> Tensor<1, Int> {
        match chosen.last() {
            Some(last) => parent_class(last.clone().reshape([n]), k),
            None => Tensor::<1, Int>::full([n], (PARENT_CONTEXTS - 1) as i64, device),
        }
    }

    /// Quantizes `z` `[N, D]` greedily and returns only the indices `[N, levels]`.
    pub fn encode(&self, z: Tensor<2>, levels: usize) -> Tensor<2, Int> {
        let (total, _, _) = self.dims();
        let levels = levels.clamp(1, total);
        let mut residual = z;
        let mut indices = Vec::with_capacity(levels);
        for level in 0..levels {
            let cb = self.codebook(level);
            let idx = Self::nearest(residual.clone(), cb.clone());
            residual = residual - cb.select(0, idx.clone());
            indices.push(idx.unsqueeze_dim::<2>(1));
        }
        Tensor::cat(indices, 1)
    }

    /// [`Self::encode`] with each level's nearest code under the quadratic form `metric`
    /// `[D, D]` (symmetric): `(r − c)ᵀ M (r − c)`, as the format's encoder searches a model
    /// that carries an encoder metric.
    pub fn encode_metric(&self, z: Tensor<2>, levels: usize, metric: Tensor<2>) -> Tensor<2, Int> {
        let (total, k, _) = self.dims();
        let levels = levels.clamp(1, total);
        let [n, _] = z.dims();
        let mut residual = z;
        let mut indices = Vec::with_capacity(levels);
        for level in 0..levels {
            let cb = self.codebook(level);
            // (r − c)ᵀM(r − c) = rᵀMr − 2 rᵀMc + cᵀMc; rᵀMr does not change the argmin
            let cmc = cb
                .clone()
                .matmul(metric.clone())
                .mul(cb.clone())
                .sum_dim(1)
                .reshape([1, k]);
            let score = cmc
                - residual
                    .clone()
                    .matmul(metric.clone())
                    .matmul(cb.clone().transpose())
                    .mul_scalar(2.0);
            let idx = score.argmin(1).reshape([n]);
            residual = residual - cb.select(0, idx.clone());
            indices.push(idx.unsqueeze_dim::<2>(1));
        }
        Tensor::cat(indices, 1)
    }

    /// ẑ = Σ_l codebook_l[indices[:, l]] for `indices` `[N, L']`, L' ≤ L, in one gather;
    /// index `K` (one past the codebook) stands for the zero vector: a position whose depth
    /// ended before that level.
    pub fn decode(&self, indices: Tensor<2, Int>) -> Tensor<2> {
        let (_, k, d) = self.dims();
        let [n, levels] = indices.dims();
        let device = indices.device();
        let books = self.codebooks.val().slice([0..levels]);
        let flat = Tensor::cat(vec![books, Tensor::zeros([levels, 1, d], &device)], 1)
            .reshape([levels * (k + 1), d]);
        let offsets = Tensor::<1, Int>::arange(0..levels as i64, &device)
            .mul_scalar((k + 1) as i64)
            .reshape([1, levels]);
        let idx = (indices + offsets).reshape([n * levels]);
        flat.select(0, idx)
            .reshape([n, levels, d])
            .sum_dim(1)
            .reshape([n, d])
    }

    /// Fresh EMA statistics that match the current codebooks (each code counted once).
    pub fn ema_state(&self) -> EmaState {
        let cb = self.constant_codebooks();
        let [l, k, _] = cb.dims();
        EmaState {
            cluster_size: Tensor::ones([l, k], &cb.device()),
            parent_counts: None,
            embed_sum: cb,
        }
    }

    /// [`Self::ema_state`] that also counts each code per parent context (what
    /// [`EmaState::code_bits_given_parent`] reads).
    pub fn ema_state_with_parents(&self) -> EmaState {
        let state = self.ema_state();
        let [l, k] = state.cluster_size.dims();
        EmaState {
            parent_counts: Some(Tensor::ones(
                [l, PARENT_CONTEXTS, k],
                &state.cluster_size.device(),
            )),
            ..state
        }
    }

    /// Level `level`'s `[P, K]` counts of `counts` `[L, P, K]`.
    fn parent_counts_at(counts: &Tensor<3>, level: usize, k: usize) -> Tensor<2> {
        counts
            .clone()
            .narrow(0, level, 1)
            .reshape([PARENT_CONTEXTS, k])
    }

    /// One EMA codebook step from a forward pass's residuals and indices:
    /// `N_k ← γN_k + (1−γ)n_k`, `m_k ← γm_k + (1−γ)Σx`, `c_k = m_k / N_k` (Laplace-smoothed).
    pub fn ema_update(self, state: &mut EmaState, out: &Quantized, decay: f32) -> Self {
        let (total, k, d) = self.dims();
        let mut sizes = Vec::with_capacity(total);
        let mut sums = Vec::with_capacity(total);
        let mut parents = Vec::with_capacity(total);
        let rows = out.indices.dims()[0];
        for level in 0..total {
            let size = state
                .cluster_size
                .clone()
                .slice([level..level + 1])
                .reshape([k]);
            let sum = state
                .embed_sum
                .clone()
                .slice([level..level + 1])
                .reshape([k, d]);
            let by_parent =
                (state.parent_counts.as_ref()).map(|c| Self::parent_counts_at(c, level, k));
            if level < out.residuals.len() {
                let idx = out.indices.clone().slice([0..rows, level..level + 1]);
                let device = idx.device();
                let onehot = idx.reshape([rows]).one_hot::<2>(k).float(); // [N, K]
                let counts = onehot.clone().sum_dim(0).reshape([k]);
                let vsum = onehot
                    .clone()
                    .transpose()
                    .matmul(out.residuals[level].clone()); // [K, D]
                if let Some(by_parent) = by_parent {
                    // the parent context each row's index was chosen under
                    let up: Vec<_> = (level > 0)
                        .then(|| out.indices.clone().slice([0..rows, level - 1..level]))
                        .into_iter()
                        .collect();
                    let pair = Self::parent_classes(&up, rows, k, &device)
                        .one_hot::<2>(PARENT_CONTEXTS)
                        .float()
                        .transpose()
                        .matmul(onehot); // [P, K]
                    parents.push(by_parent.mul_scalar(decay) + pair.mul_scalar(1.0 - decay));
                }
                sizes.push(size.mul_scalar(decay) + counts.mul_scalar(1.0 - decay));
                sums.push(sum.mul_scalar(decay) + vsum.mul_scalar(1.0 - decay));
            } else {
                sizes.push(size);
                sums.push(sum);
                parents.extend(by_parent);
            }
        }
        state.cluster_size = Tensor::stack(sizes, 0);
        state.embed_sum = Tensor::stack(sums, 0);
        if state.parent_counts.is_some() {
            state.parent_counts = Some(Tensor::stack(parents, 0));
        }
        // Laplace smoothing keeps rarely used codes from dividing by ~0.
        let eps = 1e-5;
        let n = state.cluster_size.clone().sum_dim(1); // [L, 1]
        let smoothed =
            (state.cluster_size.clone().add_scalar(eps) / n.clone().add_scalar(k as f32 * eps)) * n;
        let cb = state.embed_sum.clone() / smoothed.reshape([total, k, 1]);
        Self {
            codebooks: Param::from_tensor(cb.detach()),
        }
    }

    /// Codes whose smoothed usage fell below `threshold` take a random residual from
    /// `out` (same level) as their new value; their EMA statistics restart from it.
    /// Returns the updated quantizer and how many codes were restarted per level.
    pub fn restart_dead_codes(
        self,
        state: &mut EmaState,
        out: &Quantized,
        threshold: f32,
    ) -> (Self, Vec<usize>) {
        let (total, k, d) = self.dims();
        let mut cbs = Vec::with_capacity(total);
        let mut sizes = Vec::with_capacity(total);
        let mut sums = Vec::with_capacity(total);
        let mut parents = Vec::with_capacity(total);
        let mut restarted = vec![0; total];
        for level in 0..total {
            let cb = self.codebook(level);
            let size = state
                .cluster_size
                .clone()
                .slice([level..level + 1])
                .reshape([k]);
            let sum = state
                .embed_sum
                .clone()
                .slice([level..level + 1])
                .reshape([k, d]);
            let by_parent =
                (state.parent_counts.as_ref()).map(|c| Self::parent_counts_at(c, level, k));
            let Some(res) = out.residuals.get(level) else {
                cbs.push(cb);
                sizes.push(size);
                sums.push(sum);
                parents.extend(by_parent);
                continue;
            };
            let dead = size.clone().lower_elem(threshold); // [K]
            restarted[level] = dead.clone().int().sum().into_scalar::<i64>() as usize;
            let n = res.dims()[0];
            let pick =
                Tensor::<1>::random([k], Distribution::Uniform(0.0, n as f64), &res.device())
                    .int()
                    .clamp(0, n as i64 - 1);
            let fresh = res.clone().select(0, pick);
            let mask2 = dead.clone().reshape([k, 1]).expand([k, d]);
            cbs.push(cb.mask_where(mask2.clone(), fresh.clone()));
            if let Some(by_parent) = by_parent {
                let by_code = dead.clone().reshape([1, k]).expand([PARENT_CONTEXTS, k]);
                parents.push(
                    by_parent
                        .mask_where(by_code, Tensor::ones([PARENT_CONTEXTS, k], &res.device())),
                );
            }
            sizes.push(size.mask_where(dead, Tensor::ones([k], &res.device())));
            sums.push(sum.mask_where(mask2, fresh));
        }
        state.cluster_size = Tensor::stack(sizes, 0);
        state.embed_sum = Tensor::stack(sums, 0);
        if state.parent_counts.is_some() {
            state.parent_counts = Some(Tensor::stack(parents, 0));
        }
        (
            Self {
                codebooks: Param::from_tensor(Tensor::stack(cbs, 0).detach()),
            },
            restarted,
        )
    }

    /// Lloyd's k-means, level by level, on samples `z` `[N, D]`: level l is fitted to the
    /// residuals levels `0..l` leave. `iters` rounds per level. Empty clusters keep their code.
    pub fn kmeans_init(self, z: Tensor<2>, iters: usize) -> Self {
        let (total, k, _) = self.dims();
        let cbs = Self::kmeans_levels(z.detach(), total, k, iters);
        Self {
            codebooks: Param::from_tensor(Tensor::stack(cbs, 0).detach()),
        }
    }

    /// The same quantizer with `levels` levels: the existing ones unchanged, the added ones
    /// fitted by k-means, level by level, to what the existing levels leave of `z` `[N, D]` —
    /// a trained model made deeper, for training to continue from.
    ///
    /// # Panics
    /// If `levels` is fewer than the quantizer has.
    pub fn grow(self, z: Tensor<2>, levels: usize, iters: usize) -> Self {
        let (total, k, _) = self.dims();
        assert!(levels >= total, "grow from {total} to {levels} levels");
        let idx = self.encode(z.clone(), total);
        let residual = (z - self.decode(idx)).detach();
        let mut all: Vec<Tensor<2>> = (0..total).map(|l| self.codebook(l)).collect();
        all.extend(Self::kmeans_levels(residual, levels - total, k, iters));
        Self {
            codebooks: Param::from_tensor(Tensor::stack(all, 0).detach()),
        }
    }

    /// `count` codebooks of `k` codes fitted by k-means one after another, each to the
    /// residual the ones before it leave of `residual` `[N, D]`.
    fn kmeans_levels(
        mut residual: Tensor<2>,
        count: usize,
        k: usize,
        iters: usize,
    ) -> Vec<Tensor<2>> {
        let [n, d] = residual.dims();
        let device = residual.device();
        let mut cbs = Vec::with_capacity(count);
        for _ in 0..count {
            // initial centres: K samples spread over the set
            let step = (n / k).max(1);
            let pick = Tensor::<1, Int>::arange_step(0..(k * step) as i64, step, &device)
                .remainder_scalar(n as i64);
            let mut cb = residual.clone().select(0, pick);
            for _ in 0..iters {
                let idx = Self::nearest(residual.clone(), cb.clone());
                let onehot = idx.one_hot::<2>(k).float();
                let counts = onehot.clone().sum_dim(0).reshape([k, 1]);
                let sums = onehot.transpose().matmul(residual.clone());
                let empty = counts.clone().lower_elem(0.5).expand([k, d]);
                let mean = sums / counts.clamp_min(1.0);
                cb = mean.mask_where(empty, cb);
            }
            let idx = Self::nearest(residual.clone(), cb.clone());
            residual = residual - cb.clone().select(0, idx);
            cbs.push(cb);
        }
        cbs
    }
}
