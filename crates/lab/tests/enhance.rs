//! `vqcodec-lab enhance` on the checked-in clip: the enhanced model keeps every value and picture
//! of the model it came from up to that model's own levels, its enhancement lifts the
//! unquantized ceiling, its added levels lift the picture above what the old levels reach, and
//! its streams decode. Paths are the workspace root's.

use assert_cmd::Command;
use vqcodec::frame::{Frame, psnr_rgb};
use vqcodec::pipeline::Search;
use vqcodec::y4m_io::Y4mReader;
use vqcodec::{Backend, Engine, ModelKind, Weights, block_on};

mod common;
use common::{at_root, encode_and_decode};

const CLIP: &str = "tests/data/carphone_6f.y4m";

fn frames() -> Vec<Frame> {
    let mut r = Y4mReader::new(Box::new(std::fs::File::open(CLIP).unwrap()), CLIP).unwrap();
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        out.push(f.rgb);
    }
    out
}

/// The shipped lite without its enhancement (`enhance --dims 0`), written into `dir`: the model
/// an enhancement is made from. Checked on the way: its networks' values only, and at the
/// default quality the shipped lite's streams are its own, chunk for chunk (the shipped lite is
/// this model plus a scalar enhancement, which codes nothing up to the default).
fn plain_lite(dir: &std::path::Path) -> (std::path::PathBuf, Weights) {
    let file = common::plain_lite(dir);
    let plain = Weights::from_bytes(std::fs::read(&file).unwrap()).unwrap();
    let shipped = Weights::embedded(ModelKind::Lite);
    let (c, s) = (plain.config(), shipped.config());
    assert_eq!(
        (c.code_dim, c.enhance_dims, c.levels),
        (s.code_dim - s.enhance_dims, 0, s.levels)
    );
    assert!(s.enhance_dims > 0, "the shipped lite has an enhancement");
    let frames = &frames()[..3];
    let (a, b) = (
        encode(
            &Engine::new(&plain, Backend::cpu("test")).unwrap(),
            frames,
            vqc::DEFAULT_QUALITY,
        ),
        encode(
            &Engine::new(&shipped, Backend::cpu("test")).unwrap(),
            frames,
            vqc::DEFAULT_QUALITY,
        ),
    );
    assert_eq!(a.1.len(), b.1.len());
    for (i, (a, b)) in a.1.iter().zip(&b.1).enumerate() {
        assert_eq!(a.data, b.data, "frame {i}");
    }
    (file, plain)
}

/// A weight file's model on the CPU.
fn model(w: &Weights) -> vqcodec::model::VqVae {
    w.load(&Backend::cpu("test").device).unwrap()
}

/// A tensor's values.
fn values<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// The frames coded at `quality` by the pipeline's encoder: its header and packets.
fn encode(engine: &Engine, frames: &[Frame], quality: u8) -> (vqc::Header, Vec<vqc::Packet>) {
    let mut cfg = vqc::EncoderConfig::new(frames[0].width() as u32, frames[0].height() as u32);
    cfg.rate = vqc::RateControl::Quality(quality);
    let mut enc = block_on(vqcodec::pipeline::Encoder::new(engine, cfg)).unwrap();
    let packets = block_on(enc.encode(frames, false)).unwrap();
    (enc.header().clone(), packets)
}

/// The frames coded at `quality` with the choices made where `search` asks (the pipeline's
/// `code_with`): the encoder's own answer to where it searched, and the packets.
fn encode_searched(
    engine: &Engine,
    frames: &[Frame],
    quality: u8,
    search: Search,
) -> (Search, Vec<vqc::Packet>) {
    let mut cfg = vqc::EncoderConfig::new(frames[0].width() as u32, frames[0].height() as u32);
    cfg.rate = vqc::RateControl::Quality(quality);
    cfg.lookahead = 0;
    let mut enc = block_on(vqcodec::pipeline::Encoder::new(engine, cfg)).unwrap();
    let analysis = block_on(enc.analyser().analyse(frames)).unwrap();
    let packets = block_on(enc.code_with(&analysis, false, search)).unwrap();
    (enc.search_for(search), packets)
}

