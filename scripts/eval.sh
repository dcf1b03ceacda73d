#!/usr/bin/env bash
# Regenerates the measured rate–distortion docs on the held-out validation clips (carphone,
# coinpen, balle-jbart; fetched by scripts/fetch-training-data.sh), CPU backend, real file sizes:
#   bash scripts/eval.sh [ARGS…]          docs/results.md: vqcodec (base, lite) against x264,
#                                         x265, VP9 and SVT-AV1 from Debian's ffmpeg
#   bash scripts/eval.sh --adapt [ARGS…]  docs/adapt.md: each model with its own codebooks and
#                                         with codebooks adapted to each clip (64 frames, levels
#                                         0 by default, the codebook carried in every stream and counted)
# Other arguments go to `vqcodec-lab eval` (e.g. --frames 60).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
mode=(--models base,lite --codecs x264,x265,vp9,av1 -o docs/results --doc docs/results.md)
streams=vqcodec-eval-streams
if [ "${1:-}" = --adapt ]; then
  shift
  mode=(--models lite,base --adapt --codecs none -o docs/results/adapt --doc docs/adapt.md)
  streams=vqcodec-adapt-streams
fi
command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg; }
cargo build --release --workspace
clips=(data/y4m/carphone.y4m data/y4m/coinpen.y4m data/y4m/balle-jbart.y4m)
for c in "${clips[@]}"; do
  [ -f "$c" ] || bash scripts/fetch-training-data.sh
done
"$CARGO_TARGET_DIR/release/vqcodec-lab" eval "${clips[@]}" --backend cpu \
  --streams "${TMPDIR:-/tmp}/$streams" "${mode[@]}" "$@"
