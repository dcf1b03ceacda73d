//! `vqcodec-lab metric`: how much each direction of the latent matters to the decoded picture.
//!
//! The encoder weighs its choices by squared error in the latent; what a viewer (and PSNR-Y)
//! sees is the error in the decoded picture. For small errors the two are related by the
//! decoder's Jacobian: a latent error `δ` at one position costs about `δᵀ M δ` in the picture,
//! `M = E[JᵀJ]`. This tool measures `M` by finite differences through the decoder network:
//! on real latents of training clips, every basis direction and every pair of them is added
//! (±ε) at positions far enough apart that their pictures do not overlap, and the change in
//! the decoded Y' (and in RGB) is summed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};

use vqcodec::frame::Frame;
use vqcodec::{Backend, BackendRequest, Engine, Weights, block_on};

use crate::model_spec::ModelSpec;

/// Options of `vqcodec-lab metric`.
#[derive(clap::Args, Debug)]
pub struct MetricArgs {
    /// The model (a `.vqw` file, or base / lite).
    #[arg(long)]
    pub weights: ModelSpec,
    /// Manifest of training clips.
    #[arg(long, default_value = "data/manifest-train.txt")]
    pub data: PathBuf,
    /// Clips used (every n-th of the manifest, to spread them).
    #[arg(long, default_value_t = 12)]
    pub clips: usize,
    /// Crop size in pixels (centred; a multiple of the downsample).
    #[arg(long, default_value_t = 192)]
    pub crop: usize,
    /// Probe step, relative to the latent's RMS value.
    #[arg(long, default_value_t = 0.05)]
    pub eps: f32,
    /// Latent positions between probed positions, per axis.
    #[arg(long, default_value_t = 6)]
    pub spacing: usize,
    /// Weight of the chroma planes' errors against Y''s (BT.601 Cb and Cr): the metric is
    /// `M_Y + w·(M_Cb + M_Cr)`.
    #[arg(long, default_value_t = 0.5)]
    pub chroma_weight: f64,
    /// Also write `M` as a `D × D` .npy here, and the RGB error's `…-rgb.npy` beside it.
    #[arg(long)]
    pub npy: Option<PathBuf>,
    /// For a model with an enhancement (config `enhance_dims`): drop the terms between the
    /// networks' values and the enhancement's, so the encoder searches each part on its own
    /// (docs/results/enhance.md).
    #[arg(long)]
    pub split_enhancement: bool,
    /// The weight file to write: the model's, with the metric.
    #[arg(short, long)]
    pub output: PathBuf,
}

fn window(f: &Frame, c: usize) -> Result<Frame> {
    let (w, h) = (f.width(), f.height());
    let (x0, y0) = ((w - c) / 2, (h - c) / 2);
    let mut rgb = Vec::with_capacity(c * c * 3);
    for row in y0..y0 + c {
        rgb.extend_from_slice(&f.rgb()[(row * w + x0) * 3..(row * w + x0 + c) * 3]);
    }
    Ok(Frame::from_rgb(c, c, rgb)?)
}

