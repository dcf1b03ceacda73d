#!/usr/bin/env bash
# All tests: the workspace's Rust tests (format crate, engine, CLI and lab tools; CPU backend,
# checked-in clips and conformance vectors), then the wasm package build and the browser tests in
# headless Chromium (the demo page and the package's own API page). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
echo "== cargo test (target dir $CARGO_TARGET_DIR)"
cargo test --release --workspace
echo "== wasm package"
bash scripts/build-wasm.sh
echo "== browser tests"
node tests/browser/run.mjs
