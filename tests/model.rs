//! The VQ-VAE on the CPU backend: shapes, padding, nearest-code search, RVQ, determinism,
//! and the shipped weights.

use burn::tensor::{Distribution, Int, Tensor, TensorData};
use vqcodec::model::{
    ModelId, ModelKind, ResidualQuantizer, VqVae, VqVaeConfig, Weights, WeightsError,
};
use vqcodec::{Backend, Frame};

mod common;
use common::y4m_frames;

fn cpu() -> burn::tensor::Device {
    Backend::cpu("test").device
}

fn small_config() -> VqVaeConfig {
    VqVaeConfig::new()
        .with_mid_channels(8)
        .with_latent_channels(16)
        .with_res_blocks(1)
        .with_code_dim(4)
        .with_levels(3)
        .with_codebook_size(16)
}

fn model(cfg: &VqVaeConfig) -> VqVae {
    let device = cpu();
    device.seed(7);
    cfg.init(&device)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn ints(t: Tensor<4, Int>) -> Vec<i64> {
    t.into_data().iter::<i64>().collect()
}

/// A real frame from the checked-in clip, as a tensor.
fn carphone(device: &burn::tensor::Device) -> (Frame, Tensor<4>) {
    let bytes = std::fs::read("tests/data/carphone_6f.y4m").unwrap();
    let mut dec = y4m_frames(&bytes);
    let f = dec.remove(0);
    let t = Frame::to_tensor(std::slice::from_ref(&f), device);
    (f, t)
}

/// The shipped lite and its latents of carphone's first frame, one row per position `[N, D]`.
fn lite_carphone_latents(device: &burn::tensor::Device) -> (VqVae, Tensor<2>) {
    let m = Weights::embedded(ModelKind::Lite).load(device).unwrap();
    let (_, x) = carphone(device);
    let z = m.latent(x);
    let [b, d, h, w] = z.dims();
    (m, z.permute([0, 2, 3, 1]).reshape([b * h * w, d]))
}

#[test]
fn odd_frame_sizes_give_ceil_latents_and_exact_output_sizes() {
    for cfg in [
        small_config(),
        small_config().with_mid_channels(0),
        small_config().with_downsample(16),
        small_config().with_downsample(4),
        small_config().with_linear_path(true),
        small_config().with_mid_channels(0).with_linear_path(true),
        small_config().with_downsample(16).with_linear_path(true),
        small_config().with_downsample(4).with_linear_path(true),
    ] {
        let m = model(&cfg);
        let s = cfg.downsample;
        for (h, w) in [(29, 37), (1, 1), (8, 8), (17, 9), (s + 1, 2 * s - 1)] {
            let x = Tensor::<4>::random([2, 3, h, w], Distribution::Uniform(0.0, 1.0), &cpu());
            let idx = m.encode(x.clone(), cfg.levels);
            assert_eq!(
                idx.dims(),
                [2, cfg.levels, h.div_ceil(s), w.div_ceil(s)],
                "{cfg:?} {h}x{w}"
            );
            let y = m.decode(idx, h, w);
            assert_eq!(y.dims(), [2, 3, h, w]);
            let out = m.forward(x, cfg.levels);
            assert_eq!(out.reconstruction.dims(), [2, 3, h, w]);
        }
    }
}

#[test]
fn padding_replicates_edges_and_cropping_is_exact() {
    let cfg = small_config();
    let m = model(&cfg);
    let device = cpu();
    let (_, x) = carphone(&device);
    // 37×29 crop: padded to 40×32 by edge replication
    let crop = x.slice([0..1, 0..3, 0..29, 0..37]);
    let manual = crop
        .clone()
        .pad((0, 3, 0, 3), burn::tensor::ops::PadMode::Edge);
    let a = values(m.latent(crop.clone()));
    let b = values(m.latent(manual));
    assert_eq!(a, b, "the model should pad with edge replication");

    // decoding to 37×29 equals the top-left corner of decoding to the padded 40×32
    let idx = m.encode(crop, cfg.levels);
    let small = values(m.decode(idx.clone(), 29, 37));
    let big = m.decode(idx, 32, 40).slice([0..1, 0..3, 0..29, 0..37]);
    assert_eq!(small, values(big));
}

#[test]
fn nearest_code_matches_brute_force() {
    let device = cpu();
    for (n, k, d) in [(200, 16, 4), (513, 256, 16), (64, 7, 3)] {
        let x = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
        let cb = Tensor::<2>::random([k, d], Distribution::Normal(0.0, 1.0), &device);
        let got: Vec<i64> = ResidualQuantizer::nearest(x.clone(), cb.clone())
            .into_data()
            .iter::<i64>()
            .collect();
        let xs: Vec<f32> = x.into_data().try_into_vec().unwrap();
        let cs: Vec<f32> = cb.into_data().try_into_vec().unwrap();
        let dist = |i: usize, j: usize| -> f64 {
            (0..d)
                .map(|c| f64::from(xs[i * d + c] - cs[j * d + c]).powi(2))
                .sum()
        };
        for i in 0..n {
            let best = (0..k).map(|j| dist(i, j)).fold(f64::INFINITY, f64::min);
            let chosen = dist(i, got[i] as usize);
            // ties and f32 rounding may pick another code at (nearly) the same distance
            assert!(
                chosen <= best + 1e-4 * (1.0 + best),
                "row {i}: chose {chosen}, best {best}"
            );
        }
    }
}

/// Entropy-constrained assignment (rate-aware training) on the shipped lite's first level and
/// a real frame's latents: each row takes the code with the least error + λ·bits, bits from
/// the usage counts; as λ grows the indices' entropy falls and the error rises.
#[test]
fn rate_penalty_trades_latent_error_for_cheaper_codes() {
    let (m, z) = lite_carphone_latents(&cpu());
    let [n, d] = z.dims();
    let (_, k, _) = m.quantizer.dims();
    let cb = m
        .quantizer
        .constant_codebooks()
        .slice([0..1])
        .reshape([k, d]);
    // usage counts of plain nearest assignment: an EMA step with decay 0 keeps exactly them
    let mut state = m.quantizer.ema_state();
    let out = m.quantizer.forward(z.clone(), 1);
    let _ = m.quantizer.clone().ema_update(&mut state, &out, 0.0);
    let bits: Vec<f32> = state
        .code_bits()
        .slice([0..1])
        .into_data()
        .try_into_vec()
        .unwrap();
    let kraft: f64 = bits.iter().map(|&b| 2f64.powf(-f64::from(b))).sum();
    assert!(
        (kraft - 1.0).abs() < 0.01,
        "code lengths of a distribution: Σ2^-bits = {kraft}"
    );

    let zs: Vec<f32> = z.clone().into_data().try_into_vec().unwrap();
    let cs: Vec<f32> = cb.clone().into_data().try_into_vec().unwrap();
    let dist = |i: usize, j: usize| -> f64 {
        (0..d)
            .map(|c| f64::from(zs[i * d + c] - cs[j * d + c]).powi(2))
            .sum()
    };
    // (mean error, entropy of the indices in bits) for a λ, checking each row's choice
    let assign = |lambda: f64| -> (f64, f64) {
        let penalty = state
            .code_bits()
            .slice([0..1])
            .reshape([k])
            .mul_scalar(lambda as f32);
        let idx: Vec<i64> = ResidualQuantizer::nearest_penalized(z.clone(), cb.clone(), penalty)
            .into_data()
            .iter::<i64>()
            .collect();
        let cost = |i: usize, j: usize| dist(i, j) + lambda * f64::from(bits[j]);
        let mut hist = vec![0usize; k];
        let mut err = 0.0;
        for (i, &j) in idx.iter().enumerate() {
            let best = (0..k).map(|c| cost(i, c)).fold(f64::INFINITY, f64::min);
            assert!(
                cost(i, j as usize) <= best + 1e-4 * (1.0 + best),
                "λ {lambda}, row {i}: cost {} against the best {best}",
                cost(i, j as usize)
            );
            hist[j as usize] += 1;
            err += dist(i, j as usize);
        }
        let entropy = hist
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / n as f64;
                -p * p.log2()
            })
            .sum();
        (err / n as f64, entropy)
    };
    let (e0, h0) = assign(0.0);
    let (e1, h1) = assign(e0 / 8.0);
    let (e2, h2) = assign(e0 / 2.0);
    eprintln!("error {e0:.4} → {e1:.4} → {e2:.4}, entropy {h0:.3} → {h1:.3} → {h2:.3} bits");
    assert!(
        h1 < h0 && h2 < h1 && e1 > e0 && e2 > e1,
        "error {e0:.4} → {e1:.4} → {e2:.4}, entropy {h0:.3} → {h1:.3} → {h2:.3} bits"
    );
}

