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
