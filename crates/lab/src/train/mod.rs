//! `vqcodec-lab train`: trains the VQ-VAE with burn autodiff on any backend.
//!
//! Loss: MSE reconstruction + β·commitment. Codebooks follow EMA updates (not the
//! optimiser), start from k-means on the first batches' latents, and restart dead codes
//! from live residuals. Quantizer dropout (a random RVQ depth on half the steps) keeps every
//! prefix of levels a usable quality rung. Checkpoints (f32 weights + a JSON state) let a
//! later run resume: device sessions are short.
//!
//! A decoder-only run (`freeze_encoder`) leaves the encoder and codebooks as they are — the
//! same pictures give the same indices, so streams keep their bits — and tunes the decoder on
//! the indices they give; `msssim_weight` adds `w·(1 − MS-SSIM of Y')` to the loss and
//! `luma_mse_weight` `w·MSE(Y')`, for the metrics the codec is judged by.
//!
//! Rate-aware training (`rate_lambda`): each level assigns the code with the least squared
//! error + λ·(its length in bits under the EMA usage counts), entropy-constrained VQ after
//! Chou, Lookabaugh and Gray; the codebooks' EMA then fits those cells, and the commitment term
//! pulls the encoder towards the cheap codes.

pub mod data;
mod msssim;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

use data::{Dataset, Rng};
use vqcodec::Backend;
use vqcodec::model::{Precision, RatePenalty, VqVae, VqVaeConfig, Weights, pixel_unshuffle};

/// Hyper-parameters of a run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// Total optimiser steps (a resumed run continues to this count).
    pub steps: usize,
    /// Crops per batch.
    pub batch: usize,
    /// Crop side in pixels.
    pub crop: usize,
    /// Peak learning rate (Adam), after a short warm-up; cosine decay to `lr * 0.05`.
    pub lr: f64,
    /// Commitment loss weight β.
    pub commitment: f32,
    /// EMA decay of the codebooks.
    pub ema_decay: f32,
    /// Steps between dead-code restarts.
    pub restart_every: usize,
    /// A code whose EMA count (assignments per step) falls below this is dead.
    pub restart_threshold: f32,
    /// Steps between log lines.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Seed for initialisation and sampling.
    pub seed: u64,
    /// Total training seconds over all resumed runs: the learning-rate schedule follows
    /// `max(step / steps, seconds / budget)` and training ends when either is spent.
    pub time_budget_s: Option<f64>,
    /// Wall-clock limit of this invocation: checkpoint and stop (resume later).
    pub run_limit_s: Option<f64>,
    /// On resume, make the RVQ this many levels deep: the checkpoint's levels stay, the new
    /// ones start by k-means on what those leave (at most the format's 15).
    #[serde(default)]
    pub grow_levels: Option<usize>,
    /// Train the decoder alone: the encoder and codebooks stay as they are (no EMA, no
    /// restarts), so every picture keeps its indices.
    #[serde(default)]
    pub freeze_encoder: bool,
    /// On resume, give a decoder without a block-edge filter one of this many channels,
    /// started at the identity ([`vqcodec::model::Decoder::with_post_filter`]).
    #[serde(default)]
    pub post_filter: Option<usize>,
    /// Weight of `1 − MS-SSIM` (of Y', the evaluation's metric) in the loss, beside the MSE.
    #[serde(default)]
    pub msssim_weight: f32,
    /// Rate-aware (entropy-constrained) assignment: each level picks the code with the
    /// least `‖r − c‖² + λ·bits(c)`, bits from the codes' smoothed usage
    /// ([`vqcodec::model::EmaState::code_bits`]); λ in squared latent error per bit, summed over
    /// a position's D values. 0: nearest code.
    #[serde(default)]
    pub rate_lambda: f32,
    /// With `rate_lambda`: price each code under its parent context, as the bitstream's index
    /// trees do (`−log2 p(code | the class of the index one level up)`,
    /// [`vqcodec::model::EmaState::code_bits_given_parent`]), instead of its usage alone.
    #[serde(default)]
    pub rate_by_parent: bool,
    /// Weight of the MSE of Y' (what PSNR-Y measures) added to the loss beside the RGB MSE:
    /// luma errors then cost `1 + w` times what chroma errors of the same size cost.
    #[serde(default)]
    pub luma_mse_weight: f32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 32,
            crop: 128,
            lr: 1e-3,
            commitment: 0.25,
            ema_decay: 0.99,
            restart_every: 100,
            restart_threshold: 1.0,
            log_every: 50,
            checkpoint_every: 500,
            seed: 0,
            time_budget_s: None,
            run_limit_s: None,
            grow_levels: None,
            freeze_encoder: false,
            post_filter: None,
            msssim_weight: 0.0,
            rate_lambda: 0.0,
            rate_by_parent: false,
            luma_mse_weight: 0.0,
        }
    }
}

