#!/usr/bin/env bash
# Packs the frames that fetch-training-data.sh selected (data/y4m, data/selection.tsv) into a
# compact directory that travels to the GPU machine (no ffmpeg there; OpenCV decodes it):
#
#   data/pack/index.tsv        name, split (train|val), file, frames, WxH: what decode_frames_cv2.py
#                              must get back (it checks every count and size)
#   data/pack/train/NAME.mp4   every training clip and photo: exactly its y4m frames (the
#                              selection, already scaled), x264 High 4:4:4, CRF $CRF (default 12),
#                              preset $PRESET (default veryslow: 7 % smaller than slow, which
#                              left the pack at 46.7 MiB); photos are one-frame streams
#   data/pack/val/NAME.EXT     the held-out clips as shipped (decoded whole there, as before)
#   data/pack/selection.tsv, data/pack/NOTICE.md   copies
#
# Budget: the pack must stay <= BUDGET_MIB (default 45 MiB; the device tool carries 64 MiB in all,
# binaries and Vulkan libraries included); the script fails when it does not.
# A pack that fits a training call (2026-12-06: the lab binary is 18.8 MB at `xz -9e`, the
# tracked tree 10.5 MB, so CRF 12's 45.9 MB no longer fits beside them):
#   PACK_DIR=data/pack16 CRF=16 BUDGET_MIB=32 bash scripts/pack-training-data.sh
# makes 31.1 MB (train video 13.5 MB, photos 15.4 MB, val 2.2 MB) in 2 minutes on the
# development machine, at pixel-weighted PSNR-Y 44.6 dB, RGB 41.4 dB against the ffmpeg path's
# y4m (worst photo 33.2 dB); carry it with SOURCES=data/pack16.
# Generation loss measured at CRF 12 (decode_frames_cv2.py --compare data): pixel-weighted
# PSNR-Y 46.6 dB, RGB 43.5 dB (worst clip 40.4, worst photo 36.2) against the ffmpeg path's y4m (OpenCV's own colour conversion
# adds nothing measurable: 71 dB); OpenCV decoding the original clips instead differs from ffmpeg
# by about as much (41.7-45.7 dB RGB on the held-out clips).
# Carry data/pack itself (name it in the device tool's carry; a symlink would travel as a link):
# scripts/device-train.sh runs decode_frames_cv2.py on SOURCES, default data/pack.
# Usage: bash scripts/fetch-training-data.sh && bash scripts/pack-training-data.sh
# Idempotent: a clip is re-encoded only when its y4m is newer than its mp4 or CRF changed.
set -euo pipefail
cd "$(dirname "$0")/.."
D=data P=${PACK_DIR:-data/pack}
CRF=${CRF:-12}
PRESET=${PRESET:-veryslow}
BUDGET_MIB=${BUDGET_MIB:-45}
JOBS=${JOBS:-$(nproc)}
[ -s $D/manifest-train.txt ] || { echo "run scripts/fetch-training-data.sh first" >&2; exit 1; }
mkdir -p $P/train $P/val
[ "$(cat $P/.crf 2>/dev/null)" = "$CRF $PRESET" ] || rm -f $P/train/*.mp4
t0=$(date +%s)

enc() {   # y4m → mp4, same frames (x264 keeps every frame: no B-frame reordering loss, passthrough timing)
  local y=$1 m=$2
  [ -s "$m" ] && [ "$m" -nt "$y" ] && return 0
  ffmpeg -v error -y -i "$y" -fps_mode passthrough -c:v libx264 -preset "$PRESET" -crf "$CRF" -pix_fmt yuv444p \
    -x264-params log=-1 "$m.tmp.mp4" && mv "$m.tmp.mp4" "$m"
}
export -f enc; export CRF PRESET
sed 's|^y4m/||; s|\.y4m$||' $D/manifest-train.txt | xargs -P "$JOBS" -I{} bash -c "enc $D/y4m/{}.y4m $P/train/{}.mp4"
echo "$CRF $PRESET" > $P/.crf
# drop what is no longer in the train manifest
for m in $P/train/*.mp4; do n=$(basename "$m" .mp4); grep -qx "y4m/$n.y4m" $D/manifest-train.txt || rm -f "$m"; done

y4m_info() {   # prints "FRAMES WxH" of a 4:4:4 y4m
  local y=$1 hdr w h hl
  hdr=$(head -1 "$y"); hl=$(( ${#hdr} + 1 ))
  w=$(tr ' ' '\n' <<<"$hdr" | sed -n 's/^W//p'); h=$(tr ' ' '\n' <<<"$hdr" | sed -n 's/^H//p')
  echo "$(( ($(stat -c %s "$y") - hl) / (6 + 3 * w * h) )) ${w}x$h"
}
{
  printf 'name\tsplit\tfile\tframes\tsize\n'
  while read -r l; do
    n=$(basename "$l" .y4m); set -- $(y4m_info "$D/y4m/$n.y4m")
    printf '%s\ttrain\ttrain/%s.mp4\t%s\t%s\n' "$n" "$n" "$1" "$2"
  done < $D/manifest-train.txt
  rm -f $P/val/*
  while read -r l; do
    n=$(basename "$l" .y4m); src=$(ls $D/sources/video/$n.* | head -1); ext=${src##*.}
    cp "$src" "$P/val/$n.$ext"; set -- $(y4m_info "$D/y4m/$n.y4m")
    printf '%s\tval\tval/%s.%s\t%s\t%s\n' "$n" "$n" "$ext" "$1" "$2"
  done < $D/manifest-val.txt
} > $P/index.tsv
cp $D/selection.tsv $D/NOTICE.md $P/
echo "packed in $(( $(date +%s) - t0 ))s: $(grep -c $'\ttrain\t' $P/index.tsv) train, $(grep -c $'\tval\t' $P/index.tsv) val;" \
  "train video $(cat $(awk -F'\t' '$2=="train" && $4>1 {print "'$P'/"$3}' $P/index.tsv) | wc -c) B," \
  "photos $(cat $(awk -F'\t' '$2=="train" && $4==1 {print "'$P'/"$3}' $P/index.tsv) | wc -c) B, val $(cat $P/val/* | wc -c) B;" \
  "total $(du -sb $P | cut -f1) B ($(du -sh --apparent-size $P | cut -f1))"
total=$(du -sb $P | cut -f1)
[ "$total" -le $(( BUDGET_MIB * 1024 * 1024 )) ] || { echo "pack is $total B, over the ${BUDGET_MIB} MiB budget: lower CAP_MPX / CAP_FRAMES in fetch-training-data.sh" >&2; exit 1; }
