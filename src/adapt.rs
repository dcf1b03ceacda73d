//! Adapting the codebooks to one clip (issue 6): Lloyd's k-means on the encoder's latents,
//! starting from the trained codebooks, level by level in RVQ order. No autodiff: it runs
//! wherever the latents are (the CPU here, in the browser's worker too).
//!
//! Level `l` is refitted on the residuals left after levels `0..l` (with those levels' codebooks
//! as adapted so far), so each refit sees what the encoder will actually hand it. Codes that no
//! vector picks keep their trained value.
//!
//! With [`AdaptOptions::rate_weight`] λ > 0 the refit is rate-aware (entropy-constrained
//! k-means): a vector goes to the code that minimises its squared distance + λ × the code's
//! length in bits, the lengths being `-log2` of the codes' shares in the previous iteration.
//! Plain k-means spreads the codes evenly over the footage and flattens their use (the
//! report's index entropy rises); the rate term keeps popular codes popular. Measured on
//! whole files it did not pay with the shipped models (see [`RATE_WEIGHT`]), so the default is
//! λ = 0, plain k-means.
//!
//! [`learn`] and [`Trainer::start`] take the model's codebooks from an [`Engine`]; the result is a
//! [`CodebookPatch`] for [`vqc::EncoderConfig::codebook`], which the pipeline applies.

use std::time::{Duration, Instant};

use vqc::{CodebookPatch, Codebooks};

use crate::{Engine, Error, Frame};

/// Fewest frames a refit learns from: fewer would fit the codebook to one moment of the clip.
pub const MIN_FRAMES: usize = 4;

/// What to adapt and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptOptions {
    /// RVQ levels to refit (0-based); the others keep their trained codes.
    pub levels: Vec<usize>,
    /// Lloyd iterations per level.
    pub iterations: usize,
    /// Stop after this long, keeping what is done (the report says so).
    pub budget: Option<Duration>,
    /// Most latent vectors k-means sees, taken evenly from all of them: each Lloyd step costs
    /// vectors × codes, and a few hundred vectors per code place it as well as thousands.
    pub max_vectors: usize,
    /// λ of the rate-aware assignment: squared latent error (in the encoder's metric, summed
    /// over a vector) worth one bit of index, as the encoder's λ. 0 is plain k-means.
    pub rate_weight: f32,
}

/// [`AdaptOptions::rate_weight`]'s default: plain k-means. The rate-aware refit made whole
/// files larger on every validation clip at λ = 10⁻³ and 10⁻² (docs/adapt.md, "Level 0
/// alone, and a rate-aware refit"): likely because the encoder codes keyframes nearly at their
/// nearest codes, which the rate term leaves stale. It stays an option for models whose
/// indices are the cost.
pub const RATE_WEIGHT: f32 = 0.0;

impl Default for AdaptOptions {
    fn default() -> Self {
        Self {
            // level 0 alone: ~90% of levels 0-1's gain for half the codebook's bytes
            // (docs/adapt.md)
            levels: vec![0],
            iterations: 8,
            budget: None,
            max_vectors: 1 << 17,
            rate_weight: RATE_WEIGHT,
        }
    }
}

/// Where a run is, for progress bars: `step` of `steps` (level × iteration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptProgress {
    /// The level being refitted.
    pub level: usize,
    /// Steps done.
    pub step: usize,
    /// Steps in all.
    pub steps: usize,
    /// Mean squared quantisation error of this level's residuals after this step (in the
    /// encoder's metric when the model has one, as [`quantisation_mse`]).
    pub mse: f64,
}

/// What a run achieved: the latent quantisation error at full depth, per latent value (in the
/// encoder's metric when the model has one, as [`quantisation_mse`]), and what the adapted
/// levels' indices cost.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptReport {
    /// Before adapting.
    pub mse_before: f64,
    /// After.
    pub mse_after: f64,
    /// Entropy of the refitted levels' indices with the trained codebooks, bits per vector
    /// summed over those levels (each level's index distribution over the learning vectors,
    /// codes chosen greedily, nearest first).
    pub bits_before: f64,
    /// The same after the refit (codes chosen as its last step chose them: with the rate
    /// term).
    pub bits_after: f64,
    /// Steps run (level × iteration).
    pub steps: usize,
    /// Whether the time budget cut the run short.
    pub out_of_time: bool,
}

