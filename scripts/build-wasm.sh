#!/usr/bin/env bash
# Builds the npm package in pkg/ with wasm-pack (target web), then shrinks it with npm's
# binaryen wasm-opt (Debian's breaks the module, see ../shared/TOOLCHAIN.md). Two codec modules,
# neither with weights inside (the worker fetches the one model it uses from pkg/weights/), and
# the format module:
#   pkg/vqcodec_bg.wasm       WebGPU only (features wgpu): loaded when the browser has an adapter
#   pkg/cpu/vqcodec_bg.wasm   CPU only (features flex, no wgpu/cubecl code): loaded otherwise
#   pkg/format/vqc_bg.wasm    the format crate alone (crates/vqc, feature wasm): what the page
#                             knows of streams, limits and defaults; no model
# plus the weights, the hand-written layer from js/ and our package.json. Prints the sizes.
#   VQ_WASM_OPT=0  skip wasm-opt (faster dev builds)
#   VQ_WASM_PROFILE=release  a faster-to-build profile than the size-tuned `wasm` one
#   VQ_WASM_FEATURES=wgpu,flex,ndarray VQ_WASM_OUT=out/pkg-ndarray   comparison builds (docs/backends.md)
#   VQ_WASM_CPU=0  skip the CPU-only module
set -euo pipefail
cd "$(dirname "$0")/.."
# the same target dir as the other scripts: a build in ./target would start from nothing
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vqcodec/target}
profile=${VQ_WASM_PROFILE:-wasm}
# the WebGPU module's own profile (built for size, see Cargo.toml)
gpu_profile=${VQ_WASM_GPU_PROFILE:-wasm-gpu}
start=$(date +%s)
features=${VQ_WASM_FEATURES:-wgpu}
out=${VQ_WASM_OUT:-pkg}

gz() { gzip -9 -c "$1" | wc -c; }
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1e6 }'; }

build() { # features out-dir [profile] [wasm-opt level] [crate dir] [out name]
  local crate=${5:-.} name=${6:-vqcodec}
  wasm-pack build "$crate" --target web --profile "${3:-$profile}" --no-opt --out-dir "$(realpath -m "$2")" \
    --out-name "$name" -- --no-default-features --features "$1"
  local wasm=$2/${name}_bg.wasm
  local before
  before=$(stat -c %s "$wasm")
  if [ "${VQ_WASM_OPT:-1}" = 1 ]; then
    node_modules/.bin/wasm-opt "${4:--O3}" --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      --strip-debug --strip-producers "$wasm" -o "$wasm.opt"
    mv "$wasm.opt" "$wasm"
  fi
  printf 'wasm %s (features %s): %s raw (%s before wasm-opt), %s gzipped\n' "$wasm" "$1" \
    "$(numfmt --to=iec-i --suffix=B "$(stat -c %s "$wasm")")" "$(numfmt --to=iec-i --suffix=B "$before")" \
    "$(numfmt --to=iec-i --suffix=B "$(gz "$wasm")")"
}

# the WebGPU module for size (-Oz), the CPU module for speed (-O3: its wasm runs the networks)
if [ "$features" = wgpu ]; then build wgpu "$out" "$gpu_profile" -Oz; else build "$features" "$out"; fi
if [ "${VQ_WASM_CPU:-1}" = 1 ] && [ "$features" = wgpu ]; then
  build flex "$out/cpu"
fi
# the format module, for size: it parses headers and walks chunks, nothing per pixel
build wasm "$out/format" wasm-gpu -Oz crates/vqc vqc
# only the modules and their glue: the package's metadata lives one level up
rm -f "$out"/{cpu,format}/{package.json,README.md,LICENSE,.gitignore}

# the weights, fetched by the worker for the model in use (each module checks the file's id)
mkdir -p "$out/weights"
cp weights/base.vqw weights/lite.vqw "$out/weights/"
# what a visitor downloads before the first frame, compressed as a server sends it: .br and .gz
# beside each module and weight file (scripts/serve.mjs serves them; npm's package leaves them out)
if [ -f "$out/cpu/vqcodec_bg.wasm" ] && [ "$features" = wgpu ]; then
  sizes=$(node scripts/precompress.mjs "$out/vqcodec_bg.wasm" "$out/cpu/vqcodec_bg.wasm" "$out/format/vqc_bg.wasm" \
    "$out/weights/base.vqw" "$out/weights/lite.vqw")
  echo "$sizes"
  size() { echo "$sizes" | grep "\"$1\"" | sed "s/.*\"$2\":\([0-9]*\).*/\1/"; }
  f=$out/format/vqc_bg.wasm
  first() { # label module weights (the format module comes with every first visit)
    printf '  %-28s gzip %s, brotli %s\n' "$1" "$(mb $(( $(size "$2" gzip) + $(size "$3" gzip) + $(size "$f" gzip) )))" \
      "$(mb $(( $(size "$2" brotli) + $(size "$3" brotli) + $(size "$f" brotli) )))"
  }
  echo "first use, modules + weights as sent compressed (target <= 3 MB):"
  first "WebGPU, lite (the default):" "$out/vqcodec_bg.wasm" "$out/weights/lite.vqw"
  first "WebGPU, base (on request):" "$out/vqcodec_bg.wasm" "$out/weights/base.vqw"
  first "CPU, lite (the default):" "$out/cpu/vqcodec_bg.wasm" "$out/weights/lite.vqw"
  first "CPU, base (on request):" "$out/cpu/vqcodec_bg.wasm" "$out/weights/base.vqw"
fi

# the hand-written layer: WebCodecs-shaped API, worker, types, README; then our package.json
cp js/index.js js/worker.js js/loader.js js/index.d.ts "$out/"
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
  "files": ["index.js", "index.d.ts", "worker.js", "loader.js", "vqcodec.js", "vqcodec.d.ts", "vqcodec_bg.wasm",
    "cpu/vqcodec.js", "cpu/vqcodec.d.ts", "cpu/vqcodec_bg.wasm", "format/vqc.js", "format/vqc.d.ts", "format/vqc_bg.wasm",
    "weights/base.vqw", "weights/lite.vqw", "README.md"],
  "sideEffects": false
}
JSON
echo "built in $(( $(date +%s) - start ))s"
