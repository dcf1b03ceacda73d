#!/usr/bin/env bash
# The main job: install what is missing, build the wasm package, run the CLI once on the
# bundled test clip, then serve the demo page on http://127.0.0.1:${PORT:-8080}/www/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
bash scripts/build-wasm.sh
cargo build --release --features cli,wgpu,train,fusion
mkdir -p out
"$CARGO_TARGET_DIR/release/vqcodec" roundtrip tests/data/carphone_6f.y4m -o out/carphone_roundtrip.y4m --backend cpu --quiet
exec node scripts/serve.mjs "${PORT:-8080}"