/// Why a run gave no codebook (the caller's codebook stays in use).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdaptError {
    /// Fewer frames than [`MIN_FRAMES`].
    #[error("{got} frame(s) are too few to adapt a codebook (at least {need})")]
    TooFewFrames {
        /// Frames given.
        got: usize,
        /// [`MIN_FRAMES`].
        need: usize,
    },
    /// Fewer latent vectors than codes per level: k-means would leave most codes untouched.
    #[error("{got} latent vectors are too few to adapt {need} codes (use more or larger frames)")]
    TooFewVectors {
        /// Vectors given.
        got: usize,
        /// Codes per level.
        need: usize,
    },
    /// A latent whose length is not a whole number of code vectors.
    #[error("a latent of {len} values is not a whole number of {dim}-value vectors")]
    BadLatent {
        /// Its length.
        len: usize,
        /// The code dimension.
        dim: usize,
    },
    /// A level the codebooks do not have.
    #[error("level {level} does not exist (the model has {levels})")]
    BadLevel {
        /// Asked for.
        level: usize,
        /// Levels of the model.
        levels: usize,
    },
    /// The progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
}

impl AdaptError {
    /// What kind of failure this is: the caller's request (`Config`).
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Config
    }
}

/// Adapts `options.levels` of `engine`'s codebooks to `latents` (the encoder network's, one per
/// frame: [`crate::pipeline::Analysis::latents`]) and returns them as a codebook file for
/// `engine`'s model. `progress` sees every step and returns `false` to cancel.
///
/// # Errors
/// [`Error::Adapt`] as [`adapt`].
pub async fn learn(
    engine: &Engine,
    latents: &[Vec<f32>],
    options: &AdaptOptions,
    progress: impl FnMut(&AdaptProgress) -> bool,
) -> Result<(CodebookPatch, AdaptReport), Error> {
    let trained = engine.codebooks().clone();
    let (adapted, report) = adapt(&trained, latents, options, progress)?;
    let patch = CodebookPatch::new(engine.model_id().0, &adapted, &trained, &options.levels);
    Ok((patch, report))
}

/// Mean full-depth PSNR-RGB of `frames` through `engine`'s on-device RVQ (all levels), with
/// `patch`'s levels in place of the model's when given: what adapting buys, before entropy
/// coding.
///
/// # Errors
/// [`Error::Config`] for a patch made for another model; [`Error::Backend`] if the device
/// fails.
pub async fn roundtrip_psnr(
    engine: &Engine,
    patch: Option<&CodebookPatch>,
    frames: &[Frame],
) -> Result<f64, Error> {
    let mut engine = engine.clone();
    if let Some(p) = patch {
        // what the file holds (quantised), as a decoder will use it
        let applied = p.apply(engine.model_id().0, engine.codebooks())?;
        engine.set_codebooks(&applied)?;
    }
    let mut sum = 0.0;
    for batch in frames.chunks(4) {
        let rt = engine.roundtrip(batch, None).await?;
        sum += batch
            .iter()
            .zip(&rt.frames)
            .map(|(a, b)| crate::psnr_rgb(a, b).min(100.0))
            .sum::<f64>();
    }
    Ok(sum / frames.len().max(1) as f64)
}

/// Mean squared error per value the levels code ([`CodebookPatch::values_per_code`]) of greedy
/// RVQ at full depth over `vectors` (`n × dim`), codes chosen and error measured as the encoder
/// does: in the codebooks' metric when they have one ([`Codebooks::search_nearest`]).
pub fn quantisation_mse(books: &Codebooks, vectors: &[f32]) -> f64 {
    greedy_quantisation(books, vectors, &[]).0
}