/// Where a run stands, saved beside the checkpoint.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunState {
    step: usize,
    seconds: f64,
}

/// Summary of a finished run.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// Steps done in total (including resumed ones).
    pub steps: usize,
    /// PSNR (dB) of the last logged batch with all levels.
    pub last_psnr: f64,
    /// Fraction of codes alive per level at the end.
    pub usage: Vec<f64>,
    /// Wall-clock seconds of this run (not counting earlier resumed runs).
    pub seconds: f64,
}

/// Training progress in [0, 1]: by steps, or by time when a total budget is set.
fn progress(opts: &TrainOptions, step: usize, seconds: f64) -> f64 {
    let by_steps = step as f64 / opts.steps.max(1) as f64;
    let by_time = opts.time_budget_s.map_or(0.0, |b| seconds / b.max(1e-9));
    by_steps.max(by_time).min(1.0)
}

/// Linear warm-up over the first 2%, then cosine decay to 5% of the peak.
fn lr_at(opts: &TrainOptions, t: f64) -> f64 {
    let warm = 0.02;
    if t < warm {
        return opts.lr * (0.05 + 0.95 * t / warm);
    }
    let u = (t - warm) / (1.0 - warm);
    let min = opts.lr * 0.05;
    min + 0.5 * (opts.lr - min) * (1.0 + (std::f64::consts::PI * u).cos())
}

/// Usage (fraction of codes with EMA count ≥ threshold) and perplexity per level.
fn codebook_stats(sizes: &[f32], levels: usize, codes: usize, threshold: f32) -> Vec<(f64, f64)> {
    (0..levels)
        .map(|l| {
            let s = &sizes[l * codes..(l + 1) * codes];
            let total: f64 = s.iter().map(|&v| f64::from(v.max(0.0))).sum();
            let alive = s.iter().filter(|&&v| v >= threshold).count() as f64 / codes as f64;
            let entropy: f64 = s
                .iter()
                .map(|&v| f64::from(v.max(0.0)) / total.max(1e-12))
                .filter(|&p| p > 0.0)
                .map(|p| -p * p.ln())
                .sum();
            (alive, entropy.exp())
        })
        .collect()
}

/// Sets a conv's weight `[cout, cin, 1, 1]` (row-major `cout × cin`) and bias.
fn set_conv(conv: &mut Conv2d, weight: Vec<f32>, bias: Vec<f32>, device: &Device) {
    let [cout, cin, kh, kw] = conv.weight.dims();
    assert_eq!((weight.len(), bias.len(), kh, kw), (cout * cin, cout, 1, 1));
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weight, [cout, cin, 1, 1]),
        device,
    ));
    conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [cout]),
        device,
    )));
}

/// Zeroes a conv's weight and bias (the last layer of a nonlinear path, so the model starts
/// as its linear path).
fn zero_conv(conv: &mut Conv2d, device: &Device) {
    let [cout, cin, kh, kw] = conv.weight.dims();
    conv.weight = Param::from_tensor(Tensor::zeros([cout, cin, kh, kw], device));
    conv.bias = Some(Param::from_tensor(Tensor::zeros([cout], device)));
}

