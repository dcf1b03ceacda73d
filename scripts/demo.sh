#!/usr/bin/env bash
# The main job: install what is missing, build the wasm package, run the CLI once on the
# bundled test clip (encode to .vqc and decode it back), then serve the demo page on http://127.0.0.1:${PORT:-8080}/www/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
bash scripts/build-wasm.sh
cargo build --release --workspace
mkdir -p out
B="$CARGO_TARGET_DIR/release/vqcodec"
"$B" encode tests/data/carphone_6f.y4m -o out/carphone.vqc --backend cpu --quiet
"$B" decode out/carphone.vqc -o out/carphone_decoded.y4m --backend cpu --quiet --reference tests/data/carphone_6f.y4m
exec node scripts/serve.mjs "${PORT:-8080}"
