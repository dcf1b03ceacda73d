#!/usr/bin/env bash
# What building burn/cubecl at opt-level z (as the WebGPU module is) costs in per-frame host
# work, measured natively on the device machine (the `device` tool) as a stand-in for a browser
# with a real GPU: the same sources at opt-level 3 and at z (our crate at 3 in both), burn-wgpu
# over Vulkan, lite at 640x360, alternating binaries so drift hits both alike. Needs, carried:
# .gl/ (Vulkan loader .debs), .carry2/sample640.y4m.gz, and the stripped gzipped binaries of
# two builds of `cargo build --release --workspace`:
#   .carry2/{vqcodec,vqcodec-lab}-o3.gz  as it is
#   .carry2/{vqcodec,vqcodec-lab}-z.gz   with --config 'profile.release.opt-level="z"'
#                         --config 'profile.release.package.vqcodec.opt-level=3'
#                         --config 'profile.release.package.vqc.opt-level=3' (another CARGO_TARGET_DIR)
#   run (device tool): bash scripts/device-opt-level.sh      carry: [".gl", ".carry2"]
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-opt-level.txt") 2>&1
. scripts/device-preamble.sh
for round in 1 2 3; do
  for b in o3 z; do
    echo "== opt-level $b, round $round"
    "/tmp/vqcodec-lab-$b" bench --backend wgpu --frames 20 --batch 1 --sizes 640x360 --models lite 2>/dev/null
    "/tmp/vqcodec-$b" encode /tmp/clip.y4m -o "/tmp/$b.vqc" --backend wgpu --model lite --batch 1 -q 2>/dev/null | tail -2
    "/tmp/vqcodec-$b" decode "/tmp/$b.vqc" -o /dev/null --backend wgpu -q 2>/dev/null | tail -2
  done
done
cmp /tmp/o3.vqc /tmp/z.vqc && echo "the two builds wrote identical streams"
