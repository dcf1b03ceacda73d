//! The `vqcodec` command-line tool: encode, decode, info, tokens, adapt, roundtrip,
//! model-info. A thin front end: frames come from y4m files ([`vqcodec::y4m_io`]) and go through
//! the engine's pipeline ([`vqcodec::pipeline`]); the lab tools (`vqcodec-lab`: eval, bench,
//! train) share its model arguments ([`ModelArgs`]).

pub mod adapt_cmd;
pub mod codec_cmd;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use vqcodec::frame::{Frame, psnr_rgb, psnr_y_planes};
use vqcodec::model::{ModelKind, VqVaeConfig, Weights};
use vqcodec::y4m_io::{Y4mReader, Y4mWriter, create_output, open_input};
use vqcodec::{Backend, BackendRequest, Engine, block_on};

#[derive(Parser, Debug)]
#[command(
    name = "vqcodec",
    version,
    about = "A learned video codec (VQ-VAE) — native tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which model, on which backend: the arguments every command that runs the model shares.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Backend: auto (GPU if an adapter exists, else CPU), wgpu, or cpu (burn-flex).
    #[arg(long, default_value = "auto")]
    pub backend: BackendRequest,
    /// Which embedded model: base or lite.
    #[arg(long, default_value = "base")]
    pub model: ModelKind,
    /// A weight file to use instead of the embedded model.
    #[arg(long)]
    pub weights: Option<PathBuf>,
}

impl ModelArgs {
    /// The weights: `--weights`, or the embedded model.
    ///
    /// # Errors
    /// If the file cannot be read or is not a weight file.
    pub fn weights(&self) -> Result<Weights> {
        match &self.weights {
            Some(p) => {
                let bytes = std::fs::read(p)
                    .with_context(|| format!("cannot read weights {}", p.display()))?;
                Ok(Weights::from_bytes(bytes)
                    .with_context(|| format!("bad weight file {}", p.display()))?)
            }
            None => Ok(Weights::embedded(self.model)),
        }
    }

    /// How the model was chosen, for messages.
    pub fn label(&self) -> String {
        self.weights
            .as_ref()
            .map_or(self.model.name().to_string(), |p| p.display().to_string())
    }

    /// The model on the backend asked for.
    ///
    /// # Errors
    /// If the weights cannot be used or the backend is not available.
    pub fn engine(&self) -> Result<Engine> {
        let weights = self.weights()?;
        let backend = Backend::select(self.backend)?;
        Ok(Engine::new(&weights, backend)?)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compresses a y4m clip into a `.vqc` stream.
    Encode(codec_cmd::EncodeArgs),
    /// Decodes a `.vqc` stream to y4m (damaged chunks are reported and concealed).
    Decode(codec_cmd::DecodeArgs),
    /// Shows a `.vqc` stream's header and chunks, checking each one.
    Info(codec_cmd::InfoArgs),
    /// Exports the code indices of a y4m clip or a `.vqc` stream as `.npy` (`int16`, frames ×
    /// levels × rows × columns; -1 where a stream coded no index), and a stream's modes
    /// (`--modes`: how each position predicts from the previous frame).
    Tokens(codec_cmd::TokensArgs),
    /// Refits codebook levels to a clip (k-means on its latents); writes a `.codebook` file.
    Adapt(adapt_cmd::AdaptArgs),
    /// Encoder → RVQ → decoder on every frame; prints PSNR and the raw token rate.
    Roundtrip {
        /// Input y4m (`-` for stdin).
        input: PathBuf,
        /// Output y4m (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// RVQ levels to use (default: all).
        #[arg(long)]
        levels: Option<usize>,
        /// Frames per batch on the device.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Print only the summary line.
        #[arg(short, long)]
        quiet: bool,
        /// Also decode every shorter prefix of the levels and report mean PSNR per depth.
        #[arg(long)]
        all_levels: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Sizes, parameters, FLOPs per pixel and id of a model.
    ModelInfo {
        #[command(flatten)]
        model: ModelArgs,
    },
}

/// Entry point of the binary.
///
/// # Errors
/// Whatever the command met, with context for the user.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Encode(a) => codec_cmd::encode(&a),
        Command::Decode(a) => codec_cmd::decode(&a),
        Command::Info(a) => codec_cmd::info(&a),
        Command::Tokens(a) => codec_cmd::tokens(&a),
        Command::Adapt(a) => adapt_cmd::adapt_cmd(&a),
        Command::Roundtrip {
            input,
            output,
            levels,
            batch,
            quiet,
            all_levels,
            model,
        } => roundtrip(
            &input,
            &output,
            levels,
            batch.max(1),
            quiet,
            all_levels,
            &model,
        ),
        Command::ModelInfo { model } => model_info(&model),
    }
}

