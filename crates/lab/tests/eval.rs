//! `vqcodec-lab eval` on the checked-in clip, against x264 from Debian's ffmpeg. Paths are the
//! workspace root's.

use assert_cmd::Command;

mod common;
use common::at_root;

fn lab() -> Command {
    at_root();
    Command::cargo_bin("vqcodec-lab").expect("the vqcodec-lab binary should be built")
}

/// The `vqcodec` tool (built with the workspace: `cargo test --workspace`).
fn vqcodec() -> Command {
    at_root();
    Command::cargo_bin("vqcodec").expect("the vqcodec binary should be built with the workspace")
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vqcodec-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `eval` on a real clip against x264: every number in the CSV is checked against the streams
/// it wrote (file sizes, the CLI decoder's PSNR), the curves go the right way, and the report
/// replaces only the marked part of a document.
#[test]
fn eval_measures_real_files_and_splices_its_report() {
    let dir = tmp("eval");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let doc = dir.join("doc.md");
    std::fs::write(
        &doc,
        "intro\n<!-- eval:begin -->\nOLD TABLE\n<!-- eval:end -->\ntail\n",
    )
    .unwrap();
    let assert = lab()
        .args(["eval", "tests/data/carphone_6f.y4m", "--backend", "cpu"])
        .args([
            "--qualities",
            "40,70,100",
            "--codecs",
            "x264",
            "--crf",
            "30,40,50",
        ])
        .arg("-o")
        .arg(&dir)
        .arg("--doc")
        .arg(&doc)
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("vqcodec-base vs x264: BD-rate PSNR-Y"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 6, "{csv}");
    let num = |r: &[&str], i: usize| -> f64 { r[i].parse().unwrap() };
    for r in &rows {
        // bpp is the file's bytes over the pixels of 6 frames of 176×144
        let bytes = num(r, 6);
        assert!((num(r, 7) - bytes * 8.0 / (176.0 * 144.0 * 6.0)).abs() < 1e-5);
        assert!(num(r, 8) > 20.0 && num(r, 8) < 60.0, "PSNR-Y {r:?}");
        assert!(num(r, 10) > 0.5 && num(r, 10) <= 1.0, "MS-SSIM {r:?}");
    }
    // vqcodec: the CSV's size is the stream's, and the CLI decoder agrees on PSNR-Y
    let q70 = rows
        .iter()
        .find(|r| r[1] == "vqcodec-base" && r[2] == "q70")
        .unwrap();
    let stream = dir.join("streams/carphone_6f-vqcodec-base-q70.vqc");
    assert_eq!(
        std::fs::metadata(&stream).unwrap().len() as f64,
        num(q70, 6)
    );
    let decoded = vqcodec()
        .args([
            "decode",
            "--backend",
            "cpu",
            "-q",
            "-o",
            "/dev/null",
            "--reference",
        ])
        .arg("tests/data/carphone_6f.y4m")
        .arg(&stream)
        .assert()
        .success();
    let line = String::from_utf8(decoded.get_output().stdout.clone()).unwrap();
    let psnr_y: f64 = line
        .split("PSNR-Y ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((psnr_y - num(q70, 8)).abs() < 0.01, "{line} vs {q70:?}");
    // quality and size order: higher vqcodec quality and lower x264 CRF cost more, look better
    let of = |codec: &str| -> Vec<&Vec<&str>> { rows.iter().filter(|r| r[1] == codec).collect() };
    // at the model's ceiling on this clip (base saturates near 28.3 dB from quality 70 up)
    // quality 100 may read a few thousandths of a dB below 70: it takes the nearest codes in
    // the encoder's metric (Y' and chroma), not the best PSNR-Y (measured: 28.3021 against
    // 28.3048 with bitstream version 7)
    for w in of("vqcodec-base").windows(2) {
        assert!(
            num(w[1], 6) > num(w[0], 6) && num(w[1], 8) >= num(w[0], 8) - 0.01,
            "{w:?}"
        );
    }
    for w in of("x264").windows(2) {
        assert!(num(w[1], 6) < num(w[0], 6) && num(w[1], 8) < num(w[0], 8));
    }
    let bd = std::fs::read_to_string(dir.join("bdrate.csv")).unwrap();
    assert!(
        bd.lines()
            .any(|l| l.starts_with("carphone_6f,vqcodec-base,x264,")),
        "{bd}"
    );
    for plot in ["carphone_6f-psnr.svg", "carphone_6f-msssim.svg"] {
        let svg = std::fs::read_to_string(dir.join(plot)).unwrap();
        assert!(svg.contains("<svg") && svg.contains("x264") && svg.contains("vqcodec-base"));
    }
    let doc = std::fs::read_to_string(&doc).unwrap();
    assert!(
        doc.starts_with("intro\n") && doc.ends_with("tail\n"),
        "{doc}"
    );
    assert!(!doc.contains("OLD TABLE") && doc.contains("| carphone_6f | vqcodec-base | x264 |"));
}
