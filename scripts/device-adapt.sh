#!/usr/bin/env bash
# Codebook adaptation timing on the device machine (the `device` tool), issue 6's target: 64
# frames at 640x360 in ≤ 10 s on the GPU, ≤ 60 s on the CPU. The encoder network runs on
# burn-wgpu over Vulkan (the stand-in for WebGPU) or burn-flex on the host CPU; k-means runs on
# the host CPU either way (one core), as it does in the browser's worker. Carry as for
# scripts/device-bench.sh: [".gl", ".carry2"]. Output also in $OUT/device-adapt.txt.
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-adapt.txt") 2>&1
. scripts/device-preamble.sh
B=/tmp/vqcodec
# wgpu twice: the first run in a fresh machine includes burn's autotuning of every kernel shape
# (cached on disk afterwards); the browser build has no autotune.
for backend in wgpu wgpu cpu; do
  for model in lite base; do
    echo "== adapt, $model on $backend: 64 of the clip's 120 frames, 640x360, levels 0-1, 8 iterations"
    t0=$(date +%s%N)
    $B adapt /tmp/clip.y4m -o /tmp/$model.codebook --frames 64 --backend $backend --model $model 2>&1 | grep -v '^\s*$'
    echo "wall $(( ($(date +%s%N) - t0) / 1000000 )) ms (the whole command: reading the clip, adapting, measuring PSNR)"
  done
done
for model in lite base; do
  echo "== encode with the codebook in the stream, $model on wgpu"
  $B encode /tmp/clip.y4m -o /tmp/$model-cb.vqc --backend wgpu --model $model --codebook /tmp/$model.codebook -q 2>&1 | tail -2
  $B decode /tmp/$model-cb.vqc -o /dev/null --backend wgpu --reference /tmp/clip.y4m -q 2>&1 | tail -1
done