/// `vqcodec-lab metric`.
pub fn metric(args: &MetricArgs) -> Result<()> {
    anyhow::ensure!(
        args.spacing >= 1,
        "--spacing {} (expected ≥ 1)",
        args.spacing
    );
    anyhow::ensure!(
        args.eps.is_finite() && args.eps > 0.0,
        "--eps {} (expected > 0)",
        args.eps
    );
    let weights = args.weights.weights()?;
    let backend = Backend::select(BackendRequest::Cpu)?;
    let engine = Engine::new(&weights, backend.clone())?;
    let device = backend.device.clone();
    let cfg = engine.config().clone();
    let (down, d) = (cfg.downsample, cfg.code_dim);
    let c = args.crop / down * down;
    let g = c / down;
    let root = args.data.parent().unwrap_or(std::path::Path::new("."));
    let list = std::fs::read_to_string(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    let paths: Vec<PathBuf> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| root.join(l))
        .collect();
    let step = (paths.len() / args.clips.max(1)).max(1);
    let mut frames = Vec::new();
    for p in paths.iter().step_by(step) {
        let clip = crate::eval::load_clip(p, Some(1))?;
        if clip.width >= c && clip.height >= c {
            frames.push(window(&clip.frames[0].rgb, c)?);
        }
        if frames.len() == args.clips {
            break;
        }
    }
    if frames.is_empty() {
        bail!("no clip is at least {c}×{c}");
    }
    let latents = block_on(engine.latents(&frames))?;
    let rms = (latents.iter().flatten().map(|v| v * v).sum::<f32>()
        / latents.iter().map(Vec::len).sum::<usize>() as f32)
        .sqrt();
    let eps = args.eps * rms;
    let probes: Vec<usize> = (0..g)
        .filter(|&y| y % args.spacing == args.spacing / 2)
        .flat_map(|y| {
            (0..g)
                .filter(|&x| x % args.spacing == args.spacing / 2)
                .map(move |x| y * g + x)
        })
        .collect();
    if probes.is_empty() {
        bail!(
            "--crop {c} holds no latent position to probe at --spacing {}",
            args.spacing
        );
    }
    // the patterns: e_i, then e_i + e_j (i < j)
    let mut patterns: Vec<Vec<f32>> = (0..d)
        .map(|i| (0..d).map(|k| f32::from(k == i)).collect())
        .collect();
    for i in 0..d {
        for j in i + 1..d {
            patterns.push((0..d).map(|k| f32::from(k == i || k == j)).collect());
        }
    }
    let decode = |zs: &[Vec<f32>]| -> Result<Vec<f32>> {
        let b = zs.len();
        let data: Vec<f32> = zs.iter().flatten().copied().collect();
        let z = Tensor::<4>::from_data(TensorData::new(data, [b, g, g, d]), &device)
            .permute([0, 3, 1, 2]);
        crate::latents::host_f32(engine.model().decoder.forward(z))
    };
    let (mut sy, mut srgb) = (vec![0f64; patterns.len()], vec![0f64; patterns.len()]);
    let px = c * c;
    for z in &latents {
        for (k, v) in patterns.iter().enumerate() {
            let mut plus = z.clone();
            let mut minus = z.clone();
            for &p in &probes {
                for i in 0..d {
                    plus[p * d + i] += eps * v[i];
                    minus[p * d + i] -= eps * v[i];
                }
            }
            let out = decode(&[plus, minus])?;
            let (a, b) = out.split_at(3 * px);
            for q in 0..px {
                let dr = f64::from(a[q] - b[q]) / 2.0;
                let dg = f64::from(a[px + q] - b[px + q]) / 2.0;
                let db = f64::from(a[2 * px + q] - b[2 * px + q]) / 2.0;
                let dy = 0.299 * dr + 0.587 * dg + 0.114 * db;
                let cb = -0.168_736 * dr - 0.331_264 * dg + 0.5 * db;
                let cr = 0.5 * dr - 0.418_688 * dg - 0.081_312 * db;
                sy[k] += dy * dy + args.chroma_weight * (cb * cb + cr * cr);
                srgb[k] += dr * dr + dg * dg + db * db;
            }
        }
    }
    let norm = f64::from(eps).powi(2) * (probes.len() * latents.len()) as f64;
    let solve = |s: &[f64]| -> Vec<f64> {
        let mut m = vec![0f64; d * d];
        for i in 0..d {
            m[i * d + i] = s[i] / norm;
        }
        let mut k = d;
        for i in 0..d {
            for j in i + 1..d {
                let v = (s[k] / norm - m[i * d + i] - m[j * d + j]) / 2.0;
                m[i * d + j] = v;
                m[j * d + i] = v;
                k += 1;
            }
        }
        m
    };
    let (mut my, mut mrgb) = (solve(&sy), solve(&srgb));
    let d0 = weights.config().net_dim();
    if args.split_enhancement {
        anyhow::ensure!(d0 < d, "--split-enhancement: the model has no enhancement");
        for m in [&mut my, &mut mrgb] {
            for i in 0..d0 {
                for j in d0..d {
                    m[i * d + j] = 0.0;
                    m[j * d + i] = 0.0;
                }
            }
        }
    }
    for (m, name) in [(&my, "Y' + chroma"), (&mrgb, "RGB")] {
        let mat = nalgebra::DMatrix::from_row_slice(d, d, m);
        let mut ev: Vec<f64> = mat.symmetric_eigen().eigenvalues.iter().copied().collect();
        ev.sort_by(|a, b| b.total_cmp(a));
        eprintln!(
            "{name}: eigenvalues {:.3e} … {:.3e} (ratio {:.1}); diagonal {:?}",
            ev[0],
            ev[d - 1],
            ev[0] / ev[d - 1].max(1e-30),
            (0..d)
                .map(|i| format!("{:.2e}", m[i * d + i]))
                .collect::<Vec<_>>()
        );
    }
    let f32s = |m: &[f64]| m.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    if let Some(npy) = &args.npy {
        crate::latents::save_npy(npy, &[d, d], &f32s(&my))?;
        let rgb = npy.with_extension("").to_string_lossy().to_string() + "-rgb.npy";
        crate::latents::save_npy(std::path::Path::new(&rgb), &[d, d], &f32s(&mrgb))?;
    }
    let mut model = weights.load(&device)?;
    // a mean of 1 per dimension (what the encoder uses), so f16 storage keeps its precision
    let trace: f64 = (0..d).map(|i| my[i * d + i]).sum();
    let mut values: Vec<f32> = my.iter().map(|&v| (v * d as f64 / trace) as f32).collect();
    // an enhanced model that carries its networks' block already (`enhance` keeps the model's
    // metric): that block as it was, the enhancement's at the scale measured against it, so
    // the model's own levels are searched exactly as before the enhancement
    let kept = match &model.metric {
        Some(old) if args.split_enhancement => {
            let old = crate::latents::host_f32(old.val())?;
            let old_trace: f64 = (0..d0).map(|i| f64::from(old[i * d + i])).sum();
            let new_trace: f64 = (0..d0).map(|i| my[i * d + i]).sum();
            (old_trace > 0.0).then(|| {
                let scale = old_trace / new_trace;
                for i in 0..d {
                    for j in 0..d {
                        values[i * d + j] = if i < d0 && j < d0 {
                            old[i * d + j]
                        } else {
                            (my[i * d + j] * scale) as f32
                        };
                    }
                }
                scale
            })
        }
        _ => None,
    };
    if let Some(scale) = kept {
        eprintln!(
            "the networks' block kept from the model; the enhancement's scaled by {scale:.4e}"
        );
    }
    let mut config = weights.config().clone();
    config.latent_metric = true;
    model.metric = Some(
        Param::from_tensor(Tensor::from_data(TensorData::new(values, [d, d]), &device))
            .set_require_grad(false),
    );
    let out = Weights::from_model_with(&config, &model, weights.precision())?;
    out.codebooks().context("the written metric")?;
    std::fs::write(&args.output, out.as_bytes())?;
    eprintln!(
        "{}: metric from {} frames {c}×{c}, {} probes each, ε {eps:.4} (latent RMS {rms:.4}); \
         {} bytes",
        args.output.display(),
        latents.len(),
        probes.len(),
        out.as_bytes().len()
    );
    Ok(())
}