/// [`quantisation_mse`] and, from the same pass, the entropy of `levels`' indices (bits per
/// vector, summed over those levels).
fn greedy_quantisation(books: &Codebooks, vectors: &[f32], levels: &[usize]) -> (f64, f64) {
    let (dim, size) = (books.dim(), books.size());
    let mut r = vec![0f32; dim];
    let mut scratch = Vec::with_capacity(dim);
    let mut counts = vec![0u32; books.levels() * size];
    let mut se = 0f64;
    for v in vectors.chunks_exact(dim) {
        r.copy_from_slice(v);
        for l in 0..books.levels() {
            let (k, _) = books.search_nearest(l, &r, &mut scratch);
            counts[l * size + usize::from(k)] += 1;
            for (x, c) in r.iter_mut().zip(books.code(l, usize::from(k))) {
                *x -= c;
            }
        }
        se += match books.metric() {
            Some(m) => {
                scratch.resize(dim, 0.0);
                m.apply(&r, &mut scratch);
                scratch.iter().map(|x| f64::from(x * x)).sum::<f64>()
            }
            None => r.iter().map(|x| f64::from(x * x)).sum::<f64>(),
        };
    }
    let n = vectors.len() / dim;
    let bits = levels
        .iter()
        .map(|&l| entropy_bits(&counts[l * size..(l + 1) * size], n))
        .sum();
    // per value the levels code (a scalar enhancement's are zero here: Trainer::new)
    (
        se / (n * CodebookPatch::values_per_code(books)).max(1) as f64,
        bits,
    )
}

/// Refits `options.levels` of `books` to `latents` (each `rows × columns × dim`, as
/// [`crate::Engine::latents`] gives them). `progress` sees every step and returns `false` to
/// cancel. [`Trainer`] is the same, one step per call.
///
/// # Errors
/// [`AdaptError`]: too few vectors, a malformed latent, a level out of range, or cancelled.
pub fn adapt(
    books: &Codebooks,
    latents: &[Vec<f32>],
    options: &AdaptOptions,
    mut progress: impl FnMut(&AdaptProgress) -> bool,
) -> Result<(Codebooks, AdaptReport), AdaptError> {
    let started = Instant::now();
    let mut trainer = Trainer::new(books, latents, options)?;
    let mut out_of_time = false;
    loop {
        if options.budget.is_some_and(|b| started.elapsed() >= b) {
            out_of_time = trainer.remaining() > 0;
            break;
        }
        let Some(p) = trainer.step() else { break };
        if !progress(&p) {
            return Err(AdaptError::Cancelled);
        }
    }
    let (books, mut report) = trainer.finish();
    report.out_of_time = out_of_time;
    Ok((books, report))
}

/// A k-means refit that runs one Lloyd iteration per [`Trainer::step`], so that a caller that
/// must stay responsive (the browser's worker, between steps) can report progress, cancel and
/// keep its own time budget (it reads no clock: `std::time` does not exist in wasm).
#[derive(Debug, Clone)]
pub struct Trainer {
    model_id: u64,
    levels: Vec<usize>,
    trained: Codebooks,
    current: Codebooks,
    vectors: Vec<f32>,
    /// `vectors` minus the codes of levels `0..through` (as `current` has them).
    residual: Vec<f32>,
    through: usize,
    /// Levels still to refit, ascending; the first is being worked on.
    pending: Vec<usize>,
    iterations: usize,
    iteration: usize,
    step: usize,
    steps: usize,
    mse_before: f64,
    rate_weight: f32,
    /// Per level, λ × each code's length in bits as the last step of its refit measured them
    /// (empty: not refitted yet, chosen by distance alone).
    costs: Vec<Vec<f32>>,
    /// [`AdaptReport::bits_before`].
    bits_before: f64,
    /// Per level, the entropy of its indices (bits per vector) at its latest step.
    bits_after: Vec<f64>,
}

impl Trainer {
    /// A refit of `options.levels` of `engine`'s codebooks to `latents`, one per frame: reads
    /// the codebooks from the device, then [`Trainer::new`].
    ///
    /// # Errors
    /// [`Error::Adapt`] as [`Trainer::new`].
    pub async fn start(
        engine: &Engine,
        latents: &[Vec<f32>],
        options: &AdaptOptions,
    ) -> Result<Self, Error> {
        let books = engine.codebooks().clone();
        let mut t = Self::new(&books, latents, options)?;
        t.model_id = engine.model_id().0;
        Ok(t)
    }