/// Rate-aware assignment priced under each index's parent context (`--rate-by-parent`): an
/// EMA step keeps the joint counts of (the class of the index one level up, the index), whose
/// code lengths are a distribution per parent class, and the penalised forward pass gives every
/// row the code of least error + λ·bits under its own parent's class; a larger λ lowers the
/// indices' entropy given their parent class.
#[test]
fn the_rate_by_parent_prices_each_row_under_its_parents_class() {
    use vqcodec::model::{PARENT_CONTEXTS, RatePenalty};
    let (m, z) = lite_carphone_latents(&cpu());
    let [n, d] = z.dims();
    let (_, k, _) = m.quantizer.dims();
    let mut state = m.quantizer.ema_state_with_parents();
    let out = m.quantizer.forward(z.clone(), 2);
    let _ = m.quantizer.clone().ema_update(&mut state, &out, 0.0);
    let counts: Vec<f32> = state
        .parent_counts
        .clone()
        .expect("kept per parent")
        .into_data()
        .try_into_vec()
        .unwrap();
    let sizes: Vec<f32> = state
        .cluster_size
        .clone()
        .into_data()
        .try_into_vec()
        .unwrap();
    let (p, none) = (PARENT_CONTEXTS, PARENT_CONTEXTS - 1);
    let at = |l: usize, c: usize, j: usize| counts[(l * p + c) * k + j];
    for j in 0..k {
        // level 0 has no parent: all its counts under "none"; level 1's add up to its usage
        assert_eq!(at(0, none, j), sizes[j]);
        assert!((0..none).all(|c| at(0, c, j) == 0.0));
        let sum: f32 = (0..p).map(|c| at(1, c, j)).sum();
        assert!(
            (sum - sizes[k + j]).abs() < 1e-3,
            "code {j}: {sum} against {}",
            sizes[k + j]
        );
    }
    let bits: Vec<f32> = state
        .code_bits_given_parent()
        .into_data()
        .try_into_vec()
        .unwrap();
    for c in (0..none).filter(|&c| (0..k).any(|j| at(1, c, j) > 0.0)) {
        let kraft: f64 = (0..k)
            .map(|j| 2f64.powf(-f64::from(bits[(p + c) * k + j])))
            .sum();
        assert!(
            (kraft - 1.0).abs() < 0.02,
            "parent class {c}: Σ2^-bits = {kraft}"
        );
    }
    let books: Vec<f32> = m
        .quantizer
        .constant_codebooks()
        .into_data()
        .try_into_vec()
        .unwrap();
    let zs: Vec<f32> = z.clone().into_data().try_into_vec().unwrap();
    // each row's level-1 choice against a brute force under its own parent class, and the
    // conditional entropy of level 1 given the class
    let assign = |lambda: f32| -> (f64, f64) {
        let pen = RatePenalty::PerParent(state.code_bits_given_parent().mul_scalar(lambda));
        let q = m.quantizer.forward_penalized(z.clone(), 2, Some(pen));
        let idx: Vec<i64> = q.indices.into_data().iter::<i64>().collect();
        let mut joint = vec![0usize; p * k];
        let mut err = 0.0;
        for i in 0..n {
            let (i0, i1) = (idx[2 * i] as usize, idx[2 * i + 1] as usize);
            let class = i0 / (k / 16).max(1);
            let r: Vec<f32> = (0..d).map(|c| zs[i * d + c] - books[i0 * d + c]).collect();
            let cost = |j: usize| -> f64 {
                let e: f64 = (0..d)
                    .map(|c| f64::from(r[c] - books[(k + j) * d + c]).powi(2))
                    .sum();
                e + f64::from(lambda) * f64::from(bits[(p + class) * k + j])
            };
            let best = (0..k).map(cost).fold(f64::INFINITY, f64::min);
            assert!(
                cost(i1) <= best + 1e-3 * (1.0 + best),
                "λ {lambda}, row {i}"
            );
            joint[class * k + i1] += 1;
            err += cost(i1) - f64::from(lambda) * f64::from(bits[(p + class) * k + i1]);
        }
        let entropy = (0..p)
            .map(|c| {
                let row = &joint[c * k..(c + 1) * k];
                let total: usize = row.iter().sum();
                row.iter()
                    .filter(|&&v| v > 0)
                    .map(|&v| -(v as f64 / n as f64) * (v as f64 / total as f64).log2())
                    .sum::<f64>()
            })
            .sum();
        (entropy, err / n as f64)
    };
    let (h0, e0) = assign(0.0);
    let (h1, e1) = assign((e0 / 2.0) as f32);
    assert!(
        h1 < h0 && e1 > e0,
        "H(level 1 | parent class) {h0:.3} → {h1:.3} bits, error {e0:.4} → {e1:.4}"
    );
}

