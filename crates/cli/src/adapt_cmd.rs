//! `vqcodec adapt`: refits codebook levels to one clip and writes them as a `.codebook` file,
//! reporting the latent quantisation error and the full-depth PSNR before and after — on the
//! frames it learned from and on the clip's other frames.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::ModelArgs;
use vqcodec::adapt::{AdaptOptions, MIN_FRAMES, roundtrip_psnr};
use vqcodec::block_on;
use vqcodec::pipeline::Analysis;
use vqcodec::vqc::CodebookPatch;
use vqcodec::y4m_io::{Y4mReader, open_input};
use vqcodec::{Engine, Frame};

/// Options of `vqcodec adapt`.
#[derive(clap::Args, Debug)]
pub struct AdaptArgs {
    /// Input y4m.
    pub input: PathBuf,
    /// Output codebook file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Frames to learn from, sampled evenly across the clip.
    #[arg(long, default_value_t = 64)]
    pub frames: usize,
    /// RVQ levels to refit (0-based), comma-separated (level 0 alone: docs/adapt.md).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub levels: Vec<usize>,
    /// Lloyd iterations per level.
    #[arg(long, default_value_t = 8)]
    pub iterations: usize,
    /// Stop after this many seconds, keeping what is done.
    #[arg(long)]
    pub budget: Option<f64>,
    /// λ of the rate-aware refit: squared latent error worth one bit of index (0: plain
    /// k-means; docs/adapt.md).
    #[arg(long, default_value_t = vqcodec::adapt::RATE_WEIGHT)]
    pub rate_weight: f32,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The encoder network's latents of `frames`, four frames per device call (as the encoder
/// batches them).
///
/// # Errors
/// If the device fails.
pub fn latents_of(engine: &Engine, frames: &[Frame]) -> Result<Analysis> {
    let (w, h) = frames.first().map_or((0, 0), |f| (f.width(), f.height()));
    analyse_all(&vqcodec::pipeline::Analyser::new(engine, w, h), frames)
}

/// `analyser`'s pass over `frames`, four frames per device call (as the encoder batches them).
///
/// # Errors
/// If the device fails.
pub fn analyse_all(analyser: &vqcodec::pipeline::Analyser, frames: &[Frame]) -> Result<Analysis> {
    let mut all = Analysis::default();
    for batch in frames.chunks(4) {
        all.extend(block_on(analyser.analyse(batch))?);
    }
    Ok(all)
}

/// `vqcodec adapt`.
pub fn adapt_cmd(a: &AdaptArgs) -> Result<()> {
    if a.frames < MIN_FRAMES {
        bail!(
            "--frames {}: at least {MIN_FRAMES} frames are needed",
            a.frames
        );
    }
    let mut reader = Y4mReader::new(open_input(&a.input)?, &a.input.display().to_string())?;
    let mut all = Vec::new();
    while let Some(f) = reader.next_frame()? {
        all.push(f.rgb);
    }
    if all.len() < MIN_FRAMES {
        bail!(
            "{} holds {} frame(s); adapting needs at least {MIN_FRAMES}",
            a.input.display(),
            all.len()
        );
    }
    // evenly spaced learning frames; the others are held out to measure
    let n = a.frames.min(all.len());
    let picked: Vec<usize> = (0..n).map(|i| i * all.len() / n).collect();
    let (width, height, total) = (all[0].width(), all[0].height(), all.len());
    let (mut learn, mut held) = (Vec::with_capacity(n), Vec::with_capacity(total - n));
    for (i, f) in all.into_iter().enumerate() {
        if picked.binary_search(&i).is_ok() {
            learn.push(f);
        } else {
            held.push(f);
        }
    }
    let engine = a.model.engine()?;
    let started = Instant::now();
    // the levels refit the networks' values only: an enhancement's values need not be computed
    let (w, h) = learn.first().map_or((0, 0), |f| (f.width(), f.height()));
    let analyser = vqcodec::pipeline::Analyser::new(&engine, w, h).with_enhancement(false);
    let latents = analyse_all(&analyser, &learn)?;
    let t_latents = started.elapsed().as_secs_f64();
    let options = AdaptOptions {
        levels: a.levels.clone(),
        iterations: a.iterations,
        budget: a.budget.map(Duration::from_secs_f64),
        rate_weight: a.rate_weight,
        ..AdaptOptions::default()
    };
    let bar = ProgressBar::new((a.levels.len() * a.iterations) as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg}")
            .expect("template should parse"),
    );
    let t = Instant::now();
    let (patch, report) = block_on(vqcodec::adapt::learn(
        &engine,
        latents.latents(),
        &options,
        |p| {
            bar.set_position(p.step as u64);
            bar.set_message(format!("level {} mse {:.5}", p.level, p.mse));
            true
        },
    ))
    .with_context(|| format!("adapting to {}", a.input.display()))?;
    bar.finish_and_clear();
    let t_adapt = t.elapsed().as_secs_f64();
    // measured with what the file holds (quantised), as a decoder will use it
    let psnr = |patch: Option<&CodebookPatch>, frames: &[Frame]| {
        block_on(roundtrip_psnr(&engine, patch, frames))
    };
    let before = (psnr(None, &learn)?, psnr(None, &held)?);
    let after = (psnr(Some(&patch), &learn)?, psnr(Some(&patch), &held)?);
    let bytes = patch.to_bytes();
    std::fs::write(&a.output, &bytes)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    println!(
        "{} learning frames of {} ({}x{}) | levels {:?} | {} steps{} | latents {:.1} s, k-means {:.1} s on {}",
        learn.len(),
        total,
        width,
        height,
        patch.adapted,
        report.steps,
        if report.out_of_time {
            " (stopped by the time budget)"
        } else {
            ""
        },
        t_latents,
        t_adapt,
        engine.backend_kind()
    );
    println!(
        "latent quantisation MSE {:.6} → {:.6} ({:+.1}%)",
        report.mse_before,
        report.mse_after,
        (report.mse_after / report.mse_before - 1.0) * 100.0
    );
    println!(
        "index entropy of the refitted levels {:.2} → {:.2} bits per vector (rate weight {})",
        report.bits_before, report.bits_after, a.rate_weight
    );
    println!(
        "full-depth PSNR-RGB: learning frames {:.2} → {:.2} dB ({:+.2}), other frames {:.2} → {:.2} dB ({:+.2}, {} frames)",
        before.0,
        after.0,
        after.0 - before.0,
        before.1,
        after.1,
        after.1 - before.1,
        held.len()
    );
    println!(
        "wrote {} ({} bytes, codebook id {:016x}, for model {})",
        a.output.display(),
        bytes.len(),
        patch.id(),
        engine.model_id()
    );
    Ok(())
}
