#!/usr/bin/env bash
# Training speed by convolution kernel (`vqcodec-lab train --conv direct|tiled`, issue 17; since
# 2026-12-07 `auto` is the tiled kernel on a GPU), on the GPU machine (the `device` tool): each
# preset trains from scratch for RUN seconds per kernel on one carried clip (the content does
# not matter for speed). Read the rate "since the last line" of the last lines (the log's first
# rate is a mean from the start and holds cubecl's tuning). Then the codec's GPU tests when the
# test binary is carried.
# Needs, carried: .gl/ (Vulkan loader .debs) and $CARRY/ (default .carry5, git-ignored):
# vqcodec-lab.xz (stripped lab binary of `cargo build --release --workspace`, xz), a clip as
# NAME.y4m.xz, and optionally codectest.xz (stripped `cargo test --release --workspace --test
# codec --no-run`, xz).
#   run (device tool): bash scripts/device-train-speed.sh    carry: [".gl", ".carry5"]
# With SOURCES=data/pack16 (carried; scripts/pack-training-data.sh's header) the runs crop the
# whole training set instead, as real training does (the codec test binary does not fit beside
# it: carry the lab binary alone in $CARRY).
# Knobs: RUN (seconds per run, default 45), KERNELS (default "direct tiled"), PRESETS (default
# "lite base lite64L"; lite64L = lite with 64 values, 12 levels of 256 codes and the linear path),
# BATCH (default 64), TESTS (default 1).
# The output also goes to $OUT/device-train-speed.txt.
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-train-speed.txt") 2>&1
export CARRY=${CARRY:-.carry5}
. scripts/device-preamble.sh
if [ -n "${SOURCES:-}" ]; then
  # the training set itself (a pack of pack-training-data.sh, carried): crops from 675 Mpx
  [ -f /tmp/data/manifest-train.txt ] || python3 scripts/decode_frames_cv2.py "$SOURCES" /tmp/data > /tmp/decode.log 2>&1
  manifest=/tmp/data/manifest-train.txt
else
  mkdir -p /tmp/tdata
  for c in "$CARRY"/*.y4m.xz; do
    [ -f "$c" ] || { echo "no clip in $CARRY (NAME.y4m.xz) and no SOURCES" >&2; exit 1; }
    xz -dc "$c" > "/tmp/tdata/$(basename "${c%.xz}")"
  done
  (cd /tmp/tdata && ls ./*.y4m) > /tmp/tdata/manifest.txt
  manifest=/tmp/tdata/manifest.txt
fi
RUN=${RUN:-45} BATCH=${BATCH:-64}
for preset in ${PRESETS:-lite base lite64L}; do
  args=(--preset "$preset")
  [ "$preset" = lite64L ] && args=(--preset lite --code-dim 64 --levels 12 --codebook-size 256 --linear-path)
  for k in ${KERNELS:-direct tiled}; do
    echo "== train $preset --conv $k (batch $BATCH, crop 128, ${RUN} s)"
    rm -rf "/tmp/run-$preset-$k"
    /tmp/vqcodec-lab train --data "$manifest" -o "/tmp/run-$preset-$k" "${args[@]}" \
      --conv "$k" --backend wgpu --steps 1000000 --time-budget 3600 --run-limit "$RUN" \
      --batch "$BATCH" --crop 128 --log-every 50 --checkpoint-every 1000000 2>&1 |
      grep -E "step|error|Error|panic|stopped" | tail -4
  done
done
if [ -f "$CARRY/codectest.xz" ] && [ "${TESTS:-1}" = 1 ]; then
  echo "== the codec's tests that run on the GPU"
  /tmp/codectest --test-threads 1 --nocapture a_60_frame_gop streams_from_the_gpu device_search 2>&1 |
    grep -v XDG | tail -25
fi