#[allow(clippy::too_many_arguments)]
fn roundtrip(
    input: &PathBuf,
    output: &PathBuf,
    levels: Option<usize>,
    batch: usize,
    quiet: bool,
    all_levels: bool,
    args: &ModelArgs,
) -> Result<()> {
    let mut reader = Y4mReader::new(open_input(input)?, &input.display().to_string())?;
    let engine = args.engine()?;
    let cfg = engine.config().clone();
    let levels_used = levels.unwrap_or(cfg.levels).clamp(1, cfg.levels);
    if let Some(l) = levels
        && (l == 0 || l > cfg.levels)
    {
        bail!(
            "--levels {l} out of range (the model has 1..={} levels)",
            cfg.levels
        );
    }
    eprintln!(
        "{}x{} {:?} | model {} ({}) | backend {} ({})",
        reader.width,
        reader.height,
        reader.colorspace,
        args.weights
            .as_ref()
            .map_or(args.model.name().to_string(), |p| p.display().to_string()),
        engine.model_id(),
        engine.backend_kind(),
        engine.backend().reason
    );
    let mut writer = Y4mWriter::new(
        create_output(output)?,
        reader.width,
        reader.height,
        reader.framerate,
        reader.chroma(),
    )?;
    let bar = if quiet || output.as_os_str() == "-" {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} frames {per_sec} {msg}")
                .expect("template should parse"),
        )
    };
    // Statistics go to stdout, or to stderr when stdout carries the y4m.
    let mut report: Box<dyn std::io::Write> = if output.as_os_str() == "-" {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let (mut n, mut sum_rgb, mut sum_y) = (0usize, 0f64, 0f64);
    // which codes each level used over the whole clip
    let mut used = vec![vec![false; cfg.codebook_size]; levels_used];
    // PSNR-RGB / PSNR-Y sums per shorter depth 1..levels_used-1 (with --all-levels)
    let mut depth_sums = vec![(0f64, 0f64); levels_used];
    let start = Instant::now();
    loop {
        let mut inputs = Vec::with_capacity(batch);
        while inputs.len() < batch {
            match reader.next_frame()? {
                Some(f) => inputs.push(f),
                None => break,
            }
        }
        if inputs.is_empty() {
            break;
        }
        let rgb: Vec<Frame> = inputs.iter().map(|f| f.rgb.clone()).collect();
        let rt = block_on(engine.roundtrip(&rgb, Some(levels_used)))?;
        let per_level = rt.tokens.height * rt.tokens.width;
        for (i, &code) in rt.tokens.data.iter().enumerate() {
            used[(i / per_level) % levels_used][code as usize] = true;
        }
        if all_levels {
            for depth in 1..levels_used {
                let frames = block_on(engine.decode(
                    &rt.tokens.prefix(depth)?,
                    reader.width,
                    reader.height,
                ))?;
                for (inp, out) in inputs.iter().zip(&frames) {
                    let (y, _, _) = out.to_yuv(vqcodec::Chroma::Mono);
                    depth_sums[depth - 1].0 += psnr_rgb(&inp.rgb, out).min(100.0);
                    depth_sums[depth - 1].1 += psnr_y_planes(&inp.luma, &y).min(100.0);
                }
            }
        }
        for (inp, out) in inputs.iter().zip(&rt.frames) {
            let y = writer.write(out)?;
            let (p_rgb, p_y) = (psnr_rgb(&inp.rgb, out), psnr_y_planes(&inp.luma, &y));
            if !quiet {
                bar.suspend(|| {
                    writeln!(
                        report,
                        "frame {n:5}  PSNR-RGB {p_rgb:6.2} dB  PSNR-Y {p_y:6.2} dB"
                    )
                })?;
            }
            sum_rgb += p_rgb.min(100.0);
            sum_y += p_y.min(100.0);
            n += 1;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if n == 0 {
        bail!("{} holds no frames", input.display());
    }
    let secs = start.elapsed().as_secs_f64();
    let usage: Vec<String> = used
        .iter()
        .map(|u| {
            format!(
                "{:.0}%",
                100.0 * u.iter().filter(|&&b| b).count() as f64 / u.len() as f64
            )
        })
        .collect();
    writeln!(
        report,
        "codebook usage per level over the clip: {}",
        usage.join(" / ")
    )?;
    if all_levels {
        for depth in 1..levels_used {
            let (r, y) = depth_sums[depth - 1];
            writeln!(
                report,
                "levels {depth}: PSNR-RGB {:.2} dB  PSNR-Y {:.2} dB | raw token rate {:.4} bpp",
                r / n as f64,
                y / n as f64,
                cfg.raw_bpp(depth)
            )?;
        }
    }
    writeln!(
        report,
        "mean over {n} frames: PSNR-RGB {:.2} dB  PSNR-Y {:.2} dB | raw token rate {:.4} bpp ({} levels x log2 {} bits / {}x{} px, before entropy coding) | {:.1} ms/frame on {}",
        sum_rgb / n as f64,
        sum_y / n as f64,
        cfg.raw_bpp(levels_used),
        levels_used,
        cfg.codebook_size,
        cfg.downsample,
        cfg.downsample,
        secs * 1000.0 / n as f64,
        engine.backend_kind(),
    )?;
    Ok(())
}

fn model_info(args: &ModelArgs) -> Result<()> {
    let weights = args.weights()?;
    let cfg = weights.config();
    let model = weights.load(&Backend::cpu("model-info").device)?;
    let (enc, dec) = cfg.flops_per_pixel();
    println!("model id        {}", weights.id());
    println!("config          {}", serde_json::to_string(cfg)?);
    println!(
        "parameters      {}",
        burn::module::Module::num_params(&model)
    );
    println!("file bytes      {}", weights.as_bytes().len());
    println!(
        "FLOPs/pixel     encode {enc:.0}, decode {dec:.0}, total {:.0}",
        enc + dec
    );
    for l in 1..=cfg.levels {
        println!(
            "raw rate L={l}    {:.4} bpp (before entropy coding)",
            cfg.raw_bpp(l)
        );
    }
    Ok(())
}

/// The architecture of a preset.
pub fn preset_config(preset: ModelKind) -> VqVaeConfig {
    match preset {
        ModelKind::Base => VqVaeConfig::base(),
        ModelKind::Lite => VqVaeConfig::lite(),
    }
}
