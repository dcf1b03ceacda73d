//! `vqcodec adapt`: refits codebook levels to one clip and writes them as a `.codebook` file,
//! reporting the latent quantisation error and the full-depth PSNR before and after — on the
//! frames it learned from and on the clip's other frames.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::ModelArgs;
use super::y4m_io::{Y4mReader, open_input};
use crate::adapt::{AdaptOptions, MIN_FRAMES, adapt};
use crate::codec::CodebookPatch;
use crate::frame::{Frame, psnr_rgb};
use crate::{Engine, block_on};

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
    /// RVQ levels to refit (0-based), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub levels: Vec<usize>,
    /// Lloyd iterations per level.
    #[arg(long, default_value_t = 8)]
    pub iterations: usize,
    /// Stop after this many seconds, keeping what is done.
    #[arg(long)]
    pub budget: Option<f64>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Mean full-depth PSNR-RGB of `frames` through `engine` (its on-device RVQ, all levels).
fn psnr(engine: &Engine, frames: &[Frame]) -> Result<f64> {
    let mut sum = 0.0;
    for batch in frames.chunks(4) {
        let rt = block_on(engine.roundtrip(batch, None))?;
        sum += batch
            .iter()
            .zip(&rt.frames)
            .map(|(a, b)| psnr_rgb(a, b).min(100.0))
            .sum::<f64>();
    }
    Ok(sum / frames.len().max(1) as f64)
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
    let mut engine = a.model.engine()?;
    let started = Instant::now();
    let latents = super::latents_of(&engine, &learn)?;
    let t_latents = started.elapsed().as_secs_f64();
    let books = block_on(engine.codebooks())?;
    let options = AdaptOptions {
        levels: a.levels.clone(),
        iterations: a.iterations,
        budget: a.budget.map(Duration::from_secs_f64),
        ..AdaptOptions::default()
    };
    let bar = ProgressBar::new((a.levels.len() * a.iterations) as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg}")
            .expect("template should parse"),
    );
    let t = Instant::now();
    let (adapted, report) = adapt(&books, &latents, &options, |p| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("level {} mse {:.5}", p.level, p.mse));
        true
    })
    .with_context(|| format!("adapting to {}", a.input.display()))?;
    bar.finish_and_clear();
    let t_adapt = t.elapsed().as_secs_f64();
    let patch = CodebookPatch::new(engine.model_id().0, &adapted, &books, &a.levels);
    // measure with what the file holds (quantised), as a decoder will use it
    let applied = patch.apply(engine.model_id().0, &books)?;
    let before = (psnr(&engine, &learn)?, psnr(&engine, &held)?);
    engine.set_codebooks(&applied)?;
    let after = (psnr(&engine, &learn)?, psnr(&engine, &held)?);
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
