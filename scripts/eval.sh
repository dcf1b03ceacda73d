#!/usr/bin/env bash
# Regenerates the measured part of docs/results.md (tables, BD-rates, SVG plots, CSVs) on the
# held-out validation clips: vqcodec (base and lite, CPU backend) against x264, x265, VP9 and
# SVT-AV1 from Debian's ffmpeg. Extra arguments go to `vqcodec eval` (e.g. --frames 60).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg; }
cargo build --release --features cli,wgpu,train,fusion
clips=(data/y4m/carphone.y4m data/y4m/coinpen.y4m data/y4m/balle-jbart.y4m)
for c in "${clips[@]}"; do
  [ -f "$c" ] || bash scripts/fetch-training-data.sh
done
"$CARGO_TARGET_DIR/release/vqcodec" eval "${clips[@]}" \
  --models base,lite --backend cpu \
  -o docs/results --streams "${TMPDIR:-/tmp}/vqcodec-eval-streams" \
  --doc docs/results.md "$@"
