//! `vqcodec-lab`: the project's lab tools, apart from the `vqcodec` tool people install (which
//! pulls no plotting, drives no ffmpeg and carries no autodiff):
//! * `eval`: rate–distortion against x264, x265, VP9 and AV1 (ffmpeg), BD-rates, plots;
//! * `bench`: where a frame's time goes, per stage, size, model and backend;
//! * `train`: trains the VQ-VAE with burn autodiff (`init-weights` writes untrained weights);
//! * `ceiling`: the autoencoder without its quantizer against 1..=L RVQ levels;
//! * `latents`: dumps a clip's latents and the codebooks as .npy (issue 16's measurement).
//! * `motion-ops`: fits a model's fine-motion maps and writes weights that carry them.
//! * `metric`: measures how much each latent direction matters to the picture and writes
//!   weights whose encoder weighs its choices by it.
//!
//! Every encode and decode goes through the engine's pipeline, as in the CLI and the browser.

mod bench;
mod ceiling;
mod enhance;
mod eval;
mod latents;
mod metric;
mod model_spec;
mod motion_ops;
mod train;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use vqcodec::model::{ModelKind, Weights};
use vqcodec::{Backend, BackendKind, BackendRequest};
use vqcodec_cli::preset_config;

#[derive(Parser, Debug)]
#[command(
    name = "vqcodec-lab",
    version,
    about = "vqcodec's lab tools: RD eval, per-stage benchmarks, training"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options of `vqcodec-lab train`.
#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// Manifest: one y4m path per line, relative to the manifest.
    #[arg(long)]
    data: PathBuf,
    /// Output folder: checkpoint.vqw (f32, resumable), model.vqw (f16), state.json.
    #[arg(short, long)]
    output: PathBuf,
    /// Architecture preset to start from (ignored when resuming).
    #[arg(long, default_value = "base")]
    preset: ModelKind,
    /// How the networks' convolutions run while training: auto (on a GPU the codec's tiled
    /// kernel, its input gradient by the same kernel: base 1.5× faster than burn's, docs/results/
    /// train-speed.md; burn's convolution on the CPU), direct (burn's), gemm, or tiled.
    #[arg(long, default_value = "auto", value_parser = bench::parse_conv)]
    conv: vqcodec::model::ConvKernels,
    /// Override the preset's RVQ levels.
    #[arg(long)]
    levels: Option<usize>,
    /// Override the preset's codebook size.
    #[arg(long)]
    codebook_size: Option<usize>,
    /// Override the preset's code dimension (the latent's width per position).
    #[arg(long)]
    code_dim: Option<usize>,
    /// Override the preset's channels of the residual trunk at latent resolution.
    #[arg(long)]
    latent_channels: Option<usize>,
    /// Override the preset's channels at 1/4 resolution (0: no 1/4 stage).
    #[arg(long)]
    mid_channels: Option<usize>,
    /// Override the preset's residual blocks per trunk.
    #[arg(long)]
    res_blocks: Option<usize>,
    /// Add the linear path (started at the pixel blocks' principal components).
    #[arg(long)]
    linear_path: bool,
    /// Take every N-th frame of each clip.
    #[arg(long, default_value_t = 1)]
    frame_stride: usize,
    /// Steps in total.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Crops per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Crop side.
    #[arg(long, default_value_t = 128)]
    crop: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Steps between logs.
    #[arg(long, default_value_t = 50)]
    log_every: usize,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 500)]
    checkpoint_every: usize,
    /// Steps between dead-code restarts.
    #[arg(long, default_value_t = 100)]
    restart_every: usize,
    /// Total training seconds over all resumed runs (drives the LR schedule too).
    #[arg(long)]
    time_budget: Option<f64>,
    /// Stop this run (after checkpointing) when this many seconds have passed.
    #[arg(long)]
    run_limit: Option<f64>,
    /// On resume, deepen the RVQ to this many levels (≤ 15): the checkpoint's levels stay, the
    /// new ones start by k-means on what they leave.
    #[arg(long)]
    grow_levels: Option<usize>,
    /// Train the decoder alone (a resumed run): the encoder and codebooks stay, so every
    /// picture keeps its indices and streams their bits.
    #[arg(long)]
    freeze_encoder: bool,
    /// Give the decoder a block-edge filter of this many channels (config `post_filter`): a
    /// fresh run trains it from the start; a resumed checkpoint without one gets it at the
    /// identity (with --freeze-encoder: the same indices, a decoder that smooths its blocks'
    /// edges).
    #[arg(long)]
    post_filter: Option<usize>,
    /// Weight of `1 − MS-SSIM` of Y' in the loss, beside the MSE (0: MSE alone). Its first full
    /// runs on the GPU diverged (docs/results/lite-ft.md): watch the log.
    #[arg(long, default_value_t = 0.0)]
    msssim_weight: f32,
    /// Rate-aware training: assign each level's code by squared latent error + λ × its length
    /// in bits under the codes' running usage (entropy-constrained VQ), so codes that are cheap
    /// to send win near-ties and the encoder learns to land on them. 0: nearest code.
    #[arg(long, default_value_t = 0.0)]
    rate_lambda: f32,
    /// With --rate-lambda: charge each code its length under its parent context (the class of
    /// the index one level up at the same position), as the bitstream's index trees code it,
    /// rather than under its usage alone.
    #[arg(long)]
    rate_by_parent: bool,
    /// Weight of the MSE of Y' (what PSNR-Y measures) added to the loss beside the RGB MSE,
    /// so that luma errors cost 1 + w times what chroma errors of the same size cost (0: RGB MSE
    /// alone).
    #[arg(long, default_value_t = 0.0)]
    luma_mse_weight: f32,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Backend: auto, wgpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: BackendRequest,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Rate–distortion against x264, x265, VP9 and AV1 (ffmpeg): CSV, BD-rates, SVG plots.
    Eval(eval::EvalArgs),
    /// Where a frame's time goes: networks, RVQ + entropy coding, readback; per size and model.
    Bench(bench::BenchArgs),
    /// The autoencoder's own ceiling: decodes the unquantized latent next to 1..=L RVQ levels.
    Ceiling(ceiling::CeilingArgs),
    /// Dumps a clip's continuous latents and the codebooks as .npy (issue 16's measurement).
    Latents(latents::LatentsArgs),
    /// Fits a model's fine-motion maps on training clips and writes weights that carry them.
    MotionOps(motion_ops::MotionOpsArgs),
    /// Gives a trained model an enhancement: more latent values and RVQ levels for what its
    /// networks leave out (fitted, not trained); fit its motion maps and metric again after
    Enhance(enhance::EnhanceArgs),
    /// Measures how much each latent direction matters to the decoded picture (the decoder's
    /// Jacobian, `E[JᵀJ]`).
    Metric(metric::MetricArgs),
    /// Trains a model on y4m clips listed in a manifest.
    Train(TrainArgs),
    /// Writes freshly initialised (untrained) weights for a preset.
    InitWeights {
        /// base or lite.
        #[arg(long, default_value = "base")]
        preset: ModelKind,
        /// Seed for the initialisation.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output weight file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Eval(a) => eval::eval(&a),
        Command::Bench(a) => bench::bench(&a),
        Command::Ceiling(a) => ceiling::ceiling(&a),
        Command::Latents(a) => latents::latents(&a),
        Command::MotionOps(a) => motion_ops::motion_ops(&a),
        Command::Enhance(a) => enhance::enhance(&a),
        Command::Metric(a) => metric::metric(&a),
        Command::Train(a) => train(&a),
        Command::InitWeights {
            preset,
            seed,
            output,
        } => init_weights(preset, seed, &output),
    }
}