    /// A refit of `options.levels` of `books` to `latents`, one per frame.
    ///
    /// # Errors
    /// [`AdaptError`]: too few frames or vectors, a malformed latent, or a level out of range.
    pub fn new(
        books: &Codebooks,
        latents: &[Vec<f32>],
        options: &AdaptOptions,
    ) -> Result<Self, AdaptError> {
        let (levels, size, dim) = (books.levels(), books.size(), books.dim());
        if let Some(&level) = options.levels.iter().find(|&&l| l >= levels) {
            return Err(AdaptError::BadLevel { level, levels });
        }
        if let Some(z) = latents.iter().find(|z| z.len() % dim != 0) {
            return Err(AdaptError::BadLatent { len: z.len(), dim });
        }
        if latents.len() < MIN_FRAMES {
            return Err(AdaptError::TooFewFrames {
                got: latents.len(),
                need: MIN_FRAMES,
            });
        }
        let mut vectors: Vec<f32> = latents.iter().flatten().copied().collect();
        // a scalar-refined model's levels code its networks' values only (the enhancement's
        // are its coefficients' to code: the codes are zero there), so they are fitted to those
        // alone and keep their zeros
        let net = CodebookPatch::values_per_code(books);
        if net < dim {
            for v in vectors.chunks_exact_mut(dim) {
                v[net..].fill(0.0);
            }
        }
        let n = vectors.len() / dim;
        if n < size {
            return Err(AdaptError::TooFewVectors { got: n, need: size });
        }
        let keep = options.max_vectors.max(size);
        if n > keep {
            // every (n / keep)-th vector, spread over all frames and positions
            let mut kept = Vec::with_capacity(keep * dim);
            for i in 0..keep {
                let at = i * n / keep * dim;
                kept.extend_from_slice(&vectors[at..at + dim]);
            }
            vectors = kept;
        }
        let mut pending = options.levels.clone();
        pending.sort_unstable();
        pending.dedup();
        let (mse_before, bits_before) = greedy_quantisation(books, &vectors, &pending);
        Ok(Self {
            model_id: 0,
            levels: pending.clone(),
            trained: books.clone(),
            current: books.clone(),
            mse_before,
            residual: vectors.clone(),
            vectors,
            through: 0,
            steps: pending.len() * options.iterations,
            pending,
            iterations: options.iterations,
            iteration: 0,
            step: 0,
            rate_weight: options.rate_weight.max(0.0),
            costs: vec![Vec::new(); levels],
            bits_before,
            bits_after: vec![0.0; levels],
        })
    }

    /// Steps in all (levels × iterations).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The codebooks it started from (the model's own).
    pub fn trained(&self) -> &Codebooks {
        &self.trained
    }

    /// Steps not run yet.
    pub fn remaining(&self) -> usize {
        self.steps - self.step
    }