/// Starts the linear path at the principal components of the training set's pixel blocks
/// (`3·s²` values each, from four batches of crops): the encoder projects a centred block on
/// the top `D` eigenvectors of their covariance, the decoder maps back and adds the mean. The
/// nonlinear paths' last layers start at zero, so the untrained model *is* the best linear
/// transform of its width (PCA), which plain gradient descent reaches only slowly for the
/// low-variance, high-frequency directions that detailed footage needs.
fn linear_init(
    mut model: VqVae,
    config: &VqVaeConfig,
    data: &Dataset,
    rng: &mut Rng,
    opts: &TrainOptions,
    device: &Device,
    log: &mut dyn Write,
) -> Result<VqVae> {
    let s = config.downsample;
    let n = 3 * s * s;
    let d = config.code_dim.min(n);
    let mut blocks: Vec<f32> = Vec::new();
    for _ in 0..4 {
        let x = data
            .batch(rng, opts.batch, opts.crop, device)
            .sub_scalar(0.5);
        let u = pixel_unshuffle(x, s);
        let [b, c, h, w] = u.dims();
        let flat = u.permute([0, 2, 3, 1]).reshape([b * h * w, c]);
        blocks.extend(crate::latents::host_f32(flat)?);
    }
    let rows = blocks.len() / n;
    // rows × n blocks, centred per column; covariance Xᵀ X / rows
    let mut x = nalgebra::DMatrix::from_row_iterator(rows, n, blocks.iter().map(|&v| f64::from(v)));
    let mean: Vec<f64> = x
        .column_iter_mut()
        .map(|mut col| {
            let m = col.mean();
            col.add_scalar_mut(-m);
            m
        })
        .collect();
    let cov = x.tr_mul(&x) / rows as f64;
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let total: f64 = eig.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = order[..d]
        .iter()
        .map(|&k| eig.eigenvalues[k].max(0.0))
        .sum();
    writeln!(
        log,
        "linear path: principal components of {rows} blocks of {n} values, {d} kept ({:.4}% of the variance)",
        100.0 * kept / total.max(1e-30)
    )?;
    let dim = config.code_dim;
    // encoder: z = Uᵀ(block − mean); rows of the weight are eigenvectors
    let mut w_enc = vec![0f32; dim * n];
    let mut b_enc = vec![0f32; dim];
    // decoder: block = U z + mean
    let mut w_dec = vec![0f32; n * dim];
    for (row, &k) in order[..d].iter().enumerate() {
        let v = eig.eigenvectors.column(k);
        let mut dot = 0.0;
        for i in 0..n {
            w_enc[row * n + i] = v[i] as f32;
            w_dec[i * dim + row] = v[i] as f32;
            dot += v[i] * mean[i];
        }
        b_enc[row] = -dot as f32;
    }
    let b_dec: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let enc = model.encoder.linear.as_mut().context("no linear path")?;
    set_conv(enc, w_enc, b_enc, device);
    let dec = model.decoder.linear.as_mut().context("no linear path")?;
    set_conv(dec, w_dec, b_dec, device);
    zero_conv(model.encoder.proj_mut(), device);
    zero_conv(model.decoder.last_mut(), device);
    Ok(model)
}

/// The latents of four training batches, `[N, D]`: what k-means fits codebooks to.
fn latent_samples(
    model: &VqVae,
    data: &Dataset,
    rng: &mut Rng,
    opts: &TrainOptions,
    device: &Device,
) -> Tensor<2> {
    let mut zs = Vec::new();
    for _ in 0..4 {
        let x = data.batch(rng, opts.batch, opts.crop, device);
        let z = model.latent(x).detach();
        let [b, d, h, w] = z.dims();
        zs.push(z.permute([0, 2, 3, 1]).reshape([b * h * w, d]));
    }
    Tensor::cat(zs, 0)
}