/// `vqcodec-lab train`.
fn train(args: &TrainArgs) -> Result<()> {
    vqcodec::model::set_conv_kernels(args.conv);
    let mut cfg = preset_config(args.preset);
    if let Some(l) = args.levels {
        cfg = cfg.with_levels(l);
    }
    if let Some(k) = args.codebook_size {
        cfg = cfg.with_codebook_size(k);
    }
    if let Some(d) = args.code_dim {
        cfg = cfg.with_code_dim(d);
    }
    if let Some(c) = args.latent_channels {
        cfg = cfg.with_latent_channels(c);
    }
    if let Some(m) = args.mid_channels {
        cfg = cfg.with_mid_channels(m);
    }
    if let Some(r) = args.res_blocks {
        cfg = cfg.with_res_blocks(r);
    }
    if args.linear_path {
        cfg = cfg.with_linear_path(true);
    }
    if let Some(c) = args.post_filter {
        cfg = cfg.with_post_filter(c);
    }
    cfg.validate().map_err(|e| anyhow::anyhow!(e))?;
    let started = Instant::now();
    let set = train::data::Dataset::load(&args.data, args.frame_stride)?;
    eprintln!(
        "loaded {} frames ({:.1} Mpx) from {} clips in {:.1}s",
        set.len(),
        set.pixels() as f64 / 1e6,
        set.clips.len(),
        started.elapsed().as_secs_f64()
    );
    let backend = Backend::select(args.backend)?;
    eprintln!("training on {} ({})", backend.kind, backend.reason);
    if args.msssim_weight > 0.0 && backend.kind == BackendKind::Gpu && cfg!(feature = "fusion") {
        bail!(
            "--msssim-weight on wgpu needs a lab built without burn's fusion, which computes the \
             term wrong (docs/results/lite-ft.md): `cargo build --release -p vqcodec-lab \
             --no-default-features` in a target dir of its own"
        );
    }
    let opts = train::TrainOptions {
        steps: args.steps,
        batch: args.batch,
        crop: args.crop,
        lr: args.lr,
        log_every: args.log_every,
        checkpoint_every: args.checkpoint_every,
        seed: args.seed,
        time_budget_s: args.time_budget,
        run_limit_s: args.run_limit,
        grow_levels: args.grow_levels,
        freeze_encoder: args.freeze_encoder,
        post_filter: args.post_filter,
        msssim_weight: args.msssim_weight,
        rate_lambda: args.rate_lambda,
        rate_by_parent: args.rate_by_parent,
        luma_mse_weight: args.luma_mse_weight,
        restart_every: args.restart_every.max(1),
        ..Default::default()
    };
    let report = train::train(
        &cfg,
        &set,
        &backend,
        &opts,
        &args.output,
        &mut std::io::stdout(),
    )?;
    println!(
        "done: {} steps, last PSNR {:.2} dB, usage {:?}, {:.0}s",
        report.steps, report.last_psnr, report.usage, report.seconds
    );
    Ok(())
}

fn init_weights(preset: ModelKind, seed: u64, output: &PathBuf) -> Result<()> {
    let cfg = preset_config(preset);
    let backend = Backend::cpu("init");
    backend.device.seed(seed);
    let model = cfg.init(&backend.device);
    let w = Weights::from_model(&cfg, &model)?;
    std::fs::write(output, w.as_bytes())?;
    println!(
        "wrote {} ({} bytes, id {})",
        output.display(),
        w.as_bytes().len(),
        w.id()
    );
    Ok(())
}
