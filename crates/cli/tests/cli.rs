//! The `vqcodec` binary on checked-in clips (assert_cmd). Paths are the workspace root's.

use assert_cmd::Command;
use predicates::prelude::*;

/// Runs in the workspace root, where `tests/data/` is (cargo starts tests in the package's
/// folder; every test wants the same folder, so changing it once for the process is safe).
fn at_root() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .expect("the workspace root should exist");
    });
}

fn vqcodec() -> Command {
    at_root();
    Command::cargo_bin("vqcodec").expect("the vqcodec binary should be built")
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
    at_root();
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
    at_root();
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
    at_root();
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
    at_root();
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
    at_root();
    fails_with(
        &["roundtrip", "Cargo.toml", "-o", "-", "--backend", "cpu"],
        "is not a readable y4m file",
    );
}

#[test]
fn unsupported_colour_format_is_a_clear_error() {
    at_root();
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
    at_root();
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

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

/// The first number after `key` in `text`.
fn number_after(text: &str, key: &str) -> f64 {
    let rest = text
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("{key} in {text}"));
    rest.trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{key}: {e} in {text}"))
}

#[test]
fn encode_decode_info_and_tokens_agree_on_a_real_clip() {
    at_root();
    let vqc = tmp("carphone.vqc");
    let a = vqcodec()
        .args(["encode", "tests/data/carphone_6f.y4m", "-o"])
        .arg(&vqc)
        .args(["--backend", "cpu", "--keyint", "3", "--quality", "90"])
        .assert()
        .success();
    let enc = stdout_of(&a);
    let bytes = std::fs::metadata(&vqc).unwrap().len() as f64;
    // the reported rate is the file's size
    let summary = enc
        .lines()
        .find(|l| l.starts_with("6 frames"))
        .expect("summary");
    let bpp = number_after(summary, "bytes |");
    assert!(
        (bpp - bytes * 8.0 / (176.0 * 144.0 * 6.0)).abs() < 1e-3,
        "{enc}"
    );
    assert_eq!(
        enc.lines().filter(|l| l.starts_with("frame ")).count(),
        6,
        "{enc}"
    );
    let enc_psnr = number_after(summary, "PSNR-RGB");
    // without the PSNR pass: the same stream, and a report that says what it left out
    let quick = tmp("carphone-no-psnr.vqc");
    let b = vqcodec()
        .args(["encode", "tests/data/carphone_6f.y4m", "-o"])
        .arg(&quick)
        .args([
            "--backend",
            "cpu",
            "--keyint",
            "3",
            "--quality",
            "90",
            "--no-psnr",
        ])
        .assert()
        .success();
    let quiet = stdout_of(&b);
    assert_eq!(std::fs::read(&quick).unwrap(), std::fs::read(&vqc).unwrap());
    assert!(
        quiet.contains("PSNR not measured (--no-psnr)") && !quiet.contains("PSNR-Y"),
        "{quiet}"
    );

    let info = stdout_of(&vqcodec().arg("info").arg(&vqc).assert().success());
    assert!(
        info.contains("176x144") && info.contains("6 (2 key, 4 delta)"),
        "{info}"
    );
    let json: serde_json::Value = serde_json::from_slice(
        &vqcodec()
            .args(["info", "--json"])
            .arg(&vqc)
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    let chunk_bytes: u64 = json["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(chunk_bytes + 60, bytes as u64);

    let y4m = tmp("carphone-decoded.y4m");
    let dec = stdout_of(
        &vqcodec()
            .args(["decode"])
            .arg(&vqc)
            .arg("-o")
            .arg(&y4m)
            .args([
                "--backend",
                "cpu",
                "--reference",
                "tests/data/carphone_6f.y4m",
            ])
            .assert()
            .success(),
    );
    assert_eq!(y4m_info(&y4m).1, 6);
    // the decoder sees what the encoder reported
    assert!(
        (number_after(&dec, "PSNR-RGB") - enc_psnr).abs() < 0.01,
        "{enc}\n{dec}"
    );

    // tokens from the stream: a valid .npy of frames × levels × rows × columns
    let npy = tmp("carphone.npy");
    let modes_npy = tmp("carphone-modes.npy");
    vqcodec()
        .args(["tokens"])
        .arg(&vqc)
        .arg("-o")
        .arg(&npy)
        .arg("--modes")
        .arg(&modes_npy)
        .assert()
        .success();
    let raw_modes = std::fs::read(&modes_npy).unwrap();
    let mlen = u16::from_le_bytes([raw_modes[8], raw_modes[9]]) as usize;
    let mheader = std::str::from_utf8(&raw_modes[10..10 + mlen]).unwrap();
    assert!(
        mheader.contains("'|u1'") && mheader.contains("(6, 18, 22, 3)"),
        "{mheader}"
    );
    let body = &raw_modes[10 + mlen..];
    let modes: Vec<u8> = body.iter().step_by(3).copied().collect();
    let motions: Vec<u8> = body[1..].iter().step_by(3).copied().collect();
    let fars: Vec<u8> = body[2..].iter().step_by(3).copied().collect();
    assert_eq!(modes.len(), 6 * 18 * 22);
    // motions: none, four whole positions, or a fine motion of the shipped maps' range (±2 px:
    // 24); far motions: none or one of 80; intra positions never move
    assert!(
        motions
            .iter()
            .zip(&fars)
            .zip(&modes)
            .all(|((&v, &f), &m)| v < 5 + 24 && f <= 80 && (m != 0 || (v == 0 && f == 0)))
    );
    let raw = std::fs::read(&npy).unwrap();
    assert_eq!(&raw[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([raw[8], raw[9]]) as usize;
    let header = std::str::from_utf8(&raw[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'<i2'") && header.contains("(6, 3, 18, 22)"),
        "{header}"
    );
    assert_eq!((10 + hlen) % 64, 0);
    assert_eq!(raw.len(), 10 + hlen + 6 * 3 * 18 * 22 * 2);
    let values: Vec<i16> = raw[10 + hlen..]
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert!(
        values.iter().all(|&v| (-1..128).contains(&v)),
        "indices of a 128-code model, -1 where a position coded no index"
    );
    // a position's indices are one run of levels (from level 0 in keyframes, from its start
    // level in inter positions of delta frames, none for a copy) up to where its depth ended
    let plane = 18 * 22;
    for (f, frame) in values.chunks(3 * plane).enumerate() {
        for p in 0..plane {
            let depth: Vec<i16> = (0..3).map(|l| frame[l * plane + p]).collect();
            if f == 0 {
                assert_ne!(depth[0], -1, "a keyframe codes level 0 everywhere");
            }
            let runs = depth
                .windows(2)
                .filter(|w| w[0] == -1 && w[1] != -1)
                .count()
                + usize::from(depth[0] != -1);
            assert!(runs <= 1, "frame {f}: {depth:?}");
            // the mode says where the run starts: intra at 0, inter at its start, a copy none
            let first = depth.iter().position(|&v| v != -1);
            match modes[f * plane + p] {
                0 => assert_eq!(first, Some(0), "frame {f}: intra {depth:?}"),
                1 => assert_eq!(first, None, "frame {f}: copy {depth:?}"),
                m => assert_eq!(first, Some(usize::from(m - 2)), "frame {f}: {m} {depth:?}"),
            }
        }
    }
}

#[test]
fn a_cut_stream_decodes_up_to_the_cut_and_fails_naming_it() {
    at_root();
    let vqc = tmp("cut-source.vqc");
    vqcodec()
        .args(["encode", "tests/data/carphone_6f.y4m", "-o"])
        .arg(&vqc)
        .args(["--backend", "cpu", "-q"])
        .assert()
        .success();
    let bytes = std::fs::read(&vqc).unwrap();
    let cut = tmp("cut.vqc");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let y4m = tmp("cut.y4m");
    vqcodec()
        .arg("decode")
        .arg(&cut)
        .arg("-o")
        .arg(&y4m)
        .args(["--backend", "cpu", "-q"])
        .assert()
        .failure()
        .stderr(
            predicates::str::contains("the stream is cut at byte")
                .and(predicates::str::contains("after 5 complete chunks")),
        );
    assert_eq!(y4m_info(&y4m).1, 5);
    // a file that is not a stream, and a stream for weights that are not here
    fails_with(&["decode", "Cargo.toml", "-o", "-"], "not a vqcodec stream");
    let mut foreign = bytes.clone();
    foreign[12] ^= 1;
    let crc = crc32fast::hash(&foreign[..56]);
    foreign[56..60].copy_from_slice(&crc.to_le_bytes());
    let path = tmp("foreign.vqc");
    std::fs::write(&path, &foreign).unwrap();
    fails_with(
        &["decode", path.to_str().unwrap(), "-o", "-"],
        "not embedded here",
    );
}

#[test]
fn bitrate_mode_reports_its_target_and_error() {
    at_root();
    let a = vqcodec()
        .args([
            "encode",
            "tests/data/carphone_6f.y4m",
            "-o",
            "-",
            "--backend",
            "cpu",
            "--bitrate",
            "60",
            "-q",
        ])
        .assert()
        .success();
    let stderr = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("rate control: target 60.0 kbit/s, achieved"),
        "{stderr}"
    );
    let out = &a.get_output().stdout;
    assert_eq!(&out[..4], b"VQCV");
}

/// `adapt` on a real clip: k-means on 3 frames' latents lowers the quantisation error and raises
/// the full-depth PSNR on the 3 frames it did not learn from; the file has the documented size;
/// bad requests fail with a clear message.
#[test]
fn adapt_lowers_the_quantisation_error_and_raises_psnr_on_unseen_frames() {
    at_root();
    let out = tmp("carphone.codebook");
    let assert = vqcodec()
        .args([
            "adapt",
            "tests/data/carphone_6f.y4m",
            "--frames",
            "4",
            "--backend",
            "cpu",
        ])
        .args(["--model", "lite", "-o"])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let nums = |line: &str, after: &str| -> (f64, f64) {
        let l = stdout.lines().find(|l| l.starts_with(line)).expect(line);
        let s = l.split(after).nth(1).unwrap();
        let v: Vec<f64> = s
            .split(|c: char| c == ' ' || c == '→')
            .filter_map(|t| t.parse().ok())
            .take(2)
            .collect();
        (v[0], v[1])
    };
    let (mse0, mse1) = nums("latent quantisation MSE", "MSE ");
    assert!(mse1 < mse0 * 0.9, "{stdout}");
    let (p0, p1) = nums("full-depth PSNR-RGB", "other frames ");
    assert!(
        p1 > p0,
        "adapted codebook should help unseen frames: {stdout}"
    );
    // level 0 of the lite model (128 codes × 16 values), range-coded differences from the
    // trained codes: well under the 4 KiB the values would take in f16
    let file_len = std::fs::metadata(&out).unwrap().len();
    assert!((100..3000).contains(&file_len), "{file_len} bytes");
    vqcodec()
        .args(["adapt", "tests/data/carphone_6f.y4m", "--frames", "3", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("at least 4 frames"));
    vqcodec()
        .args([
            "adapt",
            "tests/data/carphone_6f.y4m",
            "--backend",
            "cpu",
            "--model",
            "lite",
        ])
        .args(["--levels", "5", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("level 5 does not exist"));

    // the codebook in a stream: encode --codebook, then info and decode read it from the header
    let vqc = tmp("carphone-cb.vqc");
    let enc = vqcodec()
        .args([
            "encode",
            "tests/data/carphone_6f.y4m",
            "--backend",
            "cpu",
            "--model",
            "lite",
        ])
        .args(["--quality", "80", "-q", "--codebook"])
        .arg(&out)
        .arg("-o")
        .arg(&vqc)
        .assert()
        .success();
    let enc_out = String::from_utf8(enc.get_output().stdout.clone()).unwrap();
    let psnr = |s: &str| -> f64 {
        let at = s.find("PSNR-RGB ").expect(s) + "PSNR-RGB ".len();
        s[at..].split(' ').next().unwrap().parse().unwrap()
    };
    let info = vqcodec().arg("info").arg(&vqc).assert().success();
    let info = String::from_utf8(info.get_output().stdout.clone()).unwrap();
    assert!(
        info.contains(&format!("levels [0] adapted ({file_len} bytes)")),
        "{info}"
    );
    let dec = vqcodec()
        .args([
            "decode",
            "--backend",
            "cpu",
            "-q",
            "--reference",
            "tests/data/carphone_6f.y4m",
        ])
        .arg(&vqc)
        .args(["-o", "/dev/null"])
        .assert()
        .success();
    let dec_out = String::from_utf8(dec.get_output().stdout.clone()).unwrap();
    assert!(
        (psnr(&enc_out) - psnr(&dec_out)).abs() < 0.01,
        "the decoder must use the stream's codebook, as the encoder did: {enc_out} / {dec_out}"
    );
    // a codebook for another model is refused with the reason
    vqcodec()
        .args([
            "encode",
            "tests/data/carphone_6f.y4m",
            "--backend",
            "cpu",
            "--model",
            "base",
        ])
        .arg("--codebook")
        .arg(&out)
        .arg("-o")
        .arg(tmp("refused.vqc"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("was made for model"));
}

/// `--backend auto` never picks a software GPU adapter (Mesa's lavapipe, which Debian installs
/// with Chromium: the network runs hundreds of times slower there than on the CPU backend), and
/// says what it chose and why. On a machine without a hardware GPU, auto must be the CPU.
#[test]
fn auto_never_picks_a_software_gpu_and_says_why() {
    at_root();
    let hardware_gpu = std::path::Path::new("/dev/nvidia0").exists()
        || std::fs::read_dir("/dev/dri").is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        });
    let software_icd = std::fs::read_dir("/usr/share/vulkan/icd.d").is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd"))
    });
    let out = tmp("auto.vqc");
    let a = vqcodec()
        .args([
            "encode",
            "tests/data/carphone_6f.y4m",
            "--frames",
            "1",
            "-q",
            "-o",
        ])
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    let line = stderr
        .lines()
        .find(|l| l.contains("| backend "))
        .expect("the backend line");
    if !hardware_gpu {
        assert!(line.contains("| backend cpu ("), "{line}");
    }
    if software_icd && !hardware_gpu {
        assert!(
            line.contains("software"),
            "the reason should name the software adapter: {line}"
        );
    }
    eprintln!("{line}");
}

#[test]
fn a_lookahead_encode_decodes_to_what_its_encoder_reported() {
    at_root();
    let (ahead, plain) = (tmp("ahead.vqc"), tmp("plain.vqc"));
    let encode_with = |out: &std::path::Path, lookahead: &str, workers: &str| {
        stdout_of(
            &vqcodec()
                .args(["encode", "tests/data/carphone_6f.y4m", "-o"])
                .arg(out)
                // a window (4) longer than the keyframe interval (3) and than a batch (1)
                .args(["--backend", "cpu", "--keyint", "3", "--quality", "50"])
                .args(["--batch", "1", "--lookahead", lookahead])
                .args(["--workers", workers])
                .assert()
                .success(),
        )
    };
    let encode = |out: &std::path::Path, lookahead: &str| encode_with(out, lookahead, "2");
    let enc = encode(&ahead, "4");
    encode(&plain, "0");
    // the stages overlapped or not: the same file, the same frames reported
    let (one, three) = (tmp("ahead-1.vqc"), tmp("ahead-3.vqc"));
    let frame_lines = |report: &str| -> Vec<String> {
        report
            .lines()
            .filter(|l| l.starts_with("frame "))
            .map(String::from)
            .collect()
    };
    for (path, workers) in [(&one, "1"), (&three, "3")] {
        let report = encode_with(path, "4", workers);
        assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&ahead).unwrap());
        assert_eq!(frame_lines(&report), frame_lines(&enc), "{workers} workers");
    }
    assert_eq!(
        enc.lines().filter(|l| l.starts_with("frame ")).count(),
        6,
        "{enc}"
    );
    assert_ne!(
        std::fs::read(&ahead).unwrap(),
        std::fs::read(&plain).unwrap()
    );
    let info = stdout_of(&vqcodec().arg("info").arg(&ahead).assert().success());
    assert!(info.contains("6 (2 key, 4 delta)"), "{info}");
    let summary = enc.lines().find(|l| l.starts_with("6 frames")).unwrap();
    let dec = stdout_of(
        &vqcodec()
            .arg("decode")
            .arg(&ahead)
            .args(["-o", "/dev/null", "--backend", "cpu"])
            .args(["--reference", "tests/data/carphone_6f.y4m"])
            .assert()
            .success(),
    );
    assert!(
        (number_after(summary, "PSNR-Y") - number_after(&dec, "PSNR-Y")).abs() < 0.01,
        "{enc}\n{dec}"
    );
}

#[test]
fn a_damaged_chunk_is_concealed_alike_with_any_number_of_network_workers() {
    at_root();
    let vqc = tmp("conceal-source.vqc");
    vqcodec()
        .args(["encode", "tests/data/carphone_6f.y4m", "-o"])
        .arg(&vqc)
        .args(["--backend", "cpu", "--keyint", "3", "-q"])
        .assert()
        .success();
    let info = stdout_of(
        &vqcodec()
            .args(["info", vqc.to_str().unwrap(), "--json"])
            .assert()
            .success(),
    );
    let json: serde_json::Value = serde_json::from_str(&info).unwrap();
    let chunk = &json["chunks"][1];
    assert_eq!(chunk["pts"], 1);
    // a flipped bit in frame 1's chunk costs frames 1 and 2 (deltas), frame 3 is a keyframe
    let mut bytes = std::fs::read(&vqc).unwrap();
    let at = chunk["offset"].as_u64().unwrap() + chunk["bytes"].as_u64().unwrap() / 2;
    bytes[at as usize] ^= 0x20;
    let bad = tmp("conceal.vqc");
    std::fs::write(&bad, &bytes).unwrap();
    let mut outputs = Vec::new();
    for workers in ["1", "3"] {
        let y4m = tmp(&format!("conceal-{workers}.y4m"));
        let a = vqcodec()
            .arg("decode")
            .arg(&bad)
            .arg("-o")
            .arg(&y4m)
            .args(["--backend", "cpu", "-q", "--workers", workers])
            .assert()
            .failure()
            .stderr(predicates::str::contains("the stream has 2 error(s)"));
        assert!(
            stdout_of(&a).contains("6 frames (2 concealed)"),
            "{}",
            stdout_of(&a)
        );
        let frames = std::fs::read(&y4m).unwrap();
        assert_eq!(y4m_info(&y4m).1, 6);
        outputs.push(frames);
    }
    assert!(
        outputs[0] == outputs[1],
        "1 and 3 workers should write the same y4m"
    );
    // the concealed frames repeat frame 0: the y4m's frames 0, 1 and 2 are the same bytes
    let frame_len =
        (outputs[0].len() - outputs[0].iter().position(|&b| b == b'\n').unwrap() - 1) / 6;
    let body = &outputs[0][outputs[0].len() - 6 * frame_len..];
    assert_eq!(body[..frame_len], body[frame_len..2 * frame_len]);
    assert_eq!(body[..frame_len], body[2 * frame_len..3 * frame_len]);
    assert_ne!(body[..frame_len], body[3 * frame_len..4 * frame_len]);
}

/// A reader that closes the pipe before the tool has written (`… -o - | head -c 0`) ends the
/// tool as it ends any Unix tool: by SIGPIPE, with nothing on stderr — not a panic in `println!`.
#[cfg(unix)]
#[test]
fn a_reader_that_stops_early_ends_the_tool_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    at_root();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vqcodec"))
        .args([
            "roundtrip",
            "tests/data/odd_37x29.y4m",
            "-o",
            "-",
            "--backend",
            "cpu",
            "--model",
            "lite",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first frame is written
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(13), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
