//! Shared by the lab's tests.

/// Runs in the workspace root, where `tests/data/` is (cargo starts tests in the package's
/// folder; every test wants the same folder, so changing it once for the process is safe).
pub fn at_root() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .expect("the workspace root should exist");
    });
}

/// Encodes the checked-in 6-frame clip with `weights` (and `args`, e.g. a quality) into
/// `stream`, decodes it with the same weights against the source, and returns the stream's
/// bytes and the decoder's summary line.
#[allow(dead_code)] // not every test binary that shares this module calls it
pub fn encode_and_decode(
    weights: &std::path::Path,
    stream: &std::path::Path,
    args: &[&str],
) -> (Vec<u8>, String) {
    use assert_cmd::Command;
    const CLIP: &str = "tests/data/carphone_6f.y4m";
    Command::cargo_bin("vqcodec")
        .unwrap()
        .args(["encode", CLIP, "--backend", "cpu"])
        .args(args)
        .arg("--weights")
        .arg(weights)
        .arg("-o")
        .arg(stream)
        .assert()
        .success();
    let decoded = Command::cargo_bin("vqcodec")
        .unwrap()
        .args(["decode", "--backend", "cpu", "--reference", CLIP])
        .arg(stream)
        .arg("--weights")
        .arg(weights)
        .args(["-o", "/dev/null"])
        .assert()
        .success();
    (
        std::fs::read(stream).unwrap(),
        String::from_utf8_lossy(&decoded.get_output().stdout).to_string(),
    )
}

/// The shipped lite without its enhancement (`vqcodec-lab enhance --weights lite --dims 0`),
/// written into `dir`: a model of its networks' values alone, as the lite was before it had
/// one (the tools that fit a model's parts are tested on it).
#[allow(dead_code)] // not every test binary that shares this module calls it
pub fn plain_lite(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("lite-plain.vqw");
    assert_cmd::Command::cargo_bin("vqcodec-lab")
        .unwrap()
        .args(["enhance", "--weights", "lite", "--dims", "0", "-o"])
        .arg(&file)
        .assert()
        .success();
    file
}
