#!/usr/bin/env bash
# GPU timings of the whole codec on the device machine (the `device` tool): native burn-wgpu
# over Vulkan, the stand-in for WebGPU speed. Needs, carried: .gl/ (Vulkan loader .debs) and
# .carry2/ (vqcodec.gz: a stripped release binary built with --features cli,wgpu,train,fusion;
# sample640.y4m.gz: www/sample.webm as 640x360 4:2:0 y4m, 120 frames).
#   run: bash scripts/device-bench.sh
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
gunzip -c .carry2/vqcodec.gz > /tmp/vqcodec && chmod +x /tmp/vqcodec
gunzip -c .carry2/sample640.y4m.gz > /tmp/clip.y4m
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
B=/tmp/vqcodec
for model in base lite; do
  echo "== $model: model alone (encoder+RVQ+decoder, one frame per call)"
  $B bench --backend wgpu --model $model --width 640 --height 360 --frames 30 2>/dev/null
  for batch in 1 8; do
    echo "== $model: vqcodec encode, batch $batch (network time includes the decode for PSNR)"
    $B encode /tmp/clip.y4m -o /tmp/$model.vqc --backend wgpu --model $model --batch $batch -q 2>/dev/null | tail -2
  done
  echo "== $model: vqcodec decode"
  $B decode /tmp/$model.vqc -o /dev/null --backend wgpu -q 2>/dev/null | tail -2
done
