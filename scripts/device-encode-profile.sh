#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (the `device` tool), from the repository root: the codec's GPU tests,
# then where a 1080p encode with the search on the device spends its time (issue 17's base
# encode ≥ 60 fps). Needs, carried: .gl/ (Vulkan loader .debs) and $CARRY/ (default .carry8,
# git-ignored) with vqcodec.xz and vqcodec-lab.xz (stripped `cargo build --release --workspace`,
# xz), codectest.xz (the stripped test binary of `cargo test --release --workspace --test codec
# --no-run`, xz) and t1080.y4m.xz (40 frames of ffmpeg's `testsrc2` at 1920x1080, xz: `ffmpeg -f
# lavfi -i testsrc2=size=1920x1080:rate=30 -frames:v 40 -pix_fmt yuv420p t1080.y4m`).
#   run (device tool): bash scripts/device-encode-profile.sh    carry: [".gl", ".carry8"]
# Prints, and writes to $OUT/device-encode-profile.txt:
#   1. the codec's GPU tests (a 60-frame GOP decoded on wgpu within ±1 of the CPU, streams
#      encoded on the GPU decoding on the CPU to their symbols, the device search, its kernel
#      choosing what the CPU chooses);
#   2. `vqcodec-lab bench` (synthetic frames, the default convolutions) at SIZES for MODELS, then
#      at 1920x1080 with the search as tensor operations (`--search-operations`), as before the
#      kernel;
#   3. the CLI's encode of the clip with the search on the device, base, twice, wall time and
#      the file's md5;
#   4. a kernel profile of 12 frames of that encode (scripts/cubecl-profile-summary.py).
# Knobs: PARTS (default "1 2 3 4"), SIZES (default 640x360,1920x1080), MODELS (default base,lite).
set -uo pipefail
exec > >(tee "${OUT:-/tmp}/device-encode-profile.txt") 2>&1
export CARRY=${CARRY:-.carry8}
. scripts/device-preamble.sh
PARTS=${PARTS:-1 2 3 4} SIZES=${SIZES:-640x360,1920x1080} MODELS=${MODELS:-base,lite}
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
[ -f "$CARRY/t1080.y4m.xz" ] && xz -dc "$CARRY/t1080.y4m.xz" > /tmp/t1080.y4m
if has 1 && [ -f /tmp/codectest ]; then
  echo "== 1. the codec's tests that run on the GPU"
  /tmp/codectest --test-threads 1 a_60_frame_gop streams_from_the_gpu device_search search_kernel 2>&1 |
    grep -v XDG | tail -15
fi
if has 2; then
  echo "== 2. vqcodec-lab bench --backend wgpu, $MODELS at $SIZES"
  /tmp/vqcodec-lab bench --backend wgpu --models "$MODELS" --sizes "$SIZES" --frames 10 \
    --batch 8 --peak-tflops 66.9 2>/dev/null
  echo "== 2. the same at 1920x1080, the search as tensor operations"
  /tmp/vqcodec-lab bench --backend wgpu --models "$MODELS" --sizes 1920x1080 --frames 10 \
    --batch 8 --peak-tflops 66.9 --search-operations 2>/dev/null
fi
if has 3 && [ -f /tmp/vqcodec ] && [ -f /tmp/t1080.y4m ]; then
  for b in vqcodec; do
    for run in 1 2; do
      s=$(date +%s%N)
      /tmp/$b encode /tmp/t1080.y4m -o /tmp/$b.vqc --backend wgpu --model base --quality 55 \
        --search device --no-psnr 2>/dev/null | tail -2
      echo "== 3. $b encode base --search device --no-psnr, run $run: $(ms_since $s) ms wall; md5 $(md5sum < /tmp/$b.vqc | cut -c1-12)"
    done
  done
fi
if has 4; then
  # the CLI's encode of the clip when carried; else the bench's base 1080p case (which also runs
  # the host's search, the decoder and the rest: read the search kernel's own line)
  echo "== 4. kernel profile (per frame)"
  printf '[profiling.logger]\nlevel = "basic"\nfile = "/tmp/enc.log"\nappend = false\n' > cubecl.toml
  if [ -f /tmp/vqcodec ] && [ -f /tmp/t1080.y4m ]; then
    /tmp/vqcodec encode /tmp/t1080.y4m -o /tmp/p.vqc --backend wgpu --model base --quality 55 \
      --search device --no-psnr --frames 12 -q >/dev/null 2>&1
    frames=12
  else
    /tmp/vqcodec-lab bench --backend wgpu --models base --sizes 1920x1080 --frames 5 --batch 1 \
      >/dev/null 2>&1
    frames=8
  fi
  rm -f cubecl.toml
  python3 scripts/cubecl-profile-summary.py /tmp/enc.log --frames "$frames" --top 30
  gzip -c /tmp/enc.log > "${OUT:-/tmp}/profile-encode.log.gz"
fi