/// The greedy search under a quadratic form (as the format searches a model with an encoder
/// metric): each level's code is the one of least `(r − c)ᵀ M (r − c)`, brute force, for the
/// residual the levels before leave; with `M = I` it is the plain search.
#[test]
fn the_metric_search_takes_each_levels_least_weighted_error() {
    let device = cpu();
    let (n, k, d, levels) = (300, 16, 4, 3);
    let q = ResidualQuantizer {
        codebooks: burn::module::Param::from_tensor(Tensor::<3>::random(
            [levels, k, d],
            Distribution::Normal(0.0, 1.0),
            &device,
        )),
    };
    let z = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
    let ints = |t: Tensor<2, Int>| t.into_data().iter::<i64>().collect::<Vec<_>>();
    let eye = Tensor::<2>::eye(d, &device);
    assert_eq!(
        ints(q.encode_metric(z.clone(), levels, eye)),
        ints(q.encode(z.clone(), levels))
    );
    // a symmetric positive definite form that weighs the first axis most and couples two
    let m: Vec<f32> = vec![
        9.0, 0.0, 0.0, 0.0, //
        0.0, 1.0, 0.5, 0.0, //
        0.0, 0.5, 1.0, 0.0, //
        0.0, 0.0, 0.0, 0.1,
    ];
    let mt = Tensor::<2>::from_data(TensorData::new(m.clone(), [d, d]), &device);
    let got = ints(q.encode_metric(z.clone(), levels, mt));
    let cbs: Vec<f32> = q.codebooks.val().into_data().try_into_vec().unwrap();
    let mut zs: Vec<f32> = z.into_data().try_into_vec().unwrap();
    let mut differs = false;
    for l in 0..levels {
        for i in 0..n {
            let r = &zs[i * d..(i + 1) * d];
            let cost = |j: usize| -> f64 {
                let c = &cbs[(l * k + j) * d..(l * k + j + 1) * d];
                let e: Vec<f64> = (0..d).map(|a| f64::from(r[a] - c[a])).collect();
                (0..d)
                    .flat_map(|a| (0..d).map(move |b| (a, b)))
                    .map(|(a, b)| e[a] * f64::from(m[a * d + b]) * e[b])
                    .sum()
            };
            let best = (0..k).map(cost).fold(f64::INFINITY, f64::min);
            let chosen = got[i * levels + l] as usize;
            assert!(
                cost(chosen) <= best + 1e-4 * (1.0 + best),
                "row {i} level {l}"
            );
            let plain = (0..k)
                .min_by(|&a, &b| {
                    let da: f32 = (0..d)
                        .map(|c| (r[c] - cbs[(l * k + a) * d + c]).powi(2))
                        .sum();
                    let db: f32 = (0..d)
                        .map(|c| (r[c] - cbs[(l * k + b) * d + c]).powi(2))
                        .sum();
                    da.total_cmp(&db)
                })
                .unwrap();
            differs |= plain != chosen;
        }
        // the next level sees what this one leaves
        for i in 0..n {
            let j = got[i * levels + l] as usize;
            for a in 0..d {
                zs[i * d + a] -= cbs[(l * k + j) * d + a];
            }
        }
    }
    assert!(differs, "the form changes some choices");
}

