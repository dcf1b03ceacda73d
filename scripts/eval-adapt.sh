#!/usr/bin/env bash
# Regenerates the measured part of docs/adapt.md: on the held-out validation clips, vqcodec
# (base and lite, CPU backend) with its own codebooks and with codebooks adapted to each clip
# (64 frames sampled across it, levels 0–1, the codebook carried in every stream and counted in
# its size); BD-rate / BD-PSNR of adapted against plain, tables, SVG plots, CSVs.
# Extra arguments go to `vqcodec eval` (e.g. --frames 60).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
cargo build --release --features cli,wgpu,train,fusion
clips=(data/y4m/carphone.y4m data/y4m/coinpen.y4m data/y4m/balle-jbart.y4m)
for c in "${clips[@]}"; do
  [ -f "$c" ] || bash scripts/fetch-training-data.sh
done
"$CARGO_TARGET_DIR/release/vqcodec" eval "${clips[@]}" \
  --models lite,base --adapt --codecs none --backend cpu \
  -o docs/results/adapt --streams "${TMPDIR:-/tmp}/vqcodec-adapt-streams" \
  --doc docs/adapt.md "$@"
