#!/usr/bin/env bash
# The networks' convolutions as burn's direct kernel against matrix products (`vqcodec-lab bench
# --conv direct|gemm`, issue 17), on the GPU machine (the `device` tool), then the codec's GPU
# tests with the default (matrix products on the GPU): a 60-frame GOP decoded on wgpu within ±1
# of the CPU, wgpu- and CPU-encoded streams decoding to their symbols, the device search.
# When $CARRY holds Dawn (node.xz and webgpu/, as scripts/device-dawn.sh describes), each WebGPU
# module there ($CARRY/pkg*/: vqcodec.js, vqcodec_bg.wasm.gz, weights/) also runs through it
# (benches/dawn.mjs), e.g. pkg/ of this build and pkg-direct/ of the previous one; a module with
# cpu/ beside it (the CPU module) also times the stream with its symbols on a worker thread.
# Needs, carried: .gl/ (Vulkan loader .debs) and $CARRY/ (default .carry2, git-ignored):
# vqcodec-lab.xz (the stripped lab binary of `cargo build --release --workspace`, xz), and for
# the tests codectest.xz (the stripped test binary of `cargo test --release --workspace --test
# codec --no-run`, xz).
#   run (device tool): bash scripts/device-conv.sh    carry: [".gl", ".carry2"]
#   CARRY=.carry3 TESTS=0 bash scripts/device-conv.sh    carry: [".gl", ".carry3"]
# Knobs: SIZES (default 640x360,1920x1080), MODELS (default base,lite), FRAMES (default 20),
# KERNELS (default "direct gemm"; also tiled), TESTS (default 1; 0 skips the tests), DAWN (default 1;
# 0 skips the WebGPU modules).
# The output also goes to $OUT/device-conv.txt.
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-conv.txt") 2>&1
export CARRY=${CARRY:-.carry2}
. scripts/device-preamble.sh
SIZES=${SIZES:-640x360,1920x1080} MODELS=${MODELS:-base,lite} FRAMES=${FRAMES:-20}
for k in ${KERNELS:-direct gemm}; do
  [ -f /tmp/vqcodec-lab ] || break
  echo "== vqcodec-lab bench --conv $k"
  /tmp/vqcodec-lab bench --backend wgpu --conv "$k" --models "$MODELS" --sizes "$SIZES" \
    --frames "$FRAMES" --batch 8 --peak-tflops 66.9 2>/dev/null
done
if [ -f "$CARRY/node.xz" ] && [ "${DAWN:-1}" = 1 ]; then
  xz -dc "$CARRY/node.xz" > /tmp/node && chmod +x /tmp/node
  mkdir -p /tmp/webgpu/dist/linux-x64
  cp "$CARRY"/webgpu/index.js "$CARRY"/webgpu/package.json /tmp/webgpu/
  gunzip -c "$CARRY"/webgpu/dist/linux-x64/dawn.node.gz > /tmp/webgpu/dist/linux-x64/dawn.node
  for p in "$CARRY"/pkg*/; do
    name=$(basename "$p")
    # a module without its own weights runs the first one's
    mkdir -p "/tmp/$name" && cp -r "$p/vqcodec.js" "/tmp/$name/"
    cp -r "$( [ -d "$p/weights" ] && echo "$p" || echo "$CARRY/pkg")/weights" "/tmp/$name/"
    gunzip -c "$p/vqcodec_bg.wasm.gz" > "/tmp/$name/vqcodec_bg.wasm"
    # with the CPU module (cpu/: vqcodec.js, vqcodec_bg.wasm.gz) the stream is also timed with
    # its symbols on a worker thread
    if [ -f "$p/cpu/vqcodec_bg.wasm.gz" ]; then
      mkdir -p "/tmp/$name/cpu" && cp "$p/cpu/vqcodec.js" "/tmp/$name/cpu/"
      gunzip -c "$p/cpu/vqcodec_bg.wasm.gz" > "/tmp/$name/cpu/vqcodec_bg.wasm"
    fi
    echo "== real WebGPU (Dawn under Node), the WebGPU module of $CARRY/$name"
    /tmp/node benches/dawn.mjs /tmp/webgpu "/tmp/$name" "$MODELS" "$SIZES"
  done
fi
if [ -f "$CARRY/codectest.xz" ] && [ "${TESTS:-1}" = 1 ]; then
  echo "== the codec's tests that run on the GPU (convolutions: auto)"
  /tmp/codectest --test-threads 1 a_60_frame_gop streams_from_the_gpu device_search 2>&1 |
    grep -v XDG | tail -15
fi
