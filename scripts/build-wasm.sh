#!/usr/bin/env bash
# Builds the npm package in pkg/ with wasm-pack (target web), then shrinks it with npm's
# binaryen wasm-opt (Debian's breaks the module, see ../shared/TOOLCHAIN.md). Prints the size.
#   VQ_WASM_OPT=0  skip wasm-opt (faster dev builds)
#   VQ_WASM_PROFILE=release  a faster-to-build profile than the size-tuned `wasm` one
#   VQ_WASM_FEATURES=wgpu,ndarray VQ_WASM_OUT=out/pkg-ndarray   comparison builds (docs/backends.md)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${VQ_WASM_PROFILE:-wasm}
start=$(date +%s)
features=${VQ_WASM_FEATURES:-wgpu}
out=${VQ_WASM_OUT:-pkg}
wasm-pack build --target web --profile "$profile" --no-opt --out-dir "$out" --out-name vqcodec -- --features "$features"
wasm=$out/vqcodec_bg.wasm
raw_before=$(stat -c %s "$wasm")
if [ "${VQ_WASM_OPT:-1}" = 1 ]; then
  node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    --strip-debug --strip-producers "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
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
  "files": ["index.js", "index.d.ts", "worker.js", "vqcodec.js", "vqcodec.d.ts", "vqcodec_bg.wasm", "README.md"],
  "sideEffects": false
}
JSON
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
printf 'wasm: %s raw (%s before wasm-opt), %s gzipped; built in %ss\n' \
  "$(numfmt --to=iec-i --suffix=B "$raw")" "$(numfmt --to=iec-i --suffix=B "$raw_before")" \
  "$(numfmt --to=iec-i --suffix=B "$gz")" "$(( $(date +%s) - start ))"
