//! `vqcodec-lab enhance`: gives a trained model an enhancement (config `enhance_dims`): more
//! latent values per position for what its networks cannot carry, and more RVQ levels (issue
//! 15, "the ceiling is gone"), without touching what the model does with its own levels.
//!
//! The networks of a small model stop far below what a detailed clip needs (lite: 28.6 dB on
//! carphone with no quantizer at all): 16 latent values per 8×8 block cannot carry more. The
//! enhancement adds `E` values per block: the projection, on `E` fixed directions, of what the
//! networks' picture of their own (unquantized) latent leaves of the frame; the decoder adds
//! them back linearly. The added levels' codes span both parts (the old levels' codes are zero
//! in the enhancement's), so deeper streams refine the networks' values too. No gradient
//! descent: the directions are the top eigenvectors of the residual blocks' second moments on
//! the training clips (the decoder adds no mean, so a stream that stops at the old levels
//! decodes exactly as the old model did); the added levels are k-means, level by level, of what
//! the old levels leave (the networks' part weighted by how far a latent step moves the
//! picture, measured here, so that distances are picture errors in both parts). The networks,
//! the old levels, the block-edge filter and the fine-motion maps are the model's own (the maps
//! predict none of the enhancement's values). Measure the encoder metric's enhancement block
//! afterwards (`metric --split-enhancement`; the networks' block stays the model's).
//!
//! A model that has an enhancement already (the shipped ones do) is refitted from its networks:
//! its enhancement is dropped first ([`without_enhancement`], which gives back every tensor of
//! the model it was made from, bit for bit); `--dims 0` writes just that.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Tensor, TensorData};

use vqcodec::frame::Frame;
use vqcodec::model::{ResidualQuantizer, pixel_unshuffle};
use vqcodec::{Backend, BackendRequest, Weights};

use crate::latents::host_f32;
use crate::model_spec::ModelSpec;
use crate::train::data::Rng;

