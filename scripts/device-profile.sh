#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (the `device` tool), from the repository root: where a 1080p frame's
# time goes in native burn-wgpu (issue 17). Needs, carried: .gl/ (Vulkan loader .debs) and
# .carry2/ with vqcodec.xz and vqcodec-lab.xz (stripped release builds of `cargo build --release
# --workspace`, `xz -9`) and phone.mp4 (data/x/moviepy-2.1.2/media/rotated-90-degrees.mp4: 46
# frames of 1920x1080 phone video, H.264; made a y4m here with OpenCV, no rotation applied).
#   run (device tool): bash scripts/device-profile.sh      carry: [".gl", ".carry2"]
# First run on 2026-12-05 (docs/results/device-profile.md), which found cubecl's throughput
# probes and autotuning in a profile run from another directory; the profile now runs here.
# Prints, and writes to $OUT/device-profile.txt:
#   1. `vqcodec-lab bench` at 1920x1080 (synthetic frames; per stage, both models);
#   2. the CLI on the real clip: `vqcodec encode` (ENCODES below) and `vqcodec decode` twice to
#      y4m and once to /dev/null, wall time beside the codec's own report (the decode's first
#      frame apart from the median of its stages: symbols, decoder network, output);
#   3. a kernel profile of that decode and of 12 frames' encode (cubecl times every launch on
#      the device: scripts/cubecl-profile-summary.py), per frame, after step 2's unprofiled runs
#      and in the same directory, so with their autotune results and throughput probes cached.
#   4. start-up: part 2's stream decoded from a directory outside any cargo workspace, where a
#      build with the `gpu-cache` feature keeps cubecl's tuning in ~/.cache/cubecl: three runs
#      from an empty cache, then (with PREV) the previous build's twice.
# Knobs (environment): PARTS (default "1 2 3"), MODELS (default "lite base"), SIZES (part 1's
# frame sizes; default 1920x1080), BATCH (part 1's --batch; default 8), DECODES (part 2's decode
# options, separated by "|", each run to a y4m and to /dev/null; default the defaults; "-": no
# decodes, and then no part 3 either), PREV (set
# when .carry2 holds a previous build as vqcodec-prev.xz: part 2 times its decode of the same
# stream first and compares the y4m, to compare builds in one call), PROFILES (part 3's
# commands; default "decode encode"), FRAMES (part 2's
# encodes code at most this many frames; default all), ENCODES (part 2's encoder options,
# separated by "|"; default the search on the device, batch 1, batch 8, batch 1 without PSNR;
# each line ends with the file's md5, to see which options make the same file; the decodes read
# the last one's stream; part 3 profiles the decode of part 2's stream, so it
# runs with part 2, not alone).
# Part 4 needs part 2 (its stream) in the same call.
# E.g. `PARTS=2 FRAMES=24 ENCODES="--search device --no-psnr|--no-psnr" bash scripts/device-profile.sh`
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-profile.txt") 2>&1
PARTS=${PARTS:-1 2 3} MODELS=${MODELS:-lite base}
ENCODES=${ENCODES:---search device --no-psnr|--batch 1|--batch 8|--batch 1 --no-psnr}
SIZES=${SIZES:-1920x1080} BATCH=${BATCH:-8} DECODES=${DECODES:-} PROFILES=${PROFILES:-decode encode}
frames_opt=()
[ -n "${FRAMES:-}" ] && frames_opt=(--frames "$FRAMES")
CARRY=.carry2 . scripts/device-preamble.sh
B=/tmp/vqcodec L=/tmp/vqcodec-lab Q=${Q:-55}
python3 scripts/mp4-to-y4m.py .carry2/phone.mp4 /tmp/p1080.y4m
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
# milliseconds since $1 (a `date +%s%N` taken before the command)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
if has 1; then
  echo "== 1. bench, synthetic $SIZES frames (fusion + autotune)"
  $L bench --backend wgpu --sizes "$SIZES" --models "${MODELS// /,}" --frames 10 --batch "$BATCH" --peak-tflops 66.9 2>/dev/null
