#!/usr/bin/env bash
# All tests: Rust unit/integration tests (CPU backend, the CLI on checked-in clips), then the
# wasm package build and the browser test in headless Chromium. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
echo "== cargo test (target dir $CARGO_TARGET_DIR)"
cargo test --release --features cli,wgpu,train,fusion
echo "== wasm package"
bash scripts/build-wasm.sh
echo "== browser test"
node tests/browser/run.mjs