    /// Runs the next Lloyd iteration; `None` when every step is done.
    pub fn step(&mut self) -> Option<AdaptProgress> {
        if self.iterations == 0 {
            return None;
        }
        let &level = self.pending.first()?;
        self.subtract_through(level);
        let (size, dim) = (self.current.size(), self.current.dim());
        let mut sums = vec![0f64; size * dim];
        let mut counts = vec![0u32; size];
        let mut se = 0f64;
        // assigned as the encoder will choose (in its metric's space, when the model has one);
        // the mean of a cluster there is the mean of its latents moved there (the metric is
        // linear), so the codes stay plain means
        // rate-aware: from the second iteration on, each code's cost is λ × its length in bits
        // from the previous iteration's shares (the first is plain k-means from the trained codes)
        let mut scratch = Vec::with_capacity(dim);
        let cost = &self.costs[level];
        for r in self.residual.chunks_exact(dim) {
            let (k, d) = assign(&self.current, level, r, cost, &mut scratch);
            se += f64::from(d);
            counts[usize::from(k)] += 1;
            for (s, x) in sums[usize::from(k) * dim..][..dim].iter_mut().zip(r) {
                *s += f64::from(*x);
            }
        }
        let mut data = self.current.data().to_vec();
        for k in 0..size {
            // codes that nothing picked keep their trained value
            if counts[k] > 0 {
                let at = (level * size + k) * dim;
                for j in 0..dim {
                    data[at + j] = (sums[k * dim + j] / f64::from(counts[k])) as f32;
                }
            }
        }
        self.current = Codebooks::new(self.current.levels(), size, dim, data)
            .expect("the shape is the input's")
            .keep_motion(&self.current);
        let n = self.residual.len() / dim;
        self.bits_after[level] = entropy_bits(&counts, n);
        if self.rate_weight > 0.0 {
            // a share seen once in twice the vectors for codes nothing picked: dear, not infinite
            let total = n as f64 + 0.5 * size as f64;
            self.costs[level] = counts
                .iter()
                .map(|&c| {
                    let len = -((f64::from(c) + 0.5) / total).log2();
                    (f64::from(self.rate_weight) * len) as f32
                })
                .collect();
        }
        self.step += 1;
        self.iteration += 1;
        if self.iteration == self.iterations {
            self.iteration = 0;
            self.pending.remove(0);
        }
        Some(AdaptProgress {
            level,
            step: self.step,
            steps: self.steps,
            mse: se / (n * CodebookPatch::values_per_code(&self.trained)).max(1) as f64,
        })
    }

    /// Brings the residuals to the input of `level`, through the codes as they are now.
    fn subtract_through(&mut self, level: usize) {
        let dim = self.current.dim();
        let mut scratch = Vec::with_capacity(dim);
        while self.through < level {
            let l = self.through;
            let cost = &self.costs[l];
            for r in self.residual.chunks_exact_mut(dim) {
                // as its refit chose: what the later levels will see
                let (k, _) = assign(&self.current, l, r, cost, &mut scratch);
                for (x, c) in r.iter_mut().zip(self.current.code(l, usize::from(k))) {
                    *x -= c;
                }
            }
            self.through += 1;
        }
    }

    /// The refit so far as a codebook file for the model of [`Trainer::start`]'s engine, and
    /// the report (`out_of_time` is the caller's to set).
    pub fn finish_patch(self) -> (CodebookPatch, AdaptReport) {
        let (model_id, levels, trained) =
            (self.model_id, self.levels.clone(), self.trained.clone());
        let (books, report) = self.finish();
        (
            CodebookPatch::new(model_id, &books, &trained, &levels),
            report,
        )
    }

    /// The codebooks as refitted so far, and the report (`out_of_time` is the caller's to
    /// set).
    pub fn finish(self) -> (Codebooks, AdaptReport) {
        let mse_after = quantisation_mse(&self.current, &self.vectors);
        let report = AdaptReport {
            mse_before: self.mse_before,
            mse_after,
            bits_before: self.bits_before,
            bits_after: self.bits_after.iter().sum(),
            steps: self.step,
            out_of_time: false,
        };
        (self.current, report)
    }
}

/// The code the refit gives `r` at `level`: the nearest as the encoder searches, or by distance
/// + `cost` when `cost` holds the level's code costs (rate-aware); with its squared distance.
fn assign(
    books: &Codebooks,
    level: usize,
    r: &[f32],
    cost: &[f32],
    scratch: &mut Vec<f32>,
) -> (u16, f32) {
    if cost.is_empty() {
        books.search_nearest(level, r, scratch)
    } else {
        books.search_costed(level, r, cost, scratch)
    }
}

