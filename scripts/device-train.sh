#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (the `device` tool), from the repository root:
#   bash scripts/device-train.sh TOTAL_SECONDS RUN_LIMIT_SECONDS PRESET [PRESET…]
# Trains the presets side by side on the one GPU (burn-wgpu over Vulkan, fusion + autotune),
# then evaluates each on the validation clips (all frames, every RVQ depth).
# Needs, carried: .gl/ (Vulkan loader .debs), .carry/vqcodec.gz and .carry/vqcodec-lab.gz
# (stripped release binaries of `cargo build --release --workspace`), .carry/sources/ (from
# fetch-training-data.sh), and optionally .carry/resume/PRESET/{checkpoint.vqw,state.json} to
# continue a run.
# Writes $OUT/PRESET/{train.log,eval.log,checkpoint.vqw,state.json,model.vqw}; SKIP_EVAL=1 skips the
# evaluation (then run it here on the CPU: docs/model.md has the commands).
set -uo pipefail
total=$1 limit=$2
shift 2
CARRY=.carry . scripts/device-preamble.sh
t0=$(date +%s)
[ -d /tmp/data/y4m ] || python3 scripts/decode_frames_cv2.py .carry/sources /tmp/data > /tmp/decode.log 2>&1
echo "data decoded in $(( $(date +%s) - t0 ))s: $(tail -1 /tmp/decode.log)"
for preset in "$@"; do
  mkdir -p "$OUT/$preset"
  if [ -f ".carry/resume/$preset/checkpoint.vqw" ]; then
    cp ".carry/resume/$preset/checkpoint.vqw" ".carry/resume/$preset/state.json" "$OUT/$preset/"
  fi
  /tmp/vqcodec-lab train --data /tmp/data/manifest-train.txt -o "$OUT/$preset" --preset "$preset" --backend wgpu \
    --steps 1000000 --time-budget "$total" --run-limit "$limit" --batch 64 --crop 128 --log-every 100 \
    --checkpoint-every 1000 --frame-stride 2 ${TRAIN_ARGS:-} > "$OUT/$preset/train.log" 2>&1 &
done
wait
[ -n "${SKIP_EVAL:-}" ] && { for p in "$@"; do grep -v XDG_RUNTIME_DIR "$OUT/$p/train.log" | tail -3; done; exit 0; }
for preset in "$@"; do
  echo "== $preset"; grep -v XDG_RUNTIME_DIR "$OUT/$preset/train.log" | tail -4
  for clip in $(sed 's|y4m/||; s|\.y4m||' /tmp/data/manifest-val.txt); do
    echo "-- $clip" >> "$OUT/$preset/eval.log"
    /tmp/vqcodec roundtrip "/tmp/data/y4m/$clip.y4m" -o /dev/null --weights "$OUT/$preset/model.vqw" \
      --backend wgpu --all-levels --batch 8 --quiet 2>/dev/null >> "$OUT/$preset/eval.log"
  done
  cat "$OUT/$preset/eval.log"
done
echo "total $(( $(date +%s) - t0 ))s"