fi
for m in $MODELS; do
  if has 2; then
    echo "== 2. $m: the CLI on the 1080p clip (quality $Q${FRAMES:+, $FRAMES frames}), wall time from the shell"
    IFS='|' read -ra encodes <<< "$ENCODES"
    for opts in "${encodes[@]}"; do
      s=$(date +%s%N)
      # shellcheck disable=SC2086
      $B encode /tmp/p1080.y4m -o /tmp/$m.vqc --backend wgpu --model $m --quality $Q $opts "${frames_opt[@]}" -q 2>/dev/null | head -3
      echo "   encode $opts: $(ms_since $s) ms wall; the file's md5 $(md5sum < /tmp/$m.vqc | cut -c1-12)"
    done
    if [ -n "${PREV:-}" ]; then
      s=$(date +%s%N)
      /tmp/vqcodec-prev decode /tmp/$m.vqc -o /tmp/$m-prev.y4m --backend wgpu -q 2>/dev/null | tail -1
      echo "   the previous build ($PREV), decode to y4m: $(ms_since $s) ms wall"
    fi
    [ "$DECODES" = - ] && continue
    IFS='|' read -ra decodes <<< "${DECODES:- }"
    for opts in "${decodes[@]}"; do
      for run in 1 2; do
        s=$(date +%s%N)
        # shellcheck disable=SC2086
        $B decode /tmp/$m.vqc -o /tmp/$m.y4m --backend wgpu $opts -q 2>/dev/null | tail -1
        echo "   decode $opts to y4m, run $run: $(ms_since $s) ms wall"
      done
      if [ -n "${PREV:-}" ]; then
        cmp -s /tmp/$m.y4m /tmp/$m-prev.y4m && echo "   the same y4m as the previous build's" || echo "   NOT the previous build's y4m"
      fi
      s=$(date +%s%N)
      # shellcheck disable=SC2086
      $B decode /tmp/$m.vqc -o /dev/null --backend wgpu $opts -q 2>/dev/null | tail -1
      echo "   decode $opts to /dev/null: $(ms_since $s) ms wall"
    done
  fi
  has 3 || continue
  echo "== 3. $m: kernel profile (each launch timed on the device; totals per frame)"
  d=/tmp/prof-$m
  mkdir -p $d
  for what in $PROFILES; do
    # cubecl reads cubecl.toml from the working directory; run from this one, whose cubecl cache
    # (target/environment) already holds the autotune results and the device's throughput
    # probes of the runs above, so that the profile times the model's work, not cubecl's warm-up
    printf '[profiling.logger]\nlevel = "basic"\nfile = "%s"\nappend = false\n' "$d/$what.log" > cubecl.toml
    case $what in
      decode) $B decode /tmp/$m.vqc -o /dev/null --backend wgpu -q >/dev/null 2>&1 ;;
      encode) $B encode /tmp/p1080.y4m -o /tmp/$m-p.vqc --backend wgpu --model $m --quality $Q --frames 12 -q >/dev/null 2>&1 ;;
    esac
    rm -f cubecl.toml
    frames=$($B info /tmp/$m.vqc --json | grep -c '"pts"')
    [ $what = encode ] && frames=12
    echo "-- $m $what, $frames frames"
    python3 scripts/cubecl-profile-summary.py $d/$what.log --frames "$frames" --top 15
    gzip -c $d/$what.log > "$OUT/profile-$m-$what.log.gz"
  done
done
for m in $MODELS; do
  has 4 || continue
  echo "== 4. $m: start-up, the decode of part 2's stream from a directory outside any workspace"
  rm -rf ~/.cache/cubecl /tmp/away && mkdir -p /tmp/away
  for run in 1 2 3; do
    s=$(date +%s%N)
    (cd /tmp/away && $B decode /tmp/$m.vqc -o /dev/null --backend wgpu -q 2>/dev/null | tail -1)
    echo "   run $run: $(ms_since $s) ms wall; cubecl cache: $(du -sh ~/.cache/cubecl 2>/dev/null | cut -f1)"
  done
  if [ -n "${PREV:-}" ]; then
    for run in 1 2; do
      s=$(date +%s%N)
      (cd /tmp/away && /tmp/vqcodec-prev decode /tmp/$m.vqc -o /dev/null --backend wgpu -q 2>/dev/null | tail -1)
      echo "   the previous build, run $run: $(ms_since $s) ms wall"
    done
  fi
done
