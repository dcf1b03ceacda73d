//! `vqcodec-lab motion-ops` on the checked-in clip: the maps it fits go into the weight file, and
//! the codec's streams use them and decode. Paths are the workspace root's.

use assert_cmd::Command;

mod common;
use common::{at_root, encode_and_decode};

#[test]
fn fitted_maps_go_into_the_weight_file_and_streams_use_them() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-motion-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("lite-m1.vqw");
    let fit = Command::cargo_bin("vqcodec-lab")
        .unwrap()
        .args(["motion-ops", "--weights", "out/none.vqw"])
        .arg("-o")
        .arg(&weights)
        .assert()
        .failure();
    assert!(
        !fit.get_output().stderr.is_empty(),
        "a missing model is an error"
    );
    let fit = Command::cargo_bin("vqcodec-lab")
        .unwrap()
        .args([
            "motion-ops",
            "--weights",
            "lite",
            "--data",
            "tests/data/manifest.txt",
        ])
        .args(["--range", "1", "--crop", "64", "--crops-per-clip", "6"])
        .arg("-o")
        .arg(&weights)
        .assert()
        .success();
    let log = String::from_utf8_lossy(&fit.get_output().stderr).to_string();
    // four maps (±1 along each axis), each fitted well below the error of not moving
    let fits: Vec<(f64, f64)> = log
        .lines()
        .filter_map(|l| l.split("squared error ").nth(1))
        .map(|s| {
            let num = |t: &str| {
                t.trim_matches(|c: char| !c.is_ascii_digit() && c != '.')
                    .parse::<f64>()
                    .unwrap()
            };
            let mut w = s.split_whitespace();
            let fit = num(w.next().unwrap());
            (fit, num(s.split("not moving: ").nth(1).unwrap()))
        })
        .collect();
    assert_eq!(fits.len(), 4, "{log}");
    assert!(
        fits.iter()
            .all(|&(fit, still)| fit > 0.0 && fit * 4.0 < still),
        "{fits:?}"
    );
    // the written file: the model's config with motion_range 1; a stream of the moving clip
    // names that range in its header and decodes with the same weights
    let stream = dir.join("clip.vqc");
    let (bytes, summary) = encode_and_decode(&weights, &stream, &["--quality", "60"]);
    assert_eq!(bytes[53], 1, "the header's fine-motion range");
    assert!(summary.contains("6 frames (0 concealed)"), "{summary}");
    // the shipped lite weights (maps of ±2) do not decode it
    Command::cargo_bin("vqcodec")
        .unwrap()
        .args(["decode", "--backend", "cpu", "--model", "lite"])
        .arg(&stream)
        .args(["-o", "/dev/null"])
        .assert()
        .failure();
    std::fs::remove_dir_all(&dir).unwrap();
}