#[test]
fn rvq_residual_shrinks_with_each_level_after_kmeans() {
    let cfg = small_config().with_levels(4).with_codebook_size(32);
    let device = cpu();
    let m = model(&cfg);
    // latents of a real frame, plus random vectors so there are enough samples
    let (_, x) = carphone(&device);
    let z = m.latent(x);
    let [_, d, h, w] = z.dims();
    let z = z.permute([0, 2, 3, 1]).reshape([h * w, d]);
    let q = m.quantizer.clone().kmeans_init(z.clone(), 8);
    let mut residual = z.clone();
    let mut energies = vec![f64::from(
        residual.clone().square().sum().into_scalar::<f32>(),
    )];
    let idx = q.encode(z.clone(), 4);
    for level in 0..4 {
        let partial = idx.clone().slice([0..h * w, 0..level + 1]);
        residual = z.clone() - q.decode(partial);
        energies.push(f64::from(
            residual.clone().square().sum().into_scalar::<f32>(),
        ));
    }
    for pair in energies.windows(2) {
        assert!(
            pair[1] < pair[0],
            "residual energy should shrink level by level: {energies:?}"
        );
    }
    assert!(
        energies[4] < 0.5 * energies[0],
        "four levels should remove most of the energy: {energies:?}"
    );
}