/// A stream's decoded latents, as the conformance vectors pin them: one line per frame with the
/// CRC32 of its `i32` latent (the format crate's reconstruction with `books`).
fn latent_lines(stream: &[u8], books: &vqc::Codebooks) -> String {
    vqc::StreamDecoder::new(stream, vqc::Limits::default(), None)
        .unwrap()
        .with_codebooks(books)
        .unwrap()
        .map(|f| {
            let f = f.unwrap();
            format!(
                "latent pts {} crc {:08x}\n",
                f.pts,
                vqc::bench::latent_crc(&f.state)
            )
        })
        .collect()
}

/// The PSNR-RGB a `vqcodec decode --reference` summary reports.
fn summary_psnr(summary: &str) -> f64 {
    summary
        .split("PSNR-RGB ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no PSNR in {summary}"))
}

fn mean_psnr(a: &[Frame], b: &[Frame]) -> f64 {
    a.iter().zip(b).map(|(x, y)| psnr_rgb(x, y)).sum::<f64>() / a.len() as f64
}

#[test]
fn an_enhanced_model_keeps_its_base_and_lifts_its_ceiling() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-enhance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("lite-enh.vqw");
    let fit = Command::cargo_bin("vqcodec-lab")
        .unwrap()
        .args([
            "enhance",
            "--weights",
            "lite",
            "--data",
            "tests/data/manifest.txt",
        ])
        .args([
            "--dims",
            "24",
            "--levels",
            "4",
            "--samples",
            "20000",
            "--iters",
            "6",
        ])
        .arg("-o")
        .arg(&weights)
        .assert()
        .success();
    let log = String::from_utf8_lossy(&fit.get_output().stderr).to_string();
    assert!(log.contains("24 directions keep"), "{log}");
    let w = Weights::from_bytes(std::fs::read(&weights).unwrap()).unwrap();
    let (lite_file, lite) = plain_lite(&dir);
    let (c, base) = (w.config(), lite.config());
    assert_eq!(
        (c.code_dim, c.levels, c.enhance_dims),
        (base.code_dim + 24, base.levels + 4, 24)
    );
    let frames = frames();
    let e = Engine::new(&w, Backend::cpu("test")).unwrap();
    let l = Engine::new(&lite, Backend::cpu("test")).unwrap();
    // the networks' values are the lite's own; the enhancement's are not all zero
    let (ze, zl) = (
        block_on(e.latents(&frames[..2])).unwrap(),
        block_on(l.latents(&frames[..2])).unwrap(),
    );
    let (d, d0) = (c.code_dim, base.code_dim);
    let mut extra = 0.0f64;
    for (a, b) in ze.iter().zip(&zl) {
        assert_eq!(a.len() / d, b.len() / d0);
        for (pa, pb) in a.chunks_exact(d).zip(b.chunks_exact(d0)) {
            assert_eq!(&pa[..d0], pb);
            extra += pa[d0..].iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        }
    }
    assert!(extra > 0.0);
    // with no quantizer, the enhancement carries what the networks cannot: the ceiling rises
    let (ue, ul) = (
        block_on(e.roundtrip_unquantized(&frames)).unwrap(),
        block_on(l.roundtrip_unquantized(&frames)).unwrap(),
    );
    let (pe, pl) = (mean_psnr(&ue, &frames), mean_psnr(&ul, &frames));
    assert!(
        pe > pl + 3.0,
        "unquantized: {pe:.2} dB enhanced, {pl:.2} dB lite"
    );
    // up to the lite's levels, the same pictures; every added level brings them closer
    let at = |engine: &Engine, levels: usize| {
        block_on(engine.roundtrip(&frames, Some(levels)))
            .unwrap()
            .frames
    };
    let lite3 = at(&l, base.levels);
    let enh3 = at(&e, base.levels);
    for (a, b) in enh3.iter().zip(&lite3) {
        assert_eq!(a.rgb(), b.rgb());
    }
    let mut last = mean_psnr(&lite3, &frames);
    for levels in base.levels + 1..=c.levels {
        let p = mean_psnr(&at(&e, levels), &frames);
        assert!(p > last + 0.2, "{levels} levels: {p:.2} dB after {last:.2}");
        last = p;
    }
    // the encoder opens the added levels by quality: none below 50, all from 70
    assert_eq!(w.codebooks().unwrap().base_levels(), base.levels);
    let packets = |engine: &Engine, quality: u8| encode(engine, &frames, quality).1;
    let coded = |quality: u8| -> usize {
        let p = packets(&e, quality);
        p.iter().map(|p| p.state.coded).max().unwrap()
    };
    assert_eq!(coded(40), base.levels);
    assert_eq!(coded(90), c.levels);
    // below the gate, the lite's own stream: the same chunks byte for byte (the lite's motion
    // maps and metric are kept, and the enhancement's values are not even computed)
    let same_stream = |engine: &Engine, quality: u8| {
        let (a, b) = (packets(engine, quality), packets(&l, quality));
        assert_eq!(a.len(), b.len());
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert_eq!(a.data, b.data, "quality {quality}, frame {i}");
        }
    };
    same_stream(&e, 10);
    same_stream(&e, 45);
    // and such a stream decodes to lite's pictures, pixel for pixel
    let (ours, theirs) = (packets(&e, 45), packets(&l, 45));
    let decode = |engine: &Engine, p: &[vqc::Packet]| -> Vec<Frame> {
        let z: Vec<Vec<f32>> = p.iter().map(|p| p.state.latent_f32()).collect();
        let z: Vec<&[f32]> = z.iter().map(Vec::as_slice).collect();
        block_on(engine.decode_latents(&z, frames[0].width(), frames[0].height())).unwrap()
    };
    for (a, b) in decode(&e, &ours).iter().zip(&decode(&l, &theirs)) {
        assert_eq!(a.rgb(), b.rgb());
    }
    // real streams: they decode with the enhanced weights, and at a high quality they are
    // closer to the source than the lite's
    let (_, enhanced) = encode_and_decode(&weights, &dir.join("enh.vqc"), &["--quality", "95"]);
    assert!(enhanced.contains("6 frames (0 concealed)"), "{enhanced}");
    let (_, plain) = encode_and_decode(&lite_file, &dir.join("lite.vqc"), &["--quality", "95"]);
    assert!(
        summary_psnr(&enhanced) > summary_psnr(&plain) + 1.0,
        "{enhanced} / {plain}"
    );
    // the metric split between the two parts: no terms across them; refused without a split
    let split = dir.join("split.vqw");
    let metric = |weights: &std::path::Path| {
        let mut cmd = Command::cargo_bin("vqcodec-lab").unwrap();
        cmd.args([
            "metric",
            "--data",
            "tests/data/manifest.txt",
            "--split-enhancement",
        ])
        .args([
            "--clips",
            "2",
            "--crop",
            "128",
            "--spacing",
            "5",
            "--weights",
        ])
        .arg(weights)
        .arg("-o")
        .arg(&split);
        cmd
    };
    metric(&lite_file).assert().failure();
    metric(&weights).assert().success();
    let measured = Weights::from_bytes(std::fs::read(&split).unwrap()).unwrap();
    let m = values(model(&measured).metric.expect("the metric").val());
    // the networks' block is the lite's metric as it was; the enhancement's is measured
    let lite_metric = values(model(&lite).metric.expect("the lite's metric").val());
    let mut diagonal = 0.0f32;
    for i in 0..d {
        for j in 0..d {
            if (i < d0) != (j < d0) {
                assert_eq!(m[i * d + j], 0.0, "({i}, {j})");
            } else if i < d0 {
                assert_eq!(m[i * d + j], lite_metric[i * d0 + j], "({i}, {j})");
            } else if i == j {
                diagonal += m[i * d + i];
            }
        }
    }
    assert!(diagonal > 0.0);
    // and with it, below the gate, still the lite's stream
    same_stream(&Engine::new(&measured, Backend::cpu("test")).unwrap(), 30);
    // the enhancement's own fine-motion block: fitted, the networks' block and the zeros
    // across kept, so streams below the gate stay the lite's; refused without an enhancement
    let mapped = dir.join("mapped.vqw");
    let motion = |weights: &std::path::Path| {
        let mut cmd = Command::cargo_bin("vqcodec-lab").unwrap();
        cmd.args(["motion-ops", "--data", "tests/data/manifest.txt"])
            .args(["--range", "2", "--crop", "64", "--crops-per-clip", "6"])
            .arg("--enhancement-only")
            .arg("--weights")
            .arg(weights)
            .arg("-o")
            .arg(&mapped);
        cmd
    };
    motion(&lite_file).assert().failure();
    motion(&split).assert().success();
    let maps = |w: &Weights| values(model(w).motion.expect("maps").val());
    let fitted = Weights::from_bytes(std::fs::read(&mapped).unwrap()).unwrap();
    let (new, old) = (maps(&fitted), maps(&lite));
    let rows = 2 * d + 1;
    let mut enhancement = 0.0f32;
    for m in 0..new.len() / (rows * d) {
        for i in 0..rows {
            let input = if i == 2 * d { None } else { Some(i % d) };
            for j in 0..d {
                let v = new[(m * rows + i) * d + j];
                match (input, j < d0) {
                    // the lite's networks' block, bias included
                    (None, true) => assert_eq!(v, old[(m * (2 * d0 + 1) + 2 * d0) * d0 + j]),
                    (Some(k), true) if k < d0 => {
                        let row = if i < d { k } else { d0 + k };
                        assert_eq!(v, old[(m * (2 * d0 + 1) + row) * d0 + j]);
                    }
                    (Some(k), false) if k >= d0 => enhancement += v.abs(),
                    _ => assert_eq!(v, 0.0, "map {m}, input row {i}, output {j}"),
                }
            }
        }
    }
    assert!(enhancement > 0.0);
    let engine = Engine::new(&fitted, Backend::cpu("test")).unwrap();
    same_stream(&engine, 30);
    assert_eq!(packets(&engine, 90).len(), frames.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `enhance --levels 0`: an enhancement with no levels of its own, which streams refine with
/// scalar coefficients (format version 9). Up to the default quality a frame codes none (the
/// lite's chunks byte for byte); above it, coefficients lift the picture far past the lite's, and the
/// format crate alone decodes the stream to the encoder's very latents.
#[test]
fn a_scalar_enhancement_lifts_the_picture_and_decodes_to_the_encoders_latents() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-coefs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("lite-sc.vqw");
    Command::cargo_bin("vqcodec-lab")
        .unwrap()
        .args(["enhance", "--weights", "lite"])
        .args(["--data", "tests/data/manifest.txt"])
        .args(["--dims", "24", "--levels", "0", "--samples", "20000"])
        .arg("-o")
        .arg(&weights)
        .assert()
        .success();
    let w = Weights::from_bytes(std::fs::read(&weights).unwrap()).unwrap();
    let (lite_file, lite) = plain_lite(&dir);
    let (c, base) = (w.config(), lite.config());
    assert_eq!(
        (c.code_dim, c.levels, c.enhance_dims),
        (base.code_dim + 24, base.levels, 24)
    );
    let books = w.codebooks().unwrap();
    assert_eq!((books.base_levels(), books.net_dim()), (3, base.code_dim));
    let frames = frames();
    let (e, l) = (
        Engine::new(&w, Backend::cpu("test")).unwrap(),
        Engine::new(&lite, Backend::cpu("test")).unwrap(),
    );
    // the header says every value may be refined; up to the default, no step and the lite's
    // chunks
    let low = encode(&e, &frames, vqc::DEFAULT_QUALITY);
    assert_eq!(usize::from(low.0.enhance_dims), c.code_dim);
    let theirs = encode(&l, &frames, vqc::DEFAULT_QUALITY);
    assert_eq!(low.1.len(), theirs.1.len());
    for (i, (a, b)) in low.1.iter().zip(&theirs.1).enumerate() {
        assert_eq!(a.data, b.data, "frame {i}");
        assert_eq!(a.state.step, 0);
    }
    // above it, coefficients; the format crate decodes them to the encoder's latents exactly
    let high = encode(&e, &frames, 90);
    let coded: usize = high
        .1
        .iter()
        .map(|p| p.state.coef.iter().filter(|&&v| v != 0).count())
        .sum();
    assert!(coded > 1000, "{coded} nonzero coefficients");
    assert!(high.1.iter().all(|p| p.state.step > 0));
    let mut dec = vqc::Decoder::new(&high.0, Some(&e.codec_info()))
        .unwrap()
        .with_codebooks(&books)
        .unwrap();
    for (i, p) in high.1.iter().enumerate() {
        let (chunk, _) = vqc::Chunk::parse(&p.data, 0, &high.0, &vqc::Limits::default()).unwrap();
        let got = dec.decode(&chunk).unwrap();
        assert_eq!(got.coef, p.state.coef, "frame {i}");
        assert_eq!(got.latent, p.state.latent, "frame {i}");
    }
    // the conformance vector with coefficients, `tests/conformance/coefficients.*` (re-pinned
    // on purpose with VQC_CONFORMANCE_WRITE=1: this stream): the format crate checks its symbols
    // (crates/vqc/tests/conformance.rs), this test its latents, which depend only on the model's
    // codebooks and maps — the lite's padded with zeros, whatever enhancement this test fits
    let vector = std::path::Path::new("tests/conformance/coefficients");
    if std::env::var_os("VQC_CONFORMANCE_WRITE").is_some() {
        let (header, packets) = encode(&e, &frames[..4], 85);
        let mut bytes = header.to_bytes();
        for p in &packets {
            bytes.extend_from_slice(&p.data);
        }
        let text = format!(
            "# a lab model (lite, enhance --dims 24 --levels 0 on tests/data: every value refined), \
             4 frames of carphone_6f 176x144, quality 85: key and delta frames with enhancement coefficients\n{}{}",
            vqc::bench::describe_symbols(&bytes).unwrap(),
            latent_lines(&bytes, &books)
        );
        std::fs::write(vector.with_extension("vqc"), &bytes).unwrap();
        std::fs::write(vector.with_extension("txt"), text).unwrap();
    }
    let pinned = std::fs::read_to_string(vector.with_extension("txt")).unwrap();
    let pinned: Vec<&str> = pinned
        .lines()
        .filter(|l| l.starts_with("latent "))
        .collect();
    let bytes = std::fs::read(vector.with_extension("vqc")).unwrap();
    assert_eq!(
        latent_lines(&bytes, &books).lines().collect::<Vec<_>>(),
        pinned
    );
    assert_eq!(pinned.len(), 4);
    // the device's search codes no coefficients: where they are coded the encoder searches on
    // the host instead, at the quality asked for (the host's very packets); below the gate the
    // device searches
    let (at, device) = encode_searched(&e, &frames, 90, Search::Device);
    let (_, host) = encode_searched(&e, &frames, 90, Search::Host);
    assert_eq!(at, Search::Host);
    assert!(device.iter().all(|p| p.state.step > 0));
    for (i, (a, b)) in device.iter().zip(&host).enumerate() {
        assert_eq!(a.data, b.data, "frame {i}");
    }
    assert_eq!(
        encode_searched(&e, &frames, vqc::DEFAULT_QUALITY, Search::Device).0,
        Search::Device
    );
    // whole files through the CLI: far closer to the source than the lite's best, with the
    // device search asked for too
    let (_, enhanced) = encode_and_decode(&weights, &dir.join("sc.vqc"), &["--quality", "90"]);
    assert!(enhanced.contains("6 frames (0 concealed)"), "{enhanced}");
    let (_, searched) = encode_and_decode(
        &weights,
        &dir.join("sc-device.vqc"),
        &["--quality", "90", "--search", "device"],
    );
    assert!(
        (summary_psnr(&searched) - summary_psnr(&enhanced)).abs() < 0.5,
        "{searched} / {enhanced}"
    );
    let (_, plain) = encode_and_decode(&lite_file, &dir.join("lite.vqc"), &["--quality", "100"]);
    assert!(
        summary_psnr(&enhanced) > summary_psnr(&plain) + 4.0,
        "{enhanced} / {plain}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
