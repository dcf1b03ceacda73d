//! The `vqcodec` binary on checked-in clips (assert_cmd).
#![cfg(feature = "cli")]

use assert_cmd::Command;

fn vqcodec() -> Command {
    Command::cargo_bin("vqcodec").expect("the vqcodec binary should be built with --features cli")
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vqcodec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Header and frame count of a 4:2:0 y4m file.
fn y4m_info(path: &std::path::Path) -> (String, usize) {
    let bytes = std::fs::read(path).unwrap();
    let end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let frames = bytes.windows(6).filter(|w| w == b"FRAME\n").count();
    (header, frames)
}

fn mean_psnr(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mean over"))
        .expect("summary line");
    let after = line.split("PSNR-RGB ").nth(1).unwrap();
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn roundtrip_writes_a_y4m_with_every_frame_and_reports_psnr_and_raw_rate() {
    let out = tmp("carphone.y4m");
    let assert = vqcodec()
        .args(["roundtrip", "tests/data/carphone_6f.y4m", "-o"])
        .arg(&out)
        .args(["--backend", "cpu"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("frame ")).count(),
        6,
        "{stdout}"
    );
    assert!(stdout.contains("mean over 6 frames"), "{stdout}");
    assert!(
        stdout.contains("bpp") && stdout.contains("before entropy coding"),
        "{stdout}"
    );
    let psnr = mean_psnr(&stdout);
    assert!(psnr.is_finite() && psnr > 5.0, "PSNR {psnr}");
    let (header, frames) = y4m_info(&out);
    assert!(header.contains("W176 H144"), "{header}");
    assert_eq!(frames, 6);
    let len = std::fs::metadata(&out).unwrap().len() as usize;
    assert_eq!(len, header.len() + 1 + 6 * (6 + 176 * 144 * 3 / 2));
}

#[test]
fn roundtrip_is_deterministic_and_handles_odd_sizes_and_stdio() {
    let input = std::fs::read("tests/data/odd_37x29.y4m").unwrap();
    let run = || {
        vqcodec()
            .args([
                "roundtrip",
                "-",
                "-o",
                "-",
                "--backend",
                "cpu",
                "--model",
                "lite",
            ])
            .write_stdin(input.clone())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "the same input should decode to the same bytes");
    assert!(
        a.starts_with(b"YUV4MPEG2 W37 H29"),
        "{:?}",
        String::from_utf8_lossy(&a[..40])
    );
    // 3 frames of 37×29 4:2:0 after the header
    let frame_bytes = 6 + 37 * 29 + 2 * 19 * 15;
    let header_len = a.iter().position(|&x| x == b'\n').unwrap() + 1;
    assert_eq!(a.len() - header_len, 3 * frame_bytes);
}

#[test]
fn fewer_levels_cost_fewer_bits_and_lose_quality() {
    let run = |levels: &str| {
        let out = tmp(&format!("levels{levels}.y4m"));
        let a = vqcodec()
            .args(["roundtrip", "tests/data/carphone_6f.y4m", "-o"])
            .arg(&out)
            .args(["--backend", "cpu", "--quiet", "--levels", levels])
            .assert()
            .success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let one = run("1");
    let all = run("3");
    let bpp = |s: &str| -> f64 {
        s.split("raw token rate ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(bpp(&one) < bpp(&all));
    assert!((bpp(&one) * 3.0 - bpp(&all)).abs() < 1e-3, "{one}\n{all}");
    assert!(
        mean_psnr(&one) < mean_psnr(&all) - 0.5,
        "more levels should decode better:\n{one}\n{all}"
    );
    fails_with(
        &[
            "roundtrip",
            "tests/data/carphone_6f.y4m",
            "-o",
            "-",
            "--levels",
            "99",
        ],
        "out of range",
    );
}

/// The command fails and its stderr names the problem.
fn fails_with(args: &[&str], needle: &str) {
    vqcodec()
        .args(args)
        .assert()
        .failure()
        .stderr(predicates::str::contains(needle));
}

#[test]
fn missing_file_is_a_clear_error() {
    fails_with(
        &[
            "roundtrip",
            "tests/data/does-not-exist.y4m",
            "-o",
            "-",
            "--backend",
            "cpu",
        ],
        "cannot open input tests/data/does-not-exist.y4m",
    );
}

#[test]
fn non_y4m_input_is_a_clear_error() {
    fails_with(
        &["roundtrip", "Cargo.toml", "-o", "-", "--backend", "cpu"],
        "is not a readable y4m file",
    );
}

#[test]
fn unsupported_colour_format_is_a_clear_error() {
    fails_with(
        &[
            "roundtrip",
            "tests/data/tiny_p10.y4m",
            "-o",
            "-",
            "--backend",
            "cpu",
        ],
        "unsupported y4m colour format C420p10",
    );
}

#[test]
fn model_info_reports_params_flops_and_id() {
    let a = vqcodec()
        .args(["model-info", "--model", "lite"])
        .assert()
        .success();
    let s = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        s.contains("parameters") && s.contains("FLOPs/pixel") && s.contains("model id"),
        "{s}"
    );
}
