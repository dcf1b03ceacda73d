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

use crate::model_spec::ModelSpec;

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

/// Writes a little-endian f32 array as a version 1.0 `.npy` file.
fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    ensure!(
        shape.iter().product::<usize>() == data.len(),
        "shape does not match data"
    );
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("{},", dims[0])
    } else {
        dims.join(", ")
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({shape}), }}");
    // magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&u16::try_from(header.len())?.to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for v in data {
        out.write_all(&v.to_le_bytes())?;
    }
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
    write_npy(&args.output.join("latents.npy"), &[n, h, w, d], &all)?;
    write_npy(&args.output.join("codebooks.npy"), &[l, k, d], &cb)?;
    eprintln!(
        "{}: {n} frames, latent {h}×{w}×{d}, codebooks {l}×{k}×{d}",
        clip.name
    );
    Ok(())
}