#[test]
fn ema_update_moves_used_codes_towards_their_data_and_restarts_dead_ones() {
    let cfg = small_config();
    let device = cpu();
    let m = model(&cfg);
    let z = Tensor::<2>::random([400, cfg.code_dim], Distribution::Normal(3.0, 0.1), &device);
    let out = m.quantizer.forward(z.clone(), 1);
    let mut state = m.quantizer.ema_state();
    let mut q = m.quantizer.clone();
    for _ in 0..50 {
        let o = q.forward(z.clone(), 1);
        q = q.ema_update(&mut state, &o, 0.8);
    }
    let used: Vec<i64> = out
        .indices
        .clone()
        .slice([0..400, 0..1])
        .into_data()
        .iter::<i64>()
        .collect();
    let code = used[0] as usize;
    let after = q
        .codebooks
        .val()
        .slice([0..1, code..code + 1])
        .reshape([cfg.code_dim]);
    let mean: Vec<f32> = after.into_data().try_into_vec().unwrap();
    for v in &mean {
        assert!(
            (v - 3.0).abs() < 0.5,
            "a used code should move to the data mean (3.0), got {mean:?}"
        );
    }
    // codes never chosen have decayed usage: restart them from data
    let o = q.forward(z.clone(), 1);
    let (q2, restarted) = q.restart_dead_codes(&mut state, &o, 0.5);
    assert!(restarted[0] > 0, "unused codes should be restarted");
    assert_eq!(restarted[1], 0, "level 1 was not used in this pass");
    let cb: Vec<f32> = q2
        .codebooks
        .val()
        .slice([0..1])
        .into_data()
        .try_into_vec()
        .unwrap();
    let near_data = cb
        .chunks(cfg.code_dim)
        .filter(|c| c.iter().all(|v| (v - 3.0).abs() < 0.6))
        .count();
    assert!(
        near_data >= restarted[0],
        "restarted codes should sit on data ({near_data} near, {} restarted)",
        restarted[0]
    );
}

