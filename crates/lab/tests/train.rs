//! `vqcodec-lab train` on the CPU backend: a few steps on a real clip, checkpoint, resume.
//! Paths are the workspace root's.

use assert_cmd::Command;

mod common;
use common::at_root;

fn psnrs(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| l.split(" psnr ").nth(1))
        .map(|s| s.trim_start().split(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// `vqcodec-lab train` on the checked-in clip, CPU backend, lite preset, 4 crops of 64² per
/// step, writing to `dir`; `args` add to it.
fn train(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("vqcodec-lab").unwrap();
    cmd.args(["train", "--data", "tests/data/manifest.txt"])
        .args([
            "--backend",
            "cpu",
            "--preset",
            "lite",
            "--batch",
            "4",
            "--crop",
            "64",
        ])
        .args(args)
        .arg("-o")
        .arg(dir);
    cmd
}

/// Runs `cmd`, which must fail, and returns its stderr.
fn stderr_of_failure(cmd: &mut Command) -> String {
    let out = cmd.assert().failure();
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// `vqcodec roundtrip` of the checked-in clip through the weight file `weights` (CPU, the
/// summary only); `args` add to it.
fn roundtrip(weights: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("vqcodec").unwrap();
    cmd.args([
        "roundtrip",
        "tests/data/carphone_6f.y4m",
        "-o",
        "-",
        "--backend",
        "cpu",
        "--quiet",
        "--weights",
    ])
    .arg(weights)
    .args(args);
    cmd
}

/// `train` into `dir` for `steps` in all, a log line every 5 steps at learning rate 3e-3,
/// `extra` added; its log (stdout).
fn train_log(dir: &std::path::Path, steps: &str, extra: &[&str]) -> String {
    let mut args = vec!["--steps", steps, "--log-every", "5", "--lr", "3e-3"];
    args.extend_from_slice(extra);
    let a = train(dir, &args).assert().success();
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

/// The summary line ("mean over …") of `roundtrip` through `weights`, `extra` added.
fn roundtrip_summary(weights: &std::path::Path, extra: &[&str]) -> String {
    let out = roundtrip(weights, extra)
        .assert()
        .success()
        .get_output()
        .clone();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("mean over"))
        .unwrap()
        .to_string()
}

/// The PSNR-RGB (dB) of a `roundtrip` summary line.
fn psnr_rgb(line: &str) -> f64 {
    line.split("PSNR-RGB ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn trains_on_cpu_checkpoints_and_resumes() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |steps: &str| {
        let a = train(
            &dir,
            &[
                "--steps",
                steps,
                "--log-every",
                "5",
                "--checkpoint-every",
                "10",
                "--lr",
                "3e-3",
                "--restart-every",
                "10",
            ],
        )
        .assert()
        .success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let first = run("40");
    let p = psnrs(&first);
    assert_eq!(p.len(), 8, "a log line every 5 steps: {first}");
    assert!(
        first.contains("usage") && first.contains("perplexity"),
        "{first}"
    );
    // training on one clip should fit it better than the k-means-initialised start
    let head = p[..2].iter().sum::<f64>() / 2.0;
    let tail = p[p.len() - 2..].iter().sum::<f64>() / 2.0;
    assert!(tail > head + 1.0, "PSNR should rise while training: {p:?}");
    for f in ["checkpoint.vqw", "model.vqw", "state.json"] {
        assert!(dir.join(f).exists(), "{f} should be written");
    }
    // the shippable f16 file loads as a model and round-trips the clip (in the `vqcodec` tool,
    // built with the workspace)
    roundtrip(&dir.join("model.vqw"), &[]).assert().success();
    let second = run("50");
    assert!(
        second.contains("resuming from") && second.contains("at step 40"),
        "{second}"
    );
    assert_eq!(
        psnrs(&second).len(),
        2,
        "resumed run should do steps 41..=50 only: {second}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The linear path starts at the pixel blocks' principal components: the first steps already
/// reconstruct far better than the same model started from random networks.
#[test]
fn linear_path_starts_at_principal_components() {
    at_root();
    let first_psnr = |linear: bool| {
        let dir = std::env::temp_dir().join(format!(
            "vqcodec-train-linear-{linear}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cmd = train(
            &dir,
            &[
                "--code-dim",
                "48",
                "--levels",
                "6",
                "--codebook-size",
                "32",
                "--steps",
                "2",
                "--log-every",
                "1",
            ],
        );
        if linear {
            cmd.arg("--linear-path");
        }
        let out = String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            out.contains("linear path: principal components"),
            linear,
            "{out}"
        );
        psnrs(&out)[0]
    };
    let (plain, linear) = (first_psnr(false), first_psnr(true));
    assert!(
        linear > plain + 5.0,
        "PCA start {linear:.2} dB against random start {plain:.2} dB"
    );
}

/// `--grow-levels` deepens a trained checkpoint's RVQ on resume: the new level starts fitted
/// to what the others leave, so the deeper model reconstructs better than its old depth.
#[test]
fn a_resumed_run_grows_the_rvq_and_the_new_level_pays() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-train-grow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |steps: &str, extra: &[&str]| train_log(&dir, steps, extra);
    // the linear path: a model that reconstructs well after a few steps, so that the RVQ and
    // not the networks decides the error
    run("20", &["--linear-path", "--code-dim", "32"]);
    let log = run("22", &["--grow-levels", "4"]);
    assert!(log.contains("grew the RVQ from 3 to 4 levels"), "{log}");
    // the f16 model: 4 levels now, and the 4th one lowers the error
    let psnr = |levels: Option<&str>| {
        let extra: &[&str] = match levels {
            Some(l) => &["--levels", l],
            None => &[],
        };
        let line = roundtrip_summary(&dir.join("model.vqw"), extra);
        assert_eq!(
            line.contains("4 levels"),
            levels.is_none(),
            "all levels of the grown model are 4: {line}"
        );
        psnr_rgb(&line)
    };
    let (three, four) = (psnr(Some("3")), psnr(None));
    eprintln!("grown model: 3 levels {three:.2} dB, 4 levels {four:.2} dB PSNR-RGB");
    assert!(
        four > three + 0.1,
        "4 levels {four:.2} dB vs 3 levels {three:.2} dB"
    );
    // the format's limit
    let stderr = stderr_of_failure(&mut train(&dir, &["--steps", "23", "--grow-levels", "16"]));
    assert!(stderr.contains("at most 15 levels"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A decoder-only run (`--freeze-encoder`) tunes the decoder and nothing else: the clip's
/// indices through the weights before and after are the same (streams keep their bits), and
/// its decoded pictures, fitted here to the clip itself (with the MS-SSIM and luma terms in the
/// loss), get better. A fresh run cannot be decoder-only.
#[test]
fn a_decoder_only_run_keeps_every_index() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-train-dec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |steps: &str, extra: &[&str]| train_log(&dir, steps, extra);
    run("30", &[]);
    let before = dir.join("before.vqw");
    std::fs::copy(dir.join("model.vqw"), &before).unwrap();
    let log = run(
        "60",
        &[
            "--freeze-encoder",
            "--msssim-weight",
            "0.01",
            "--luma-mse-weight",
            "1",
        ],
    );
    assert_eq!(psnrs(&log).len(), 6, "steps 31..=60 logged: {log}");
    let after = dir.join("model.vqw");
    let tokens = |weights: &std::path::Path| {
        let out = dir.join("tokens.npy");
        Command::cargo_bin("vqcodec")
            .unwrap()
            .args([
                "tokens",
                "tests/data/carphone_6f.y4m",
                "--backend",
                "cpu",
                "-o",
            ])
            .arg(&out)
            .arg("--weights")
            .arg(weights)
            .assert()
            .success();
        std::fs::read(&out).unwrap()
    };
    // compared without printing them: a mismatch would print both arrays whole
    assert!(
        tokens(&before) == tokens(&after),
        "the indices should not move"
    );
    let psnr = |weights: &std::path::Path| psnr_rgb(&roundtrip_summary(weights, &[]));
    let (old, new) = (psnr(&before), psnr(&after));
    eprintln!("decoder-only run: {old:.2} -> {new:.2} dB PSNR-RGB");
    assert!(
        new > old + 0.1,
        "the tuned decoder: {old:.2} -> {new:.2} dB"
    );
    std::fs::remove_dir_all(&dir).ok();
    let fresh = dir.with_extension("fresh");
    let stderr = stderr_of_failure(&mut train(&fresh, &["--steps", "2", "--freeze-encoder"]));
    assert!(stderr.contains("resume a checkpoint"), "{stderr}");
    std::fs::remove_dir_all(&fresh).ok();
}

/// The perplexities per level of a log's last line (`perplexity 49/94/117`).
fn last_perplexities(log: &str) -> Vec<f64> {
    let line = log.lines().rfind(|l| l.contains(" perplexity ")).unwrap();
    let field = line.split(" perplexity ").nth(1).unwrap();
    field
        .split(' ')
        .next()
        .unwrap()
        .split('/')
        .map(|v| v.parse().unwrap())
        .collect()
}

/// `--rate-lambda`: the same fresh run, once with rate-aware assignment, ends with indices
/// that are cheaper to send on every level (the perplexity of the codes' usage, 2^entropy);
/// a decoder-only run refuses it (it would move the indices), and negative weights are refused.
#[test]
fn a_rate_aware_run_uses_cheaper_codes() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-train-rate-{}", std::process::id()));
    let run = |lambda: &str| {
        let _ = std::fs::remove_dir_all(&dir);
        last_perplexities(&train_log(&dir, "40", &["--rate-lambda", lambda]))
    };
    let (plain, rated) = (run("0"), run("0.01"));
    eprintln!("perplexity per level: {plain:?} -> {rated:?}");
    assert_eq!(plain.len(), 3);
    for (p, r) in plain.iter().zip(&rated) {
        assert!(r < p, "perplexity per level: {plain:?} -> {rated:?}");
    }
    let stderr = stderr_of_failure(&mut train(
        &dir,
        &["--steps", "50", "--freeze-encoder", "--rate-lambda", "0.01"],
    ));
    assert!(stderr.contains("choose one"), "{stderr}");
    let stderr = stderr_of_failure(&mut train(&dir, &["--steps", "50", "--rate-lambda=-1"]));
    assert!(stderr.contains("finite number"), "{stderr}");
    let stderr = stderr_of_failure(&mut train(&dir, &["--steps", "50", "--luma-mse-weight=-1"]));
    assert!(stderr.contains("finite number"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A run that diverges (here a learning rate of 1e30) stops with an error at its next log
/// line and writes no checkpoint over the last good one.
#[test]
fn a_diverged_run_stops_without_writing() {
    at_root();
    let dir = std::env::temp_dir().join(format!("vqcodec-train-nan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = stderr_of_failure(
        train(&dir, &["--steps", "30", "--log-every", "5", "--lr", "1e30"])
            .env("RUST_BACKTRACE", "0"),
    );
    assert!(stderr.contains("not finite"), "{stderr}");
    assert!(!dir.join("checkpoint.vqw").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).ok();
}
