#!/usr/bin/env bash
# GPU timings of the whole codec on the device machine (the `device` tool): native burn-wgpu
# over Vulkan, the stand-in for WebGPU speed, and burn-flex on that machine's CPU. Needs,
# carried: .gl/ (Vulkan loader .debs) and .carry2/ (vqcodec.gz and vqcodec-lab.gz: stripped
# release binaries of `cargo build --release --workspace`; sample640.y4m.gz: www/sample.webm as
# 640x360 4:2:0 y4m, 120 frames).
#   run (device tool): bash scripts/device-bench.sh      carry: [".gl", ".carry2"]
# The output also goes to $OUT/device-bench.txt (kept as docs/results/device-bench.txt).
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-bench.txt") 2>&1
. scripts/device-preamble.sh
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader)
# f32 peak without tensor cores: H200 / H100 SXM 66.9 TFLOP/s, H100 PCIe 51.2
case "$gpu" in *PCIe*) peak=51.2 ;; *) peak=66.9 ;; esac
B=/tmp/vqcodec
echo "== per-stage timings, burn-wgpu over Vulkan (fusion + autotune)"
/tmp/vqcodec-lab bench --backend wgpu --frames 20 --batch 8 --peak-tflops $peak 2>/dev/null
echo "== per-stage timings, burn-flex on the host CPU"
/tmp/vqcodec-lab bench --backend cpu --frames 5 --batch 1 2>/dev/null
for model in base lite; do
  echo "== $model: vqcodec encode of the 640x360 clip, batch 1 and 8 (network time includes the decode for PSNR)"
  for batch in 1 8; do
    $B encode /tmp/clip.y4m -o /tmp/$model.vqc --backend wgpu --model $model --batch $batch -q 2>/dev/null | tail -2
  done
  echo "== $model: vqcodec decode"
  $B decode /tmp/$model.vqc -o /dev/null --backend wgpu -q 2>/dev/null | tail -2
done
