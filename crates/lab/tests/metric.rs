//! `vqcodec-lab metric` on the checked-in clip: the decoder's sensitivity it measures goes into
//! the weight file, the encoder weighs its choices by it, and the streams stay what any decoder
//! of those weights reads. Paths are the workspace root's.

use assert_cmd::Command;

mod common;
use common::{at_root, encode_and_decode};

#[test]
fn the_measured_metric_goes_into_the_weight_file_and_streams_decode() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-metric-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("lite-metric.vqw");
    let npy = dir.join("m.npy");
    // the lite's networks alone (the shipped lite's enhancement has a metric block of its own,
    // measured apart: `metric --split-enhancement`, tests/enhance.rs)
    let lite = common::plain_lite(&dir);
    let run = Command::cargo_bin("vqcodec-lab")
        .unwrap()
        .args(["metric", "--data", "tests/data/manifest.txt", "--weights"])
        .arg(&lite)
        .args(["--clips", "2", "--crop", "128", "--spacing", "5"])
        .arg("--npy")
        .arg(&npy)
        .arg("-o")
        .arg(&weights)
        .assert()
        .success();
    let log = String::from_utf8_lossy(&run.get_output().stderr).to_string();
    // the decoder is far from isotropic: some latent directions move Y' many times more than
    // others (what the encoder's plain squared error ignores)
    let ratio: f64 = log
        .lines()
        .find(|l| l.starts_with("Y' + chroma"))
        .and_then(|l| l.split("(ratio ").nth(1))
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    assert!(ratio > 5.0, "eigenvalue ratio {ratio}: {log}");
    // the matrix is symmetric with a positive diagonal (16 × 16 f32 after a 128-byte header)
    let raw = std::fs::read(&npy).unwrap();
    let m: Vec<f32> = raw[128..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(m.len(), 16 * 16);
    for i in 0..16 {
        assert!(m[i * 16 + i] > 0.0);
        for j in 0..16 {
            assert!((m[i * 16 + j] - m[j * 16 + i]).abs() <= 1e-6 * m[i * 16 + i].abs().max(1.0));
        }
    }
    // the written weights encode the clip; the stream decodes with them to every frame
    let stream = dir.join("clip.vqc");
    let (_, summary) = encode_and_decode(&weights, &stream, &["--quality", "50", "--effort", "3"]);
    assert!(summary.contains("6 frames (0 concealed)"), "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}
