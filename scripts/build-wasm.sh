#!/usr/bin/env bash
# Builds the npm package in pkg/ with wasm-pack (target web), then shrinks it with npm's
# binaryen wasm-opt (Debian's breaks the module, see ../shared/TOOLCHAIN.md). Two modules:
#   pkg/vqcodec_bg.wasm       WebGPU + CPU (features wgpu): loaded when the browser has an adapter
#   pkg/cpu/vqcodec_bg.wasm   CPU only (no wgpu/cubecl code, much smaller): loaded otherwise
# plus the hand-written layer from js/ and our package.json. Prints the sizes.
#   VQ_WASM_OPT=0  skip wasm-opt (faster dev builds)
#   VQ_WASM_PROFILE=release  a faster-to-build profile than the size-tuned `wasm` one
#   VQ_WASM_FEATURES=wgpu,ndarray VQ_WASM_OUT=out/pkg-ndarray   comparison builds (docs/backends.md)
#   VQ_WASM_CPU=0  skip the CPU-only module
set -euo pipefail
cd "$(dirname "$0")/.."
# the same target dir as the other scripts: a build in ./target would start from nothing
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
profile=${VQ_WASM_PROFILE:-wasm}
start=$(date +%s)
features=${VQ_WASM_FEATURES:-wgpu}
out=${VQ_WASM_OUT:-pkg}

build() { # features out-dir
  wasm-pack build --target web --profile "$profile" --no-opt --out-dir "$2" --out-name vqcodec -- --features "$1"
  local wasm=$2/vqcodec_bg.wasm
  local before
  before=$(stat -c %s "$wasm")
  if [ "${VQ_WASM_OPT:-1}" = 1 ]; then
    node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      --strip-debug --strip-producers "$wasm" -o "$wasm.opt"
    mv "$wasm.opt" "$wasm"
  fi
  printf 'wasm %s (features %s): %s raw (%s before wasm-opt), %s gzipped\n' "$wasm" "$1" \
    "$(numfmt --to=iec-i --suffix=B "$(stat -c %s "$wasm")")" "$(numfmt --to=iec-i --suffix=B "$before")" \
    "$(numfmt --to=iec-i --suffix=B "$(gzip -9 -c "$wasm" | wc -c)")"
}

build "$features" "$out"
if [ "${VQ_WASM_CPU:-1}" = 1 ] && [ "$features" = wgpu ]; then
  build flex "$out/cpu"
  # only the module and its glue: the package's metadata lives one level up
  rm -f "$out/cpu/package.json" "$out/cpu/README.md" "$out/cpu/LICENSE" "$out/cpu/.gitignore"
fi

# the hand-written layer: WebCodecs-shaped API, worker, types, README; then our package.json
cp js/index.js js/worker.js js/index.d.ts "$out/"
cp js/README.md "$out/README.md"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cat > "$out/package.json" <<JSON
{
  "name": "vqcodec",
  "version": "$version",
  "description": "A learned video codec (VQ-VAE) in WebAssembly: WebCodecs-shaped encoder and decoder on WebGPU or the CPU",
  "license": "MIT",
  "type": "module",
  "main": "./index.js",
  "types": "./index.d.ts",
  "exports": {
    ".": { "types": "./index.d.ts", "default": "./index.js" },
    "./worker.js": "./worker.js",
    "./wasm": { "types": "./vqcodec.d.ts", "default": "./vqcodec.js" }
  },
  "files": ["index.js", "index.d.ts", "worker.js", "vqcodec.js", "vqcodec.d.ts", "vqcodec_bg.wasm",
    "cpu/vqcodec.js", "cpu/vqcodec.d.ts", "cpu/vqcodec_bg.wasm", "README.md"],
  "sideEffects": false
}
JSON
echo "built in $(( $(date +%s) - start ))s"
