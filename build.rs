//! Computes the shipped models' ids (the format's id hash, FNV-1a 64, of `weights/*.vqw`, as
//! `ModelId::of` computes it through `vqc::id_of`) so that a build without the weights embedded
//! (the wasm modules, which fetch them) still knows which file belongs to which model and
//! refuses any other. The hash is restated here rather than taken from the format crate: a build
//! dependency on it would build its cdylib twice under one file name. `tests/model.rs` checks
//! that the two agree on the shipped files.
use std::{env, fs, path::Path};

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn main() {
    let mut out = String::new();
    for (name, konst) in [("base", "BASE_ID"), ("lite", "LITE_ID")] {
        let path = format!("weights/{name}.vqw");
        println!("cargo:rerun-if-changed={path}");
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        out.push_str(&format!(
            "/// The id of `{path}`.\npub const {konst}: u64 = {:#018x};\n",
            fnv1a64(&bytes)
        ));
    }
    let dest = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("model_ids.rs");
    fs::write(dest, out).expect("write model_ids.rs");
}
