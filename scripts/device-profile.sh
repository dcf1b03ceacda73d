#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (the `device` tool), from the repository root: where a 1080p frame's
# time goes in native burn-wgpu (issue 17). Needs, carried: .gl/ (Vulkan loader .debs) and
# .carry2/ with vqcodec.xz and vqcodec-lab.xz (stripped release builds of `cargo build --release
# --workspace`, `xz -9`) and phone.mp4 (data/x/moviepy-2.1.2/media/rotated-90-degrees.mp4: 46
# frames of 1920x1080 phone video, H.264; made a y4m here with OpenCV, no rotation applied).
#   run (device tool): bash scripts/device-profile.sh      carry: [".gl", ".carry2"]
# Written on 2026-12-05 and not yet run on the GPU machine (none was lent that day): its parts
# were checked here (the clip conversion with OpenCV, the profile's format and summary on this
# machine's lavapipe, `vqcodec info --json`'s frame count).
# Prints, and writes to $OUT/device-profile.txt:
#   1. `vqcodec-lab bench` at 1920x1080 (synthetic frames; per stage, both models);
#   2. the CLI on the real clip: `vqcodec encode` (batch 1 and 8, and without its PSNR pass) and
#      `vqcodec decode` twice
#      (the first in a fresh process pays kernel compilation and autotuning; so does the second,
#      unless cubecl's cache kept them), wall time beside the codec's own timings;
#   3. a kernel profile of that decode and of 12 frames' encode (cubecl times every launch on
#      the device: scripts/cubecl-profile-summary.py), per frame, after step 2's unprofiled runs
#      (whose autotuning the profile includes unless cubecl's cache kept it: compare step 2's
#      two decodes).
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-profile.txt") 2>&1
CARRY=.carry2 . scripts/device-preamble.sh
B=/tmp/vqcodec L=/tmp/vqcodec-lab Q=${Q:-55}
python3 - .carry2/phone.mp4 /tmp/p1080.y4m <<'EOF'
import sys, cv2
cap = cv2.VideoCapture(sys.argv[1])
cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
out, n = None, 0
while True:
    ok, bgr = cap.read()
    if not ok:
        break
    h, w = bgr.shape[:2]
    if out is None:
        out = open(sys.argv[2], "wb")
        out.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
    out.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
    n += 1
print(f"clip: {n} frames of {w}x{h}")
EOF
echo "== 1. bench, synthetic 1920x1080 frames (fusion + autotune)"
$L bench --backend wgpu --sizes 1920x1080 --frames 10 --batch 8 --peak-tflops 66.9 2>/dev/null
for m in lite base; do
  echo "== 2. $m: the CLI on the 1080p clip (quality $Q), wall time from the shell"
  for opts in "--batch 1" "--batch 8" "--batch 1 --no-psnr"; do
    s=$(date +%s%N)
    # shellcheck disable=SC2086
    $B encode /tmp/p1080.y4m -o /tmp/$m.vqc --backend wgpu --model $m --quality $Q $opts -q 2>/dev/null | head -3 | tail -2
    echo "   encode $opts: $(( ($(date +%s%N) - s) / 1000000 )) ms wall"
  done
  for run in 1 2; do
    s=$(date +%s%N)
    $B decode /tmp/$m.vqc -o /tmp/$m.y4m --backend wgpu -q 2>/dev/null | tail -1
    echo "   decode to y4m, run $run: $(( ($(date +%s%N) - s) / 1000000 )) ms wall"
  done
  s=$(date +%s%N)
  $B decode /tmp/$m.vqc -o /dev/null --backend wgpu -q 2>/dev/null | tail -1
  echo "   decode to /dev/null: $(( ($(date +%s%N) - s) / 1000000 )) ms wall"
  echo "== 3. $m: kernel profile (each launch timed on the device; totals per frame)"
  d=/tmp/prof-$m
  mkdir -p $d
  for what in decode encode; do
    printf '[profiling.logger]\nlevel = "basic"\nfile = "%s"\nappend = false\n' "$d/$what.log" > $d/cubecl.toml
    case $what in
      decode) (cd $d && $B decode /tmp/$m.vqc -o /dev/null --backend wgpu -q >/dev/null 2>&1) ;;
      encode) (cd $d && $B encode /tmp/p1080.y4m -o /tmp/$m-p.vqc --backend wgpu --model $m --quality $Q --frames 12 -q >/dev/null 2>&1) ;;
    esac
    frames=$(grep -c . <($B info /tmp/$m.vqc --json | grep '"pts"'))
    [ $what = encode ] && frames=12
    echo "-- $m $what, $frames frames"
    python3 scripts/cubecl-profile-summary.py $d/$what.log --frames "$frames" --top 15
    gzip -c $d/$what.log > "$OUT/profile-$m-$what.log.gz"
  done
done
