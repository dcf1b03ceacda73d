//! `vqcodec-lab motion-ops`: fits a model's fine-motion maps and writes a weight file that
//! carries them (issue 16: motion finer than a latent position, docs/bitstream.md "Fine motion").
//!
//! For each axis and shift `d` of `−r..=−1, 1..=r` pixels, a least-squares linear map from the
//! two latents a shifted position straddles (and a 1) to the latent of the shifted picture:
//! random crops of the training clips, each encoded as it is and moved by `d` pixels (the crop
//! window moves over real picture, nothing is invented at the edges), the normal equations summed
//! over the crops' interior positions and solved with a small ridge (Cholesky, f64). The maps
//! are linear in the latent, so they carry over to the decoded latents a decoder predicts from.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use nalgebra::{DMatrix, DVector};

use vqcodec::frame::Frame;
use vqcodec::{Backend, BackendRequest, Engine, Weights, block_on};

use crate::model_spec::ModelSpec;
use crate::train::data::Rng;

/// Options of `vqcodec-lab motion-ops`.
#[derive(clap::Args, Debug)]
pub struct MotionOpsArgs {
    /// The model to fit the maps for (a `.vqw` file, or base / lite).
    #[arg(long)]
    pub weights: ModelSpec,
    /// Manifest of training clips (y4m paths, one per line, relative to its folder; `#` starts
    /// a comment line).
    #[arg(long, default_value = "data/manifest-train.txt")]
    pub data: PathBuf,
    /// The largest shift per axis, in pixels (1..=7).
    #[arg(long, default_value_t = 2)]
    pub range: u8,
    /// Crops taken from each clip (spread over its first 48 frames).
    #[arg(long, default_value_t = 4)]
    pub crops_per_clip: usize,
    /// Crop size in pixels (a multiple of the model's downsample).
    #[arg(long, default_value_t = 192)]
    pub crop: usize,
    /// Seed for the crop positions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// For a model with an enhancement (config `enhance_dims`) that has its networks' maps
    /// (`enhance` keeps them): fit only the enhancement's block — its values predicted from the
    /// straddled latents' enhancement values alone, with no bias —, the networks' block kept,
    /// so that a stream that codes none of the enhancement's values predicts as before.
    #[arg(long)]
    pub enhancement_only: bool,
    /// The weight file to write: the model's, with the maps.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// A `size × size` window of `f` at `(x, y)`.
fn window(f: &Frame, (x, y): (usize, usize), size: usize) -> Result<Frame> {
    let w = f.width();
    let mut rgb = Vec::with_capacity(size * size * 3);
    for row in y..y + size {
        rgb.extend_from_slice(&f.rgb()[(row * w + x) * 3..(row * w + x + size) * 3]);
    }
    Ok(Frame::from_rgb(size, size, rgb)?)
}

/// Normal equations of one map: `XᵀX` and `XᵀY` for inputs of `2·dim + 1`.
struct Normal {
    xtx: DMatrix<f64>,
    xty: DMatrix<f64>,
    /// Sum of the targets' squared norms.
    yy: f64,
    /// Sum of the squared errors of not moving (the latent at the position itself).
    still: f64,
    rows: usize,
}

/// `vqcodec-lab motion-ops`.
pub fn motion_ops(args: &MotionOpsArgs) -> Result<()> {
    ensure!(
        (1..=vqc::MAX_FINE_RANGE).contains(&args.range),
        "--range {} (expected 1..={})",
        args.range,
        vqc::MAX_FINE_RANGE
    );
    let weights = args.weights.weights()?;
    let backend = Backend::select(BackendRequest::Cpu)?;
    let engine = Engine::new(&weights, backend.clone())?;
    let down = engine.config().downsample;
    let (c, dim, r) = (args.crop, engine.config().code_dim, i64::from(args.range));
    ensure!(
        c % down == 0 && c >= 4 * down,
        "--crop {c}: a multiple of {down}, ≥ {}",
        4 * down
    );
    let margin = usize::from(args.range);
    let d0 = engine.config().net_dim();
    // the maps to keep the networks' block of
    let kept: Option<Vec<f32>> = if args.enhancement_only {
        let c = weights.config();
        ensure!(
            c.enhance_dims > 0 && c.motion_range == usize::from(args.range),
            "--enhancement-only: the model has no enhancement, or no maps of range {}",
            args.range
        );
        let maps = weights
            .load(&backend.device)?
            .motion
            .context("the model's maps")?;
        Some(crate::latents::host_f32(maps.val())?)
    } else {
        None
    };
    let root = args.data.parent().unwrap_or(std::path::Path::new("."));
    let list = std::fs::read_to_string(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    let shifts: Vec<(usize, i64)> = [0usize, 1]
        .into_iter()
        .flat_map(|axis| (-r..=r).filter(|&d| d != 0).map(move |d| (axis, d)))
        .collect();
    let inputs = 2 * dim + 1;
    let mut normal: Vec<Normal> = shifts
        .iter()
        .map(|_| Normal {
            xtx: DMatrix::zeros(inputs, inputs),
            xty: DMatrix::zeros(inputs, dim),
            yy: 0.0,
            still: 0.0,
            rows: 0,
        })
        .collect();
    let mut rng = Rng::from_state(args.seed);
    let (mut clips, mut crops) = (0usize, 0usize);
    for line in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let clip = crate::eval::load_clip(&root.join(line), Some(48))?;
        if clip.width < c + 2 * margin || clip.height < c + 2 * margin {
            continue;
        }
        clips += 1;
        for _ in 0..args.crops_per_clip {
            let f = &clip.frames[rng.below(clip.frames.len())].rgb;
            let x0 = margin + rng.below(clip.width - c - 2 * margin + 1);
            let y0 = margin + rng.below(clip.height - c - 2 * margin + 1);
            // the crop as it is, then moved by each shift (content moves by +d: the window by −d)
            let mut batch = vec![window(f, (x0, y0), c)?];
            for &(axis, d) in &shifts {
                let (dx, dy) = if axis == 0 { (d, 0) } else { (0, d) };
                let at = ((x0 as i64 - dx) as usize, (y0 as i64 - dy) as usize);
                batch.push(window(f, at, c)?);
            }
            let lat = block_on(engine.latents(&batch))?;
            let g = c / down;
            let z =
                |k: usize, x: usize, y: usize| &lat[k][(y * g + x) * dim..(y * g + x + 1) * dim];
            for (s, &(axis, d)) in shifts.iter().enumerate() {
                let n = &mut normal[s];
                for y in 1..g - 1 {
                    for x in 1..g - 1 {
                        let step = |o: i64| {
                            if axis == 0 {
                                ((x as i64 + o) as usize, y)
                            } else {
                                (x, (y as i64 + o) as usize)
                            }
                        };
                        let (a, b) = if d > 0 {
                            (step(-1), step(0))
                        } else {
                            (step(0), step(1))
                        };
                        let mut row = Vec::with_capacity(inputs);
                        row.extend(z(0, a.0, a.1).iter().map(|&v| f64::from(v)));
                        row.extend(z(0, b.0, b.1).iter().map(|&v| f64::from(v)));
                        row.push(1.0);
                        let target = z(1 + s, x, y);
                        let xr = DVector::from_vec(row);
                        n.xtx.syger(1.0, &xr, &xr, 1.0);
                        let yr = DVector::from_iterator(dim, target.iter().map(|&v| f64::from(v)));
                        n.xty.ger(1.0, &xr, &yr, 1.0);
                        n.yy += yr.norm_squared();
                        n.still += z(0, x, y)
                            .iter()
                            .zip(target)
                            .map(|(a, b)| f64::from(a - b).powi(2))
                            .sum::<f64>();
                        n.rows += 1;
                    }
                }
            }
            crops += 1;
        }
    }
    if crops == 0 {
        bail!("no clip in {} is larger than the crop", args.data.display());
    }
    let mut data = Vec::with_capacity(shifts.len() * inputs * dim);
    for (s, (n, &(axis, d))) in normal.iter_mut().zip(&shifts).enumerate() {
        // syger filled the lower triangle
        n.xtx.fill_upper_triangle_with_lower_triangle();
        let ridge = 1e-6 * n.rows as f64;
        for i in 0..inputs {
            n.xtx[(i, i)] += ridge;
        }
        if let Some(old) = &kept {
            // the enhancement's inputs (a's, then b's) and outputs only
            let e = dim - d0;
            let idx: Vec<usize> = (d0..dim).chain(dim + d0..2 * dim).collect();
            let xtx = DMatrix::from_fn(2 * e, 2 * e, |i, j| n.xtx[(idx[i], idx[j])]);
            let xty = DMatrix::from_fn(2 * e, e, |i, j| n.xty[(idx[i], d0 + j)]);
            let w = xtx
                .cholesky()
                .context("the normal equations are singular")?
                .solve(&xty);
            let explained: f64 = w.iter().zip(xty.iter()).map(|(a, b)| a * b).sum();
            eprintln!(
                "{} {d:+}: {} positions, the enhancement's block explains {:.5} per position",
                if axis == 0 { "horizontal" } else { "vertical" },
                n.rows,
                explained / n.rows as f64
            );
            let map = &old[s * inputs * dim..(s + 1) * inputs * dim];
            for i in 0..inputs {
                for j in 0..dim {
                    let fitted = idx.iter().position(|&x| x == i).filter(|_| j >= d0);
                    data.push(match fitted {
                        Some(r) => w[(r, j - d0)] as f32,
                        None if i < 2 * dim && (i % dim >= d0 || j >= d0) => 0.0,
                        None if i == 2 * dim && j >= d0 => 0.0,
                        None => map[i * dim + j],
                    });
                }
            }
            continue;
        }
        let chol = n
            .xtx
            .clone()
            .cholesky()
            .context("the normal equations are singular")?;
        let w = chol.solve(&n.xty);
        // the fit's squared error per position: |y − Xw|² = |y|² − tr(wᵀXᵀy) at the solution
        let explained: f64 = w.iter().zip(n.xty.iter()).map(|(a, b)| a * b).sum();
        eprintln!(
            "{} {d:+}: {} positions, squared error {:.5} per position (not moving: {:.5})",
            if axis == 0 { "horizontal" } else { "vertical" },
            n.rows,
            (n.yy - explained) / n.rows as f64,
            n.still / n.rows as f64
        );
        for i in 0..inputs {
            for j in 0..dim {
                data.push(w[(i, j)] as f32);
            }
        }
    }
    let mut config = weights.config().clone();
    config.motion_range = usize::from(args.range);
    let device = &backend.device;
    let mut model = weights.load(device)?;
    let shape = [shifts.len(), inputs, dim];
    model.motion = Some(
        Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), device))
            .set_require_grad(false),
    );
    let out = Weights::from_model_with(&config, &model, weights.precision())?;
    out.codebooks().context("the written maps")?;
    std::fs::write(&args.output, out.as_bytes())?;
    eprintln!(
        "{}: fine motion ±{} px, {} maps fitted on {crops} crops of {clips} clips; {} bytes",
        args.output.display(),
        args.range,
        shifts.len(),
        out.as_bytes().len()
    );
    Ok(())
}
