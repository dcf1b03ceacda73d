//! `vqcodec-lab ceiling`: the autoencoder's own ceiling against what the RVQ leaves of it.
//!
//! For each clip and model, every frame goes through the encoder and decoder networks twice
//! over: once with the continuous latent (no quantizer: [`Engine::roundtrip_unquantized`]), and
//! once per RVQ depth with plain RVQ ([`Engine::roundtrip`], nearest code per level, no entropy
//! coding or RD choices). Quality is measured against the source as `vqcodec-lab eval` does:
//! PSNR-Y on the source's own Y' plane, PSNR-RGB, MS-SSIM on Y'; means over frames.
//! If the unquantized result sits near the deepest RVQ rung, the transform is the limit; if it
//! sits far above, the quantizer is.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use vqcodec::frame::{Chroma, Frame, psnr_rgb, psnr_y_planes};
use vqcodec::metrics::ms_ssim;
use vqcodec::y4m_io::InputFrame;
use vqcodec::{Backend, BackendRequest, Engine, block_on};

use crate::model_spec::ModelSpec;

/// Options of `vqcodec-lab ceiling`.
#[derive(clap::Args, Debug)]
pub struct CeilingArgs {
    /// y4m clips.
    #[arg(required = true)]
    pub clips: Vec<PathBuf>,
    /// Models, comma-separated: `base`, `lite` (shipped) or paths to `.vqw` weight files.
    #[arg(long, value_delimiter = ',', default_value = "base,lite")]
    pub models: Vec<ModelSpec>,
    /// Backend: cpu (default: the same numbers on every machine), wgpu or auto.
    #[arg(long, default_value = "cpu")]
    pub backend: BackendRequest,
    /// Frames per clip (default: all).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Frames per network call.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Also write each clip's frames as `.npy` (u8 `[frames, height, width, 3]`, RGB) into this
    /// folder: `CLIP-source.npy`, and per model `CLIP-MODEL-unquantized.npy` and
    /// `CLIP-MODEL-L{depth}.npy` (the deepest RVQ rung), to study what the model leaves out.
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

/// Writes frames as one u8 `.npy` `[frames, height, width, 3]`.
fn dump_frames(path: &std::path::Path, frames: &[&Frame]) -> Result<()> {
    let Some(first) = frames.first() else {
        return Ok(());
    };
    let data: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.rgb().iter().copied())
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    vqcodec_cli::codec_cmd::write_npy(
        &mut out,
        &[frames.len(), first.height(), first.width(), 3],
        &data,
    )?;
    Ok(())
}

/// Mean quality of one way through the model on one clip.
#[derive(Debug, Clone, Copy, Default)]
struct Quality {
    psnr_y: f64,
    psnr_rgb: f64,
    msssim: f64,
}

/// One clip and model: the unquantized pass, then RVQ with 1..=L levels.
struct Row {
    clip: String,
    model: String,
    frames: usize,
    width: usize,
    height: usize,
    unquantized: Quality,
    levels: Vec<Quality>,
}

/// Sums of per-frame PSNR-Y, PSNR-RGB and MS-SSIM (Y') of `decoded` against `src`.
fn add(sum: &mut Quality, src: &[InputFrame], decoded: &[Frame]) {
    for (s, d) in src.iter().zip(decoded) {
        let luma = d.to_yuv(Chroma::Mono).0;
        sum.psnr_y += psnr_y_planes(&s.luma, &luma).min(100.0);
        sum.psnr_rgb += psnr_rgb(&s.rgb, d).min(100.0);
        sum.msssim += ms_ssim(&s.luma, &luma, d.width(), d.height());
    }
}

fn mean(sum: Quality, n: usize) -> Quality {
    let n = n.max(1) as f64;
    Quality {
        psnr_y: sum.psnr_y / n,
        psnr_rgb: sum.psnr_rgb / n,
        msssim: sum.msssim / n,
    }
}