/// Entropy in bits per vector of the index distribution `counts` over `n` vectors.
fn entropy_bits(counts: &[u32], n: usize) -> f64 {
    let n = n.max(1) as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latents from two clusters far from every trained code, and codebooks that fit neither.
    fn setup() -> (Codebooks, Vec<Vec<f32>>) {
        let (levels, size, dim) = (2, 4, 3);
        let data = (0..levels * size * dim)
            .map(|i| (i % 5) as f32 * 0.1)
            .collect();
        let books = Codebooks::new(levels, size, dim, data).unwrap();
        let latent: Vec<f32> = (0..64)
            .flat_map(|i| {
                let c = if i % 2 == 0 { 3.0 } else { -2.0 };
                [c + (i as f32 * 0.01), c, -c]
            })
            .collect();
        (books, latent.chunks(48).map(<[f32]>::to_vec).collect())
    }

    #[test]
    fn refitting_lowers_the_error_and_keeps_other_levels() {
        let (books, latents) = setup();
        let opts = AdaptOptions {
            levels: vec![0],
            ..AdaptOptions::default()
        };
        let mut seen = 0;
        let (new, report) = adapt(&books, &latents, &opts, |p| {
            seen = p.step;
            true
        })
        .unwrap();
        assert!(report.mse_after < report.mse_before * 0.1, "{report:?}");
        assert_eq!((seen, report.steps), (8, 8));
        assert_eq!(&new.data()[12..], &books.data()[12..], "level 1 untouched");
    }

    #[test]
    fn cancel_budget_and_bad_requests() {
        let (books, latents) = setup();
        let opts = AdaptOptions::default();
        assert_eq!(
            adapt(&books, &latents, &opts, |_| false),
            Err(AdaptError::Cancelled)
        );
        let short = AdaptOptions {
            budget: Some(Duration::ZERO),
            ..AdaptOptions::default()
        };
        let (same, report) = adapt(&books, &latents, &short, |_| true).unwrap();
        assert!(report.out_of_time && report.steps == 0 && same == books);
        let bad = AdaptOptions {
            levels: vec![2],
            ..AdaptOptions::default()
        };
        assert!(matches!(
            adapt(&books, &latents, &bad, |_| true),
            Err(AdaptError::BadLevel {
                level: 2,
                levels: 2
            })
        ));
        assert!(matches!(
            adapt(&books, &latents[..3], &opts, |_| true),
            Err(AdaptError::TooFewFrames { got: 3, need: 4 })
        ));
        assert!(matches!(
            adapt(
                &books,
                &[vec![0.0; 3], vec![0.0; 3], vec![], vec![]],
                &opts,
                |_| true
            ),
            Err(AdaptError::TooFewVectors { got: 2, need: 4 })
        ));
        assert!(matches!(
            adapt(&books, &[vec![0.0; 7]], &opts, |_| true),
            Err(AdaptError::BadLatent { len: 7, dim: 3 })
        ));
    }

    /// Most vectors in one tight cluster, a tenth spread wide: plain k-means moves codes out to
    /// the spread ones and shares the cluster among several codes; the rate-aware refit keeps
    /// the cluster on few codes, so its indices carry fewer bits, for some error.
    #[test]
    fn the_rate_aware_refit_spends_fewer_index_bits_than_plain_k_means() {
        let (size, dim) = (8, 2);
        let mut seed = 12345u32;
        let mut uniform = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f64::from(seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let vectors: Vec<f32> = (0..2000)
            .flat_map(|i| {
                let spread = if i % 10 == 0 { 6.0 } else { 0.6 };
                [spread * uniform(), spread * uniform()]
            })
            .collect();
        let latents: Vec<Vec<f32>> = vectors.chunks(400).map(<[f32]>::to_vec).collect();
        let data = (0..size * dim).map(|i| (i % 7) as f32 * 0.05).collect();
        let books = Codebooks::new(1, size, dim, data).unwrap();
        let run = |rate_weight| {
            let opts = AdaptOptions {
                levels: vec![0],
                iterations: 12,
                rate_weight,
                ..AdaptOptions::default()
            };
            adapt(&books, &latents, &opts, |_| true).unwrap().1
        };
        let (plain, aware) = (run(0.0), run(0.05));
        assert!(
            plain.bits_before == aware.bits_before,
            "{plain:?} {aware:?}"
        );
        assert!(
            aware.bits_after < plain.bits_after - 0.3,
            "{plain:?} {aware:?}"
        );
        // both fit the footage better than the trained codes; the plain one fits it best
        assert!(plain.mse_after < aware.mse_after, "{plain:?} {aware:?}");
        assert!(aware.mse_after < aware.mse_before * 0.5, "{aware:?}");
    }
}
