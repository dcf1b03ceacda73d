#!/usr/bin/env bash
# Where the WebGPU wasm module's time goes through real WebGPU (issue 17): benches/dawn.mjs's
# profiling mode on the GPU machine (the `device` tool) — per case (lite 640×360 encode, decode,
# model round trip and encode with the device's search; base 1920×1080 decode): plain timing;
# every call into Dawn counted and timed, every wasm → JS import and JS → wasm export call
# counted; a V8 CPU profile of steady-state frames; then scripts/cpuprofile-summary.mjs's tables.
# Then the plain bench (benches/dawn.mjs) on the shipped module, lite 640×360, and on the patched
# module when there is one.
# Carry [".gl", ".carry3"], where .carry3/ holds (git-ignored) what scripts/device-dawn.sh's
# header says (node.xz, webgpu/, pkg/; vqcodec-lab.xz is not needed here) and, for the profile:
#   pkg-named/    vqcodec.js + vqcodec_bg.wasm.gz: pkg/'s WebGPU module with its name section kept
#                 (build-wasm.sh's own steps, wasm-bindgen then wasm-opt -Oz, on the same cargo
#                 output with `-g` and without --strip-debug: every other section is byte-identical
#                 to pkg/'s), so the profile names Rust functions; without it the profile runs on
#                 pkg/ and shows wasm-function[N]
#   pkg-patched/  optional: the same module with __wasm_call_ctors guarded to run once (an
#                 experiment, docs/results/dawn-profile.md): profiled and timed beside it
#   pkg-before/   optional: an earlier build of the module (vqcodec.js + vqcodec_bg.wasm.gz), given
#                 the plain bench at lite 640×360 in the same call, for a before/after
# Output: $OUT/dawn-profile/: device-dawn-profile.txt, per module (named/, patched/) summary.md,
# and profiles.tgz (per module: counts.json, CASE.cpuprofile, summary.md).
#   VQ_DAWN_MODULES="named patched" (the default) or one of them; VQ_DAWN_PLAIN=0: no plain bench
#   VQ_DAWN_PLAIN_ARGS: models and sizes of pkg/'s plain bench (default "lite 640x360"; e.g.
#   "lite,base 640x360,1920x1080" for the whole bench)
#   VQ_DAWN_CASES, VQ_DAWN_FRAMES, VQ_DAWN_WARMUP, VQ_DAWN_INTERVAL_US: see benches/dawn.mjs
set -uo pipefail
P=${OUT:-/tmp}/dawn-profile
mkdir -p "$P"
exec > >(tee "$P/device-dawn-profile.txt") 2>&1
CARRY=.carry3 . scripts/device-preamble.sh
[ -x /tmp/node ] || { xz -dc .carry3/node.xz > /tmp/node && chmod +x /tmp/node; }
for d in pkg pkg-named pkg-patched pkg-before; do
  [ -d ".carry3/$d" ] || continue
  mkdir -p "/tmp/$d" && cp .carry3/$d/vqcodec.js "/tmp/$d/"
  gunzip -c ".carry3/$d/vqcodec_bg.wasm.gz" > "/tmp/$d/vqcodec_bg.wasm"
  cp -r .carry3/pkg/weights "/tmp/$d/"
done
mkdir -p /tmp/webgpu/dist/linux-x64
cp .carry3/webgpu/index.js .carry3/webgpu/package.json /tmp/webgpu/
gunzip -c .carry3/webgpu/dist/linux-x64/dawn.node.gz > /tmp/webgpu/dist/linux-x64/dawn.node
/tmp/node --version
export VQ_DAWN_CASES=${VQ_DAWN_CASES:-lite:640x360:encode,lite:640x360:decode,lite:640x360:roundtrip,base:1920x1080:decode,lite:640x360:encode-device}
profile() { # name pkg-dir time-limit
  echo "== profiling mode: $2"
  VQ_DAWN_PROFILE=$P/$1 timeout "$3" /tmp/node --expose-gc benches/dawn.mjs /tmp/webgpu "$2"
  echo "rc $?"
  /tmp/node scripts/cpuprofile-summary.mjs "$P/$1" > "$P/$1/summary.md" && echo "$1/summary.md: $(wc -l < "$P/$1/summary.md") lines"
}
modules=${VQ_DAWN_MODULES:-named patched}
case " $modules " in *" named "*)
  if [ -d /tmp/pkg-named ]; then profile named /tmp/pkg-named 170; else profile named /tmp/pkg 170; fi ;;
esac
case " $modules " in *" patched "*) [ -d /tmp/pkg-patched ] && profile patched /tmp/pkg-patched 100 ;; esac
if [ "${VQ_DAWN_PLAIN:-1}" = 1 ]; then
  plain_args=${VQ_DAWN_PLAIN_ARGS:-lite 640x360}
  echo "== the plain bench, the shipped module (pkg/), $plain_args"
  # shellcheck disable=SC2086 # models and sizes, two words
  timeout 120 /tmp/node benches/dawn.mjs /tmp/webgpu /tmp/pkg $plain_args
  if [ -d /tmp/pkg-before ]; then
    echo "== the plain bench, the earlier build (pkg-before/), lite 640x360"
    timeout 40 /tmp/node benches/dawn.mjs /tmp/webgpu /tmp/pkg-before lite 640x360
  fi
  if [ -d /tmp/pkg-patched ]; then
    echo "== the plain bench, the module with its constructors run once (pkg-patched/)"
    timeout 110 /tmp/node benches/dawn.mjs /tmp/webgpu /tmp/pkg-patched lite,base 640x360,1920x1080
  fi
fi
# the device tool brings back only a few files: the profiles and counts go in one archive
ls -la "$P"/*/
tar -C "$P" -czf "$P/profiles.tgz" --exclude='*.txt' $(cd "$P" && ls -d */) && rm -f "$P"/*/*.cpuprofile "$P"/*/counts.json
ls -la "$P" "$P"/*/
