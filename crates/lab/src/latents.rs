//! `vqcodec-lab latents`: dumps a clip's continuous latents and the model's RVQ codebooks as
//! `.npy` files. A lab measurement for issue 16 (temporal prediction in the token domain):
//! `scripts/temporal-sim.py` simulates delta-frame coding schemes on these dumps.
//!
//! Writes `DIR/latents.npy` (f32 `[frames, h, w, D]`: [`Engine::latents`], position-major,
//! what the stream encoder quantizes) and `DIR/codebooks.npy` (f32 `[L, K, D]`, the model's
//! own codebooks, not a stream's adapted ones).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};

use vqcodec::frame::Frame;
use vqcodec::{Backend, BackendRequest, Engine, block_on};
use vqcodec_cli::codec_cmd::write_npy;

use crate::model_spec::ModelSpec;

/// A tensor's values on the host, as `f32` (the lab's tools read weights and results back so).
///
/// # Errors
/// If the values cannot be read as `f32`.
pub fn host_f32<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Options of `vqcodec-lab latents`.
#[derive(clap::Args, Debug)]
pub struct LatentsArgs {
    /// y4m clip.
    pub clip: PathBuf,
    /// Model: `base`, `lite` or a path to a `.vqw` weight file.
    #[arg(long)]
    pub weights: ModelSpec,
    /// Frames (default: all).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Output folder.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Writes `data` to `path` as `.npy` (the CLI's writer, as `vqcodec tokens` uses it).
pub(crate) fn save_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_npy(&mut out, shape, data)?;
    out.flush()?;
    Ok(())
}

/// `vqcodec-lab latents`.
pub fn latents(args: &LatentsArgs) -> Result<()> {
    let backend = Backend::select(BackendRequest::Cpu)?;
    let engine = Engine::new(&args.weights.weights()?, backend)?;
    let clip = crate::eval::load_clip(&args.clip, args.frames)?;
    let down = engine.config().downsample;
    let (h, w) = (clip.height.div_ceil(down), clip.width.div_ceil(down));
    let cb = engine.model().quantizer.constant_codebooks();
    let [l, k, d] = cb.dims();
    let mut all = Vec::new();
    for chunk in clip.frames.chunks(4) {
        let rgb: Vec<Frame> = chunk.iter().map(|f| f.rgb.clone()).collect();
        for z in block_on(engine.latents(&rgb))? {
            all.extend_from_slice(&z);
        }
    }
    let n = clip.frames.len();
    ensure!(
        all.len() == n * h * w * d,
        "latents are not {n} × {h} × {w} × {d}"
    );
    let cb = block_on(cb.into_data_async())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    std::fs::create_dir_all(&args.output)?;
    save_npy(&args.output.join("latents.npy"), &[n, h, w, d], &all)?;
    save_npy(&args.output.join("codebooks.npy"), &[l, k, d], &cb)?;
    eprintln!(
        "{}: {n} frames, latent {h}×{w}×{d}, codebooks {l}×{k}×{d}",
        clip.name
    );
    Ok(())
}
