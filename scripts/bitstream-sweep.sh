#!/usr/bin/env bash
# Encodes each validation clip at several quality steps and prints a markdown table of real
# file sizes and PSNR (the table in docs/bitstream.md). Needs scripts/fetch-training-data.sh's
# data/y4m/ and a release build (cargo build --release --workspace).
#   bash scripts/bitstream-sweep.sh [CLIPS...]   (default: carphone coinpen balle-jbart)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${VQCODEC:-${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}/release/vqcodec}
clips=("$@"); [ ${#clips[@]} -gt 0 ] || clips=(carphone coinpen balle-jbart)
mkdir -p out/sweep
echo "| clip | quality | frames (key) | bytes | bpp | PSNR-RGB dB | PSNR-Y dB | raw token rate ÷ bpp |"
echo "|---|---|---|---|---|---|---|---|"
for clip in "${clips[@]}"; do
  for q in ${QUALITIES:-100 95 90 80 70 60 40 20}; do
    line=$("$B" encode "data/y4m/$clip.y4m" -o "out/sweep/$clip-q$q.vqc" --backend cpu --quality "$q" -q 2>/dev/null | grep ' frames (' | tail -1)
    # "N frames (K key, C at scene cuts) | BYTES bytes | BPP bpp = … | PSNR-RGB X dB  PSNR-Y Y dB | Rx below …"
    echo "$line" | sed -E "s/^([0-9]+) frames \(([0-9]+) key[^|]*\| ([0-9]+) bytes \| ([0-9.]+) bpp[^|]*\| PSNR-RGB ([0-9.]+) dB  PSNR-Y ([0-9.]+) dB \| ([0-9.]+)x.*/| $clip | $q | \1 (\2) | \3 | \4 | \5 | \6 | \7 |/"
  done
done