/// The decoder's output `[B, 3, crop, crop]` for `x`'s indices under `frozen` (the encoder
/// and codebooks, without autodiff: what they compute carries no graph, so nothing of it is
/// kept or moved), not clamped (a clamp would stop the gradient where the decoder overshoots).
fn decode_frozen(
    model: &VqVae,
    frozen: &VqVae,
    x: Tensor<4>,
    depth: usize,
    crop: usize,
) -> Tensor<4> {
    let indices = frozen.encode(x.inner(), depth);
    let [b, l, h, w] = indices.dims();
    let flat = indices.permute([0, 2, 3, 1]).reshape([b * h * w, l]);
    let z = frozen.quantizer.decode(flat);
    let d = z.dims()[1];
    let z = z.reshape([b, h, w, d]).permute([0, 3, 1, 2]).autodiff();
    model
        .decoder
        .forward(z)
        .slice([0..b, 0..3, 0..crop, 0..crop])
}

/// Trains `config` (or resumes from `out_dir/checkpoint.vqw`) on `data` and writes
/// `out_dir/checkpoint.vqw` (f32) and `out_dir/model.vqw` (f16, shippable).
///
/// # Errors
/// On I/O failure or a checkpoint that does not load.
pub fn train(
    config: &VqVaeConfig,
    data: &Dataset,
    backend: &Backend,
    opts: &TrainOptions,
    out_dir: &Path,
    log: &mut dyn Write,
) -> Result<TrainReport> {
    std::fs::create_dir_all(out_dir)?;
    let device = backend.device.clone().autodiff();
    device.seed(opts.seed);
    let ckpt = out_dir.join("checkpoint.vqw");
    let state_path = out_dir.join("state.json");
    let (mut model, mut config, mut step, seconds_before) = if ckpt.exists() {
        let w = Weights::from_bytes(std::fs::read(&ckpt)?)?;
        let st: RunState =
            serde_json::from_slice(&std::fs::read(&state_path)?).context("bad state.json")?;
        writeln!(log, "resuming from {} at step {}", ckpt.display(), st.step)?;
        (w.load(&device)?, w.config().clone(), st.step, st.seconds)
    } else {
        (config.init(&device), config.clone(), 0, 0.0)
    };
    anyhow::ensure!(
        !opts.freeze_encoder || step > 0,
        "a decoder-only run tunes a trained model: resume a checkpoint"
    );
    anyhow::ensure!(
        opts.rate_lambda.is_finite() && opts.rate_lambda >= 0.0,
        "--rate-lambda {}: a rate weight is a finite number ≥ 0",
        opts.rate_lambda
    );
    anyhow::ensure!(
        opts.luma_mse_weight.is_finite() && opts.luma_mse_weight >= 0.0,
        "--luma-mse-weight {}: a loss weight is a finite number ≥ 0",
        opts.luma_mse_weight
    );
    anyhow::ensure!(
        !(opts.freeze_encoder && opts.rate_lambda > 0.0),
        "--rate-lambda moves the indices, --freeze-encoder keeps them: choose one"
    );
    let mut rng = Rng::new(opts.seed.wrapping_add(step as u64 * 7919));
    // a fresh run takes its depth from the config (k-means sets every level below)
    if let Some(grow) = opts
        .grow_levels
        .filter(|&g| step > 0 && g > model.quantizer.dims().0)
    {
        anyhow::ensure!(
            grow <= 15,
            "--grow-levels {grow}: the format carries at most 15 levels"
        );
        let from = model.quantizer.dims().0;
        let z = latent_samples(&model, data, &mut rng, opts, &device);
        model.quantizer = model.quantizer.grow(z, grow, 10);
        config = config.with_levels(grow);
        writeln!(
            log,
            "grew the RVQ from {from} to {grow} levels (k-means on the residuals)"
        )?;
    }
    if let Some(c) = opts.post_filter.filter(|&c| c > 0) {
        if config.post_filter == 0 {
            config = config.with_post_filter(c);
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("--post-filter {c}: {e}"))?;
            model.decoder = model.decoder.with_post_filter(c, &device);
            writeln!(
                log,
                "added a block-edge filter of {c} channels to the decoder (the identity)"
            )?;
        } else {
            anyhow::ensure!(
                config.post_filter == c,
                "--post-filter {c}: the checkpoint's decoder has a filter of {} channels",
                config.post_filter
            );
        }
    }
    let (levels, codes, _) = model.quantizer.dims();

    if step == 0 && config.linear_path {
        model = linear_init(model, &config, data, &mut rng, opts, &device, log)?;
    }
    if step == 0 {
        // k-means initialisation from the latents of a few batches
        let z = latent_samples(&model, data, &mut rng, opts, &device);
        writeln!(log, "k-means init on {} latent vectors", z.dims()[0])?;
        model.quantizer = model.quantizer.kmeans_init(z, 10);
    }
    let mut ema = if opts.rate_lambda > 0.0 && opts.rate_by_parent {
        model.quantizer.ema_state_with_parents()
    } else {
        model.quantizer.ema_state()
    };
    // a decoder-only run: the encoder and codebooks as they are, off the autodiff graph
    let frozen = opts.freeze_encoder.then(|| model.valid());
    let mut optim = AdamConfig::new().init();
    let start = Instant::now();
    let step_at_start = step;
    let mut last_psnr = f64::NAN;
    let mut usage = vec![0.0; levels];
    let save = |model: &VqVae, step: usize, secs: f64| -> Result<()> {
        let w = Weights::from_model_with(&config, model, Precision::F32)?;
        std::fs::write(&ckpt, w.as_bytes())?;
        std::fs::write(
            &state_path,
            serde_json::to_vec(&RunState {
                step,
                seconds: secs,
            })?,
        )?;
        let shipped = Weights::from_model(&config, model)?;
        std::fs::write(out_dir.join("model.vqw"), shipped.as_bytes())?;
        Ok(())
    };
    // the crops are made ahead on a thread of their own, from a generator of their own (the
    // loop's keeps the depths); the scope ends that thread with the loop
    let data_rng = Rng::new(opts.seed.wrapping_add(step as u64 * 7919) ^ 0xda7a_da7a_da7a_da7a);
    model = std::thread::scope(|scope| -> Result<VqVae> {
        let mut model = model;
        let mut batches = data.prefetch(scope, data_rng, opts.batch, opts.crop, 3);
        let mut last_line = (step, 0.0);
        loop {
            let total_seconds = seconds_before + start.elapsed().as_secs_f64();
            let t = progress(opts, step, total_seconds);
            if t >= 1.0 {
                break;
            }
            let lr = lr_at(opts, t);
            let x = batches.next(&device)?;
            // quantizer dropout: half the steps train a random prefix of the levels
            let depth = if rng.unit() < 0.5 {
                levels
            } else {
                1 + rng.below(levels)
            };
            let (reconstruction, out) = match &frozen {
                // a decoder-only run: only the decoder learns
                Some(frozen) => (
                    decode_frozen(&model, frozen, x.clone(), depth, opts.crop),
                    None,
                ),
                None => {
                    let penalty = (opts.rate_lambda > 0.0).then(|| {
                        if opts.rate_by_parent {
                            RatePenalty::PerParent(
                                ema.code_bits_given_parent().mul_scalar(opts.rate_lambda),
                            )
                        } else {
                            RatePenalty::PerCode(ema.code_bits().mul_scalar(opts.rate_lambda))
                        }
                    });
                    let out = model.forward_penalized(x.clone(), depth, penalty);
                    (out.reconstruction.clone(), Some(out))
                }
            };
            let mse = (reconstruction.clone() - x.clone()).square().mean();
            let mut loss = mse.clone();
            if let Some(out) = &out {
                loss = loss + out.quantized.commitment.clone().mul_scalar(opts.commitment);
            }
            if opts.luma_mse_weight > 0.0 || opts.msssim_weight > 0.0 {
                // Y' of both pictures once, for whichever luma terms are on
                let (ry, xy) = (msssim::luma(reconstruction), msssim::luma(x));
                if opts.luma_mse_weight > 0.0 {
                    let mse_y = (ry.clone() - xy.clone()).square().mean();
                    loss = loss + mse_y.mul_scalar(opts.luma_mse_weight);
                }
                if opts.msssim_weight > 0.0 {
                    let s = msssim::ms_ssim(ry, xy).mean();
                    loss = loss + s.neg().add_scalar(1.0).mul_scalar(opts.msssim_weight);
                }
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            if let Some(out) = &out {
                model.quantizer =
                    model
                        .quantizer
                        .ema_update(&mut ema, &out.quantized, opts.ema_decay);
            }
            step += 1;
            if let Some(out) = out
                .as_ref()
                .filter(|_| step % opts.restart_every == 0 && t < 0.9)
            {
                let (q, n) = model.quantizer.restart_dead_codes(
                    &mut ema,
                    &out.quantized,
                    opts.restart_threshold,
                );
                model.quantizer = q;
                if n.iter().any(|&k| k > 0) {
                    writeln!(log, "step {step}: restarted dead codes per level {n:?}")?;
                }
            }
            let out_of_time = opts
                .run_limit_s
                .is_some_and(|b| start.elapsed().as_secs_f64() > b);
            let done = progress(opts, step, seconds_before + start.elapsed().as_secs_f64()) >= 1.0;
            let checkpoint = step % opts.checkpoint_every == 0;
            if step % opts.log_every == 0 || checkpoint || done || out_of_time {
                let mse_v = f64::from(mse.into_scalar::<f32>());
                // a diverged run stops before it writes anything: the last checkpoint stays
                anyhow::ensure!(
                    mse_v.is_finite(),
                    "step {step}: the reconstruction error is not finite ({mse_v}); stopped, the \
                 last checkpoint kept"
                );
                let psnr = -10.0 * mse_v.max(1e-12).log10();
                if depth == levels {
                    last_psnr = psnr;
                }
                let sizes: Vec<f32> = ema
                    .cluster_size
                    .clone()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec()
                    .unwrap_or_default();
                let stats = codebook_stats(&sizes, levels, codes, opts.restart_threshold);
                usage = stats.iter().map(|s| s.0).collect();
                let elapsed = start.elapsed().as_secs_f64();
                let (made_ms, waited_ms) = batches.take_stats();
                let mpx_per_s = |steps: usize, secs: f64| {
                    steps as f64 * (opts.batch * opts.crop * opts.crop) as f64
                        / secs.max(1e-9)
                        / 1e6
                };
                // the rate since the last line (the mean from the start holds the warm-up)
                let recent = mpx_per_s(step - last_line.0, elapsed - last_line.1);
                last_line = (step, elapsed);
                writeln!(
                    log,
                    "step {step:6} lr {:.2e} loss {:.5} psnr {psnr:6.2} dB (levels {depth}) usage {} perplexity {} | {:.0}s {:.2} Mpx/s ({recent:.2} since the last line) | crops {made_ms:.1} ms a batch, waited {waited_ms:.1} ms",
                    lr,
                    f64::from(loss.into_scalar::<f32>()),
                    stats
                        .iter()
                        .map(|s| format!("{:.0}%", s.0 * 100.0))
                        .collect::<Vec<_>>()
                        .join("/"),
                    stats
                        .iter()
                        .map(|s| format!("{:.0}", s.1))
                        .collect::<Vec<_>>()
                        .join("/"),
                    elapsed + seconds_before,
                    mpx_per_s(step - step_at_start, elapsed),
                )?;
                log.flush()?;
            }
            // the last checkpoint is written once, after the loop
            if checkpoint && !(done || out_of_time) {
                save(&model, step, start.elapsed().as_secs_f64() + seconds_before)?;
            }
            if out_of_time {
                writeln!(
                    log,
                    "run limit reached at step {step}: checkpointed, resume to continue"
                )?;
                break;
            }
        }
        Ok(model)
    })?;
    let seconds = start.elapsed().as_secs_f64();
    save(&model, step, seconds_before + seconds)?;
    Ok(TrainReport {
        steps: step,
        last_psnr,
        usage,
        seconds,
    })
}
