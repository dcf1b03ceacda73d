#!/usr/bin/env bash
# The high-fidelity qualities (81-100: the shipped models' enhancement coefficients) on the GPU
# machine (the `device` tool): the codec's GPU tests (a stream encoded on wgpu decodes on the CPU
# to the encoder's symbols, at the default and at quality 90), then `vqcodec encode` and
# `vqcodec decode` of a real 1080p clip on wgpu at the default (80) and at 90, both models:
# file size, PSNR and the per-frame times each prints.
# Needs, carried: .gl/ (Vulkan loader .debs) and $CARRY/ (default .carry6, git-ignored):
# vqcodec.xz (the stripped `vqcodec` of `cargo build --release --workspace`, xz), codectest.xz
# (stripped `cargo test --release --workspace --test codec --no-run`, xz), c1080.y4m.xz (a 1080p
# clip, a few frames).
#   run (device tool): bash scripts/device-fidelity.sh    carry: [".gl", ".carry6"]
# Knobs: QUALITIES (default "80 90"), MODELS (default "lite base"), TESTS (default 1).
# The output also goes to $OUT/device-fidelity.txt.
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-fidelity.txt") 2>&1
export CARRY=${CARRY:-.carry6}
. scripts/device-preamble.sh
xz -dc "$CARRY/c1080.y4m.xz" > /tmp/c1080.y4m
if [ -f /tmp/codectest ] && [ "${TESTS:-1}" = 1 ]; then
  echo "== the codec's tests that run on the GPU"
  /tmp/codectest --test-threads 1 --nocapture a_60_frame_gop streams_from_the_gpu device_search 2>&1 |
    grep -v XDG | tail -25
fi
for m in ${MODELS:-lite base}; do
  for q in ${QUALITIES:-80 90}; do
    echo "== $m, quality $q: encode, then decode, on wgpu"
    /tmp/vqcodec encode /tmp/c1080.y4m -o "/tmp/$m-$q.vqc" --model "$m" --quality "$q" \
      --backend wgpu 2>&1 | grep -v XDG | tail -6
    /tmp/vqcodec decode "/tmp/$m-$q.vqc" -o /tmp/out.y4m --reference /tmp/c1080.y4m \
      --backend wgpu 2>&1 | grep -v XDG | tail -4
  done
done
