#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (the `device` tool), from the repository root:
#   bash scripts/device-train.sh TOTAL_SECONDS RUN_LIMIT_SECONDS RUN [RUN…]
# RUN is NAME=PRESET[:ARG,ARG…], e.g. `wide=base:--code-dim,64,--levels,12,--codebook-size,256`
# (overrides of the preset's sizes for a fresh run; a resumed run keeps its checkpoint's), or
# just PRESET (NAME = PRESET). The runs train side by side on the one GPU (burn-wgpu over
# Vulkan, fusion + autotune), then each is measured with `vqcodec-lab ceiling` on the
# validation clips (unquantized and every RVQ depth, on the GPU, the first CEIL_FRAMES frames,
# default 48: its MS-SSIM runs on the host, ~1.3 s per 720×576 frame at 12 levels, so whole
# clips do not fit a 10-minute call; measure whole clips on the CPU afterwards).
# Needs, carried: .gl/ (Vulkan loader .debs), .carry/vqcodec-lab.xz (stripped release build of
# `cargo build --release --workspace`, `xz -9e`: the carry limit is tight), the training pack
# (SOURCES, default data/pack, written by pack-training-data.sh; decoded once per machine to
# /tmp/data). A run continues from /tmp/runs/NAME (the same machine, still warm), else from
# .carry/resume/NAME.tar (a run folder this script returned), else from the committed
# weights/checkpoints/v2/NAME/ (checkpoint.vqw + state.json).
# Carry budget (64 MiB for everything that travels). Since 2026-12-06 (lab binary 18.8 MB at
# `xz -9e`, tree 10.5 MB): carry the CRF 16 pack (pack-training-data.sh's header; 31.1 MB) as
# data/pack16 with SOURCES=data/pack16, i.e. carry [".gl", ".carry", "data/pack16"] — 61 MB.
# Checked on an H100 that day: `SKIP_EVAL=1 SOURCES=data/pack16 bash scripts/device-train.sh 70
# 70 smoke=lite` decoded the pack in 5 s (1,651 frames, 675.4 Mpx) and trained 501 steps of a
# fresh lite in 70 s (7.5 Mpx/s alone), 107 s for the call's command.
# Before that: pack 43.8 MiB + vqcodec-lab.xz 13.2 MiB +
# .gl 0.4 MiB + the tracked tree (6.1 MiB with two committed checkpoints) is over it: with SKIP_EVAL,
# carry a copy of the pack without its val rows and clips (41.7 MiB; docs/results/lite-ft.md did,
# as .carry/pack with SOURCES=.carry/pack). With three committed checkpoints (base's 2.9 MB since
# 2026-12-05) that is still over: the working tree travels as it is, so move what the run does
# not read out of it for the calls (docs/results/base-ft.md moved weights/checkpoints/ and
# weights/base.vqw aside, the run's own checkpoint in .carry/resume/NAME.tar) and put it back.
# Writes $OUT/NAME.tar (train.log, ceiling.txt, checkpoint.vqw, state.json, model.vqw) per run;
# SKIP_EVAL=1 skips the ceiling; TRAIN_ARGS are added to every run's `train` command.
# A run with the MS-SSIM term (`--msssim-weight`) needs the lab built without burn's fusion,
# which computes that term wrong on wgpu (docs/results/lite-ft.md): carry
# `cargo build --release -p vqcodec-lab --no-default-features` (its own CARGO_TARGET_DIR) as
# .carry/vqcodec-lab.xz; a build with fusion refuses such a run.
set -uo pipefail
total=$1 limit=$2
shift 2
CARRY=.carry . scripts/device-preamble.sh
SOURCES=${SOURCES:-data/pack}
t0=$(date +%s)
[ -f /tmp/data/manifest-train.txt ] || python3 scripts/decode_frames_cv2.py "$SOURCES" /tmp/data > /tmp/decode.log 2>&1
echo "data ready in $(( $(date +%s) - t0 ))s: $(tail -1 /tmp/decode.log)"
names=()
for run in "$@"; do
  name=${run%%=*} spec=${run#*=}
  preset=${spec%%:*} extra=""
  [ "$spec" != "$preset" ] && extra=${spec#*:}
  names+=("$name")
  dir=/tmp/runs/$name
  mkdir -p "$dir"
  # resume: this machine's own run, else a carried run folder, else the committed checkpoint
  if [ ! -f "$dir/checkpoint.vqw" ]; then
    if [ -f ".carry/resume/$name.tar" ]; then tar -xf ".carry/resume/$name.tar" -C "$dir"
    elif [ -f "weights/checkpoints/v2/$name/checkpoint.vqw" ]; then cp weights/checkpoints/v2/"$name"/* "$dir/"; fi
  fi
  # shellcheck disable=SC2086
  /tmp/vqcodec-lab train --data /tmp/data/manifest-train.txt -o "$dir" --preset "$preset" ${extra//,/ } \
    --backend wgpu --steps 1000000 --time-budget "$total" --run-limit "$limit" --batch 64 --crop 128 \
    --log-every 100 --checkpoint-every 1000 ${TRAIN_ARGS:-} >> "$dir/train.log" 2>&1 &
done
wait
for name in "${names[@]}"; do
  dir=/tmp/runs/$name
  [ -n "${SKIP_EVAL:-}" ] && continue
  # the ceilings side by side (MS-SSIM runs on the host, one core per model)
  /tmp/vqcodec-lab ceiling $(sed 's|^|/tmp/data/|' /tmp/data/manifest-val.txt) --models "$dir/model.vqw" \
    --frames "${CEIL_FRAMES:-48}" --backend wgpu --batch 8 > "$dir/ceiling.txt" 2>&1 &
done
wait
for name in "${names[@]}"; do
  dir=/tmp/runs/$name
  echo "== $name"; grep -v XDG_RUNTIME_DIR "$dir/train.log" | grep -v 'restarted dead codes' | tail -2 | cut -c1-300
  [ -f "$dir/ceiling.txt" ] && grep '^|' "$dir/ceiling.txt" | cut -c1-600
  tar -cf "$OUT/$name.tar" -C "$dir" .
done
echo "total $(( $(date +%s) - t0 ))s"