#[test]
fn output_is_deterministic_and_survives_a_save_load_cycle() {
    for cfg in [
        small_config(),
        small_config().with_linear_path(true),
        small_config().with_post_filter(8),
        small_config().with_code_dim(6).with_enhance_dims(2),
    ] {
        deterministic_and_saved(&cfg);
    }
    // an enhancement takes part of the latent, never all of it, and not with a linear path
    assert!(small_config().with_enhance_dims(4).validate().is_err());
    assert!(
        small_config()
            .with_code_dim(6)
            .with_enhance_dims(2)
            .with_linear_path(true)
            .validate()
            .is_err()
    );
    // as many levels as a stream's header can hold, not one more
    let levels = usize::from(vqcodec::vqc::MAX_LEVELS);
    assert!(small_config().with_levels(levels).validate().is_ok());
    assert!(small_config().with_levels(levels + 1).validate().is_err());
}

fn deterministic_and_saved(cfg: &VqVaeConfig) {
    let cfg = cfg.clone();
    let device = cpu();
    let m = model(&cfg);
    let (_, x) = carphone(&device);
    let idx1 = ints(m.encode(x.clone(), 3));
    let idx2 = ints(m.encode(x.clone(), 3));
    assert_eq!(idx1, idx2);
    let y1 = values(m.decode(m.encode(x.clone(), 3), 144, 176));
    let y2 = values(m.decode(m.encode(x.clone(), 3), 144, 176));
    assert_eq!(y1, y2);

    // f16 storage: reloaded weights give the same model up to half precision
    let w = Weights::from_model(&cfg, &m).unwrap();
    let m2 = w.load(&device).unwrap();
    let w2 = Weights::from_model(&cfg, &m2).unwrap();
    assert_eq!(
        w.as_bytes(),
        w2.as_bytes(),
        "save → load → save should be byte-identical"
    );
    assert_eq!(w.id(), w2.id());
    // the same indices decode alike (an untrained model's near-tied codes may flip in
    // f16 when re-encoded, which says nothing about storage)
    let y3 = values(m2.decode(m.encode(x.clone(), 3), 144, 176));
    let max = y1
        .iter()
        .zip(&y3)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        max < 0.05,
        "f16 round trip moved outputs by {max} ({cfg:?})"
    );
    // and the reloaded model encodes to nearly the same indices
    let idx3 = ints(m2.encode(x, 3));
    let same = idx1.iter().zip(&idx3).filter(|(a, b)| a == b).count();
    assert!(
        same * 10 >= idx1.len() * 9,
        "f16 reload changed {} of {} indices ({cfg:?})",
        idx1.len() - same,
        idx1.len()
    );
}

#[test]
fn a_position_whose_depth_ended_decodes_its_missing_levels_as_zero() {
    // Tokens::NONE at the last level everywhere decodes exactly as the shorter prefix does,
    // and at one position changes only the pixels that position reaches
    let e =
        vqcodec::Engine::new(&Weights::embedded(ModelKind::Lite), Backend::cpu("test")).unwrap();
    let bytes = std::fs::read("tests/data/carphone_6f.y4m").unwrap();
    let frame = y4m_frames(&bytes).remove(0);
    let (w, h) = (frame.width(), frame.height());
    let t = vqcodec::block_on(e.encode(std::slice::from_ref(&frame), None)).unwrap();
    let last = t.levels - 1;
    let plane = t.height * t.width;
    let mut ended = t.clone();
    ended.data[last * plane..].fill(vqcodec::Tokens::NONE);
    let a = vqcodec::block_on(e.decode(&ended, w, h)).unwrap();
    let b = vqcodec::block_on(e.decode(&t.prefix(last).unwrap(), w, h)).unwrap();
    assert_eq!(a[0].rgb(), b[0].rgb());
    let full = vqcodec::block_on(e.decode(&t, w, h)).unwrap();
    assert_ne!(a[0].rgb(), full[0].rgb());
    // out-of-range indices other than NONE are still refused
    let mut bad = t.clone();
    bad.data[0] = e.config().codebook_size as u32;
    assert!(vqcodec::block_on(e.decode(&bad, w, h)).is_err());
}

