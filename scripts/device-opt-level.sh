#!/usr/bin/env bash
# What building burn/cubecl at opt-level z (as the WebGPU module is) costs in per-frame host
# work, measured natively on the device machine (the `device` tool) as a stand-in for a browser
# with a real GPU: the same sources at opt-level 3 and at z (our crate at 3 in both), burn-wgpu
# over Vulkan, lite at 640x360, alternating binaries so drift hits both alike. Needs, carried:
# .gl/ (Vulkan loader .debs), .carry2/sample640.y4m.gz, and the two stripped gzipped binaries:
#   .carry2/vqcodec-o3.gz  cargo build --release --features cli,wgpu,train,fusion
#   .carry2/vqcodec-z.gz   the same with --config 'profile.release.opt-level="z"'
#                          --config 'profile.release.package.vqcodec.opt-level=3'
#                          (and another CARGO_TARGET_DIR)
#   run (device tool): bash scripts/device-opt-level.sh      carry: [".gl", ".carry2"]
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-opt-level.txt") 2>&1
. scripts/device-vulkan.sh
for b in o3 z; do gunzip -c ".carry2/vqcodec-$b.gz" > "/tmp/$b" && chmod +x "/tmp/$b"; done
nvidia-smi --query-gpu=name --format=csv,noheader
for round in 1 2 3; do
  for b in o3 z; do
    echo "== opt-level $b, round $round"
    "/tmp/$b" bench --backend wgpu --frames 20 --batch 1 --sizes 640x360 --models lite 2>/dev/null
    "/tmp/$b" encode /tmp/clip.y4m -o "/tmp/$b.vqc" --backend wgpu --model lite --batch 1 -q 2>/dev/null | tail -2
    "/tmp/$b" decode "/tmp/$b.vqc" -o /dev/null --backend wgpu -q 2>/dev/null | tail -2
  done
done
cmp /tmp/o3.vqc /tmp/z.vqc && echo "the two builds wrote identical streams"
