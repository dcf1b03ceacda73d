#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (the `device` tool), from the repository root: slices (bitstream
# version 8, docs/results/slices.md) on real footage through the CLI, as a user runs it — the
# 46-frame 1080×1920 phone clip encoded and decoded with one slice and with the default (four),
# both models, native burn-wgpu over Vulkan; then each wgpu decode compared with a CPU decode of
# the same stream (the same symbols and latents; the pixels within the networks' rounding).
# Needs, carried: .gl/ (Vulkan loader .debs) and .carry/ with vqcodec.xz (a stripped release
# build of `cargo build --release --workspace`, xz) and phone.mp4 (see device-profile.sh).
#   run (device tool): bash scripts/device-slices.sh      carry: [".gl", ".carry"]
# Prints, and writes to $OUT/device-slices.txt.
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-slices.txt") 2>&1
CARRY=.carry . scripts/device-preamble.sh
B=/tmp/vqcodec Q=${Q:-55}
python3 scripts/mp4-to-y4m.py .carry/phone.mp4 /tmp/p1080.y4m
compare() { # two y4m files of the same clip: the largest sample difference and the PSNR between them
  python3 - "$1" "$2" <<'EOF'
import sys, numpy as np
a, b = (np.frombuffer(open(p, "rb").read(), np.uint8) for p in sys.argv[1:3])
if a.size != b.size:
    print(f"sizes differ: {a.size} vs {b.size}")
else:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    mse = float((d.astype(np.float64) ** 2).mean())
    print(f"wgpu vs cpu decode: max |difference| {d.max()}, samples that differ {np.count_nonzero(d) / d.size:.4%}, PSNR between them {10 * np.log10(255 ** 2 / mse) if mse else float('inf'):.2f} dB")
EOF
}
for model in lite base; do
  for s in 1 0; do
    echo "== $model, --slices $s (0: the default)"
    for search in host device; do
      t0=$(date +%s%N)
      $B encode /tmp/p1080.y4m -o "/tmp/$model-$s-$search.vqc" --model "$model" --quality "$Q" --slices "$s" \
        --search "$search" --backend wgpu 2>&1 | grep -v XDG | tail -3
      echo "encode, search $search: $(( ($(date +%s%N) - t0) / 1000000 )) ms wall, $(stat -c %s "/tmp/$model-$s-$search.vqc") bytes"
    done
    for run in 1 2; do
      t0=$(date +%s%N)
      $B decode "/tmp/$model-$s-host.vqc" -o /dev/null --model "$model" --backend wgpu 2>&1 | grep -v XDG | tail -1
      echo "decode to /dev/null (run $run): $(( ($(date +%s%N) - t0) / 1000000 )) ms wall"
    done
    $B decode "/tmp/$model-$s-host.vqc" -o /tmp/gpu.y4m --model "$model" --backend wgpu >/dev/null 2>&1
    $B decode "/tmp/$model-$s-host.vqc" -o /tmp/cpu.y4m --model "$model" --backend cpu >/dev/null 2>&1
    compare /tmp/gpu.y4m /tmp/cpu.y4m
  done
done