#[test]
fn shipped_weights_load_into_the_architecture() {
    for kind in [ModelKind::Base, ModelKind::Lite] {
        let w = Weights::embedded(kind);
        let expected = match kind {
            ModelKind::Base => VqVaeConfig::base(),
            ModelKind::Lite => VqVaeConfig::lite(),
        };
        assert_eq!(w.config().downsample, expected.downsample);
        let m = w
            .load(&cpu())
            .unwrap_or_else(|e| panic!("{} weights should load: {e}", kind.name()));
        let x = Tensor::<4>::random([1, 3, 24, 40], Distribution::Uniform(0.0, 1.0), &cpu());
        let y = m.decode(m.encode(x, w.config().levels), 24, 40);
        assert!(values(y).iter().all(|v| v.is_finite()));
        assert!(
            w.as_bytes().len() <= 2 << 20,
            "{} weights are over 2 MB",
            kind.name()
        );
    }
}

#[test]
fn the_build_knows_each_shipped_files_id_and_refuses_other_bytes() {
    // build.rs hashes weights/*.vqw; the wasm modules rely on it to check what they fetch
    for kind in ModelKind::ALL {
        let bytes = Weights::embedded(kind).as_bytes().to_vec();
        assert_eq!(kind.id(), ModelId::of(&bytes), "{}", kind.name());
        assert_eq!(ModelKind::from_id(kind.id()), Some(kind));
        assert_eq!(Weights::shipped(kind, bytes).unwrap().id(), kind.id());
    }
    assert_ne!(ModelKind::Base.id(), ModelKind::Lite.id());
    assert_eq!(ModelKind::from_id(ModelId(1)), None);
    // the other model's file, and a file changed by one byte, are refused before parsing
    let lite = Weights::embedded(ModelKind::Lite).as_bytes().to_vec();
    let err = Weights::shipped(ModelKind::Base, lite.clone()).unwrap_err();
    assert!(
        matches!(err, WeightsError::NotShipped { model: "base", .. }),
        "{err}"
    );
    let mut flipped = lite;
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(
        Weights::shipped(ModelKind::Lite, flipped),
        Err(WeightsError::NotShipped { .. })
    ));
}

#[test]
fn corrupt_weight_files_are_rejected_with_errors() {
    let good = Weights::embedded(ModelKind::Lite).as_bytes().to_vec();
    assert!(Weights::from_bytes(b"nope".to_vec()).is_err());
    assert!(
        Weights::from_bytes(good[..good.len() / 2].to_vec())
            .and_then(|w| w.load(&cpu()).map(|_| ()))
            .is_err()
    );
    let mut bad_len = good.clone();
    bad_len[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Weights::from_bytes(bad_len).is_err());
    // a valid file for another architecture does not load into this one
    let other = VqVaeConfig::lite().with_latent_channels(32);
    let m = model(&other);
    let mut w = Weights::from_model(&other, &m).unwrap().as_bytes().to_vec();
    let lite_json =
        serde_json::to_vec(&serde_json::json!({"dtype": "f16", "config": VqVaeConfig::lite()}))
            .unwrap();
    let other_json =
        serde_json::to_vec(&serde_json::json!({"dtype": "f16", "config": other})).unwrap();
    // swap the header to claim the lite config: tensors then do not fit
    let body = w.split_off(8 + other_json.len());
    let mut forged = b"VQW1".to_vec();
    forged.extend_from_slice(&(lite_json.len() as u32).to_le_bytes());
    forged.extend_from_slice(&lite_json);
    forged.extend_from_slice(&body);
    let err = Weights::from_bytes(forged)
        .unwrap()
        .load(&cpu())
        .err()
        .expect("mismatched tensors should fail");
    assert!(err.to_string().contains("match"), "{err}");
}

#[test]
fn frame_conversions_round_trip() {
    let (f, t) = carphone(&cpu());
    let back = Frame::from_planar(&values(t), 1, f.height(), f.width()).unwrap();
    assert_eq!(back, vec![f.clone()]);
    let rgba = f.to_rgba();
    assert_eq!(Frame::from_rgba(f.width(), f.height(), &rgba).unwrap(), f);
}
