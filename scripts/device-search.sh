#!/usr/bin/env bash
# The encoder's search on the device against the host's (issue 17), on the GPU machine (the
# `device` tool): per-stage timings of both (synthetic frames, `vqcodec-lab bench`), both on the
# real 640x360 clip (file size, PSNR, time per frame), and the tests that a device-searched
# stream decodes on the CPU to the encoder's symbols and that the GPU and CPU searches agree.
# Needs, carried: .gl/ (Vulkan loader .debs) and $CARRY/ (default .carry2, git-ignored: vqcodec.xz, vqcodec-lab.xz: stripped
# release binaries of `cargo build --release --workspace`; codectest.xz: the stripped test binary
# of tests/codec.rs, `cargo test --release --workspace --test codec --no-run`; sample640.y4m.gz:
# www/sample.webm as 640x360 4:2:0 y4m, 120 frames).
#   run (device tool): bash scripts/device-search.sh    carry: [".gl", ".carry2"]
# The output also goes to $OUT/device-search.txt (kept as docs/results/device-search.txt).
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-search.txt") 2>&1
export CARRY=${CARRY:-.carry2}
. scripts/device-preamble.sh
B=/tmp/vqcodec
echo "== per-stage timings, burn-wgpu over Vulkan: the host's search and the device's"
/tmp/vqcodec-lab bench --backend wgpu --models lite,base --sizes 640x360,1920x1080 --frames 10 \
  --batch 1 --peak-tflops 66.9 2>/dev/null
for model in lite base; do
  for search in host device; do
    echo "== $model, search on the $search: vqcodec encode of the 640x360 clip (quality 55, keyint 60, no lookahead)"
    $B encode /tmp/clip.y4m -o /tmp/$model-$search.vqc --backend wgpu --model $model --quality 55 \
      --keyint 60 --lookahead 0 --batch 1 --search $search -q 2>/dev/null | tail -3
    $B decode /tmp/$model-$search.vqc -o /dev/null --reference /tmp/clip.y4m --backend cpu 2>/dev/null | tail -1
  done
done
echo "== tests on the GPU"
/tmp/codectest --test-threads 1 device_search streams_from_the_gpu 2>&1 | grep -v XDG | tail -15