/// Options of `vqcodec-lab enhance`.
#[derive(clap::Args, Debug)]
pub struct EnhanceArgs {
    /// The trained model to enhance (a `.vqw` file, or base / lite).
    #[arg(long)]
    pub weights: ModelSpec,
    /// Manifest of training clips (y4m paths, one per line, relative to its folder; `#` starts
    /// a comment line).
    #[arg(long, default_value = "data/manifest-train.txt")]
    pub data: PathBuf,
    /// Enhancement values per latent position (at most 3·s²); 0: the model without one.
    #[arg(long, default_value_t = 48)]
    pub dims: usize,
    /// RVQ levels added for them (the model's own levels come first; 15 in all at most, as
    /// many as a stream can carry); 0: none, the enhancement is coded as scalar coefficients
    /// (format version 9).
    #[arg(long, default_value_t = 12)]
    pub levels: usize,
    /// Frames taken from each clip, spread over its first 48.
    #[arg(long, default_value_t = 6)]
    pub frames_per_clip: usize,
    /// Residual blocks kept (a uniform sample of all) for the k-means.
    #[arg(long, default_value_t = 200_000)]
    pub samples: usize,
    /// Lloyd iterations per added level.
    #[arg(long, default_value_t = 12)]
    pub iters: usize,
    /// Seed for the sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The weight file to write (the model's precision).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `vqcodec-lab enhance`.
pub fn enhance(args: &EnhanceArgs) -> Result<()> {
    let weights = args.weights.weights()?;
    let backend = Backend::select(BackendRequest::Cpu)?;
    let device = &backend.device;
    let (config, model) = without_enhancement(&weights, device)?;
    ensure!(!config.linear_path, "the model has a linear path");
    let s = config.downsample;
    let block = 3 * s * s;
    let (d0, l0, k) = (config.code_dim, config.levels, config.codebook_size);
    ensure!(
        args.dims <= block,
        "--dims {} (expected 0..={block})",
        args.dims
    );
    if args.dims == 0 {
        let bytes = write(&config, &model, &weights, device, &args.output)?;
        eprintln!(
            "{}: the model without its enhancement, {d0} latent values, {l0} levels; {bytes} bytes",
            args.output.display()
        );
        return Ok(());
    }
    ensure!(
        l0 + args.levels <= usize::from(vqc::MAX_LEVELS),
        "--levels {} (the model has {l0}; {} in all at most)",
        args.levels,
        vqc::MAX_LEVELS
    );
    let root = args.data.parent().unwrap_or(std::path::Path::new("."));
    let list = std::fs::read_to_string(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    // second moments of every residual block, and a uniform (reservoir) sample of them with
    // what the model's own levels leave of the networks' values at the same position
    let mut moments = nalgebra::DMatrix::<f64>::zeros(block, block);
    let mut sample: Vec<f32> = Vec::with_capacity(args.samples * block);
    let mut sample_z: Vec<f32> = Vec::with_capacity(args.samples * d0);
    let (mut seen, mut frames, mut energy) = (0u64, 0usize, 0f64);
    // the networks' sensitivity: picture error per latent error, both squared (RGB, [0, 1])
    let (mut sens_px, mut sens_z) = (0f64, 0f64);
    let mut rng = Rng::from_state(args.seed);
    for line in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let clip = crate::eval::load_clip(&root.join(line), Some(48))?;
        let n = clip.frames.len();
        let take = args.frames_per_clip.min(n).max(1);
        for i in 0..take {
            let f = &clip.frames[i * n / take].rgb;
            let (r, z) = model.residual(Frame::to_tensor(std::slice::from_ref(f), device));
            let [_, _, h, w] = z.dims();
            if frames % 8 == 0 {
                // a small step of random sign in every value, decoded: how far the picture moves
                let signs: Vec<f32> = (0..d0 * h * w)
                    .map(|_| if rng.below(2) == 0 { -0.01 } else { 0.01 })
                    .collect();
                let step = Tensor::<4>::from_data(TensorData::new(signs, [1, d0, h, w]), device);
                let moved = model.decoder.picture(z.clone() + step.clone())
                    - model.decoder.picture(z.clone());
                sens_px += f64::from(moved.powi_scalar(2).sum().into_scalar::<f32>());
                sens_z += f64::from(step.powi_scalar(2).sum().into_scalar::<f32>());
            }
            let flat_z = z.permute([0, 2, 3, 1]).reshape([h * w, d0]);
            let idx = match &model.metric {
                Some(m) => model.quantizer.encode_metric(flat_z.clone(), l0, m.val()),
                None => model.quantizer.encode(flat_z.clone(), l0),
            };
            let dz = host_f32(flat_z - model.quantizer.decode(idx))?;
            let u = pixel_unshuffle(r, s);
            let rows = host_f32(u.permute([0, 2, 3, 1]).reshape([h * w, block]))?;
            let m = nalgebra::DMatrix::from_row_iterator(
                h * w,
                block,
                rows.iter().map(|&v| f64::from(v)),
            );
            moments += m.tr_mul(&m);
            energy += m.norm_squared();
            for (row, zr) in rows.chunks_exact(block).zip(dz.chunks_exact(d0)) {
                seen += 1;
                if sample.len() < args.samples * block {
                    sample.extend_from_slice(row);
                    sample_z.extend_from_slice(zr);
                } else {
                    let j = rng.below(seen as usize);
                    if j < args.samples {
                        sample[j * block..(j + 1) * block].copy_from_slice(row);
                        sample_z[j * d0..(j + 1) * d0].copy_from_slice(zr);
                    }
                }
            }
            frames += 1;
        }
    }
    if seen == 0 || sens_z == 0.0 {
        bail!("no frames in {}", args.data.display());
    }
    let eig = nalgebra::SymmetricEigen::new(moments);
    let mut order: Vec<usize> = (0..block).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let kept: f64 = order[..args.dims]
        .iter()
        .map(|&i| eig.eigenvalues[i].max(0.0))
        .sum();
    let e = args.dims;
    // U: block × E, the directions as columns
    let mut u = vec![0f32; block * e];
    for (col, &i) in order[..e].iter().enumerate() {
        for r in 0..block {
            u[r * e + col] = eig.eigenvectors[(r, i)] as f32;
        }
    }
    let u = Tensor::<2>::from_data(TensorData::new(u, [block, e]), device);
    let rows = sample.len() / block;
    let values =
        Tensor::<2>::from_data(TensorData::new(sample, [rows, block]), device).matmul(u.clone());
    // the networks' values scaled by their sensitivity, so that squared distances in the
    // joint space are picture errors in both parts (an enhancement value's is its own)
    let alpha = (sens_px / sens_z).sqrt() as f32;
    let dz = Tensor::<2>::from_data(TensorData::new(sample_z, [rows, d0]), device);
    let joint = Tensor::cat(vec![dz.mul_scalar(alpha), values.clone()], 1);
    eprintln!(
        "{frames} frames, {seen} residual blocks (rms {:.4}); {e} directions keep {:.2}% of their energy; \
         the networks' values weigh {alpha:.3} (picture RMS per latent RMS); k-means of {rows} positions",
        (energy / (seen as f64 * block as f64)).sqrt(),
        100.0 * kept / energy.max(1e-30)
    );
    // the added levels: k-means of both parts' residuals, level by level (none: the
    // enhancement is coded as scalar coefficients, format version 9)
    let start = Tensor::<3>::zeros([args.levels.max(1), k, d0 + e], device);
    let fitted = ResidualQuantizer {
        codebooks: Param::from_tensor(start),
    };
    let fitted = if args.levels > 0 {
        fitted.kmeans_init(joint.clone(), args.iters)
    } else {
        fitted
    };
    if args.levels > 0 {
        let idx = fitted.encode(joint.clone(), args.levels);
        let left = (joint.clone() - fitted.decode(idx)).powi_scalar(2).mean();
        let all = joint.powi_scalar(2).mean();
        eprintln!(
            "the {} added levels leave {:.2}% of the sample's residual energy",
            args.levels,
            100.0 * f64::from(left.into_scalar::<f32>())
                / f64::from(all.into_scalar::<f32>()).max(1e-30)
        );
    }
    // back to latent units: the networks' part of each code divided by its weight
    let unscale = Tensor::<1>::from_floats(
        (0..d0 + e)
            .map(|i| if i < d0 { 1.0 / alpha } else { 1.0 })
            .collect::<Vec<f32>>()
            .as_slice(),
        device,
    )
    .reshape([1, 1, d0 + e]);
    let new = (args.levels > 0).then(|| fitted.constant_codebooks() * unscale);
    // codebooks of the whole latent: the old levels padded with zeros, the new ones after zeros
    let old = model.quantizer.constant_codebooks();
    let old = Tensor::cat(vec![old, Tensor::zeros([l0, k, e], device)], 2);
    let mut enhanced = config.clone();
    enhanced.code_dim = d0 + e;
    enhanced.levels = l0 + args.levels;
    enhanced.enhance_dims = e;
    enhanced.validate().map_err(anyhow::Error::msg)?;
    let mut out = enhanced.init(device);
    // the model's fine-motion maps and metric, padded with zeros: a fine motion predicts the
    // networks' values as the model did and none of the enhancement's, and the metric's
    // networks' block stays the model's (`metric --split-enhancement` measures the rest), so
    // a stream that keeps to the model's levels is coded as the model codes it
    if let (Some(maps), Some(slot)) = (&model.motion, &mut out.motion) {
        let maps = maps.val();
        let [m, _, _] = maps.dims();
        let d1 = d0 + e;
        let padded = Tensor::<3>::zeros([m, 2 * d1 + 1, d1], device)
            .slice_assign(
                [0..m, 0..d0, 0..d0],
                maps.clone().slice([0..m, 0..d0, 0..d0]),
            )
            .slice_assign(
                [0..m, d1..d1 + d0, 0..d0],
                maps.clone().slice([0..m, d0..2 * d0, 0..d0]),
            )
            .slice_assign(
                [0..m, 2 * d1..2 * d1 + 1, 0..d0],
                maps.slice([0..m, 2 * d0..2 * d0 + 1, 0..d0]),
            );
        *slot = Param::from_tensor(padded).set_require_grad(false);
    }
    if let (Some(metric), Some(slot)) = (&model.metric, &mut out.metric) {
        // until `metric` measures it, the enhancement's block is a multiple of the identity:
        // a unit step in an enhancement value moves the picture by a unit (the directions are
        // orthonormal), one in a network value by `alpha` on average
        let d1 = d0 + e;
        let m = metric.val();
        let mean = m
            .clone()
            .mul(Tensor::<2>::eye(d0, device))
            .sum()
            .into_scalar::<f32>()
            / d0 as f32;
        let padded = Tensor::<2>::eye(d1, device)
            .mul_scalar(mean / (alpha * alpha))
            .slice_assign([0..d0, 0..d1], Tensor::zeros([d0, d1], device))
            .slice_assign([0..d0, 0..d0], m);
        *slot = Param::from_tensor(padded).set_require_grad(false);
    }
    let mut encoder = model.encoder;
    let mut proj = Conv2dConfig::new([block, e], [1, 1])
        .with_bias(false)
        .init(device);
    proj.weight = Param::from_tensor(u.clone().transpose().reshape([e, block, 1, 1]));
    encoder.enhance = Some(proj);
    let mut decoder = model.decoder;
    let mut back = Conv2dConfig::new([e, block], [1, 1])
        .with_bias(false)
        .init(device);
    back.weight = Param::from_tensor(u.reshape([block, e, 1, 1]));
    decoder.enhance = Some(back);
    out.encoder = encoder;
    out.decoder = decoder;
    out.quantizer = ResidualQuantizer {
        codebooks: Param::from_tensor(match new {
            Some(new) => Tensor::cat(vec![old, new], 0),
            None => old,
        }),
    };
    let bytes = write(&enhanced, &out, &weights, device, &args.output)?;
    eprintln!(
        "{}: {} + {e} latent values, {l0} + {} levels of {k} codes; {bytes} bytes (measure its metric next: metric --split-enhancement)",
        args.output.display(),
        d0,
        args.levels,
    );
    Ok(())
}

/// Writes `model` (of `config`) to `path` at the precision of `from` (the file it came from),
/// once the bytes load back into the model they describe; returns their length.
fn write(
    config: &vqcodec::VqVaeConfig,
    model: &vqcodec::VqVae,
    from: &Weights,
    device: &burn::tensor::Device,
    path: &std::path::Path,
) -> Result<usize> {
    let written = Weights::from_model_with(config, model, from.precision())?;
    written.load(device).context("the written weights")?;
    std::fs::write(path, written.as_bytes())?;
    Ok(written.as_bytes().len())
}

/// The model of `weights` without its enhancement, and its config: its networks' values
/// (`code_dim − enhance_dims`), its own levels (the base levels: an enhancement's levels
/// dropped), its codebooks', fine-motion maps' and metric's blocks of those values — exactly
/// what [`enhance`] padded with zeros, so every tensor of the model an enhancement was made
/// from comes back bit for bit. A model without one comes back as it is.
pub fn without_enhancement(
    weights: &Weights,
    device: &burn::tensor::Device,
) -> Result<(vqcodec::VqVaeConfig, vqcodec::VqVae)> {
    let config = weights.config().clone();
    let model = weights.load(device)?;
    let e = config.enhance_dims;
    if e == 0 {
        return Ok((config, model));
    }
    let (d1, k) = (config.code_dim, config.codebook_size);
    let d0 = d1 - e;
    let levels = weights
        .codebooks()
        .map_err(anyhow::Error::msg)?
        .base_levels();
    let mut plain = config.clone();
    plain.code_dim = d0;
    plain.levels = levels;
    plain.enhance_dims = 0;
    plain.validate().map_err(anyhow::Error::msg)?;
    let mut out = plain.init(device);
    if let (Some(maps), Some(slot)) = (&model.motion, &mut out.motion) {
        let maps = maps.val();
        let [m, _, _] = maps.dims();
        let cut = Tensor::cat(
            vec![
                maps.clone().slice([0..m, 0..d0, 0..d0]),
                maps.clone().slice([0..m, d1..d1 + d0, 0..d0]),
                maps.slice([0..m, 2 * d1..2 * d1 + 1, 0..d0]),
            ],
            1,
        );
        *slot = Param::from_tensor(cut).set_require_grad(false);
    }
    if let (Some(metric), Some(slot)) = (&model.metric, &mut out.metric) {
        *slot = Param::from_tensor(metric.val().slice([0..d0, 0..d0])).set_require_grad(false);
    }
    let (mut encoder, mut decoder) = (model.encoder, model.decoder);
    encoder.enhance = None;
    decoder.enhance = None;
    out.encoder = encoder;
    out.decoder = decoder;
    out.quantizer = ResidualQuantizer {
        codebooks: Param::from_tensor(model.quantizer.constant_codebooks().slice([
            0..levels,
            0..k,
            0..d0,
        ])),
    };
    Ok((plain, out))
}