fn measure(
    name: &str,
    frames: &[InputFrame],
    (width, height): (usize, usize),
    model: &ModelSpec,
    backend: &Backend,
    batch: usize,
    dump: Option<&std::path::Path>,
) -> Result<Row> {
    let engine = Engine::new(&model.weights()?, backend.clone())?;
    let depth = engine.config().levels;
    let started = Instant::now();
    let mut unquantized = Quality::default();
    let mut levels = vec![Quality::default(); depth];
    let (mut kept_unq, mut kept_deepest) = (Vec::new(), Vec::new());
    for chunk in frames.chunks(batch.max(1)) {
        let rgb: Vec<Frame> = chunk.iter().map(|f| f.rgb.clone()).collect();
        let unq = block_on(engine.roundtrip_unquantized(&rgb))?;
        add(&mut unquantized, chunk, &unq);
        for (l, sum) in levels.iter_mut().enumerate() {
            let rt = block_on(engine.roundtrip(&rgb, Some(l + 1)))?;
            add(sum, chunk, &rt.frames);
            if dump.is_some() && l + 1 == depth {
                kept_deepest.extend(rt.frames);
            }
        }
        if dump.is_some() {
            kept_unq.extend(unq);
        }
    }
    if let Some(dir) = dump {
        std::fs::create_dir_all(dir)?;
        let label = model.label();
        dump_frames(
            &dir.join(format!("{name}-{label}-unquantized.npy")),
            &kept_unq.iter().collect::<Vec<_>>(),
        )?;
        dump_frames(
            &dir.join(format!("{name}-{label}-L{depth}.npy")),
            &kept_deepest.iter().collect::<Vec<_>>(),
        )?;
    }
    let row = Row {
        clip: name.to_string(),
        model: model.label(),
        frames: frames.len(),
        width,
        height,
        unquantized: mean(unquantized, frames.len()),
        levels: levels.into_iter().map(|s| mean(s, frames.len())).collect(),
    };
    let q = |q: &Quality| format!("{:.2} / {:.2} / {:.4}", q.psnr_y, q.psnr_rgb, q.msssim);
    eprintln!(
        "{} {} ({} frames, {:.0} s): unquantized {}; {}",
        row.clip,
        row.model,
        row.frames,
        started.elapsed().as_secs_f64(),
        q(&row.unquantized),
        row.levels
            .iter()
            .enumerate()
            .map(|(l, v)| format!("{} level(s) {}", l + 1, q(v)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(row)
}

/// `vqcodec-lab ceiling`.
pub fn ceiling(args: &CeilingArgs) -> Result<()> {
    // one backend for every engine: a GPU runtime is registered once per process
    let backend = Backend::select(args.backend)?;
    let mut rows = Vec::new();
    for path in &args.clips {
        let clip = crate::eval::load_clip(path, args.frames)?;
        if let Some(dir) = &args.dump {
            std::fs::create_dir_all(dir)?;
            dump_frames(
                &dir.join(format!("{}-source.npy", clip.name)),
                &clip.frames.iter().map(|f| &f.rgb).collect::<Vec<_>>(),
            )?;
        }
        for model in &args.models {
            rows.push(measure(
                &clip.name,
                &clip.frames,
                (clip.width, clip.height),
                model,
                &backend,
                args.batch,
                args.dump.as_deref(),
            )?);
        }
    }
    let depth = rows.iter().map(|r| r.levels.len()).max().unwrap_or(0);
    let mut head = "| model | clip | frames | unquantized |".to_string();
    let mut rule = "|---|---|---|---|".to_string();
    for l in 1..=depth {
        head.push_str(&format!(" {l} level{} |", if l == 1 { "" } else { "s" }));
        rule.push_str("---|");
    }
    head.push_str(" gap unq. − deepest (dB) |");
    rule.push_str("---|");
    println!(
        "PSNR-Y dB (PSNR-RGB dB) / MS-SSIM (Y'), mean over frames; backend {:?}\n",
        args.backend
    );
    println!("{head}\n{rule}");
    let cell = |q: &Quality| format!("{:.2} ({:.2}) / {:.4}", q.psnr_y, q.psnr_rgb, q.msssim);
    for r in &rows {
        let mut line = format!(
            "| {} | {} {}×{} | {} | {} |",
            r.model,
            r.clip,
            r.width,
            r.height,
            r.frames,
            cell(&r.unquantized)
        );
        for q in &r.levels {
            line.push_str(&format!(" {} |", cell(q)));
        }
        let last = r.levels.last().copied().unwrap_or_default();
        line.push_str(&format!(
            " {:+.2} ({:+.2}) |",
            r.unquantized.psnr_y - last.psnr_y,
            r.unquantized.psnr_rgb - last.psnr_rgb
        ));
        println!("{line}");
    }
    Ok(())
}
