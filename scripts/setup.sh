#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: everything the build, the demo and the tests need.
# Installs only from the package registries (apt, crates.io, npm); never from GitHub.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# apt can fail once with dpkg missing a .deb it just downloaded (an apt clean hook); retry once.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null ||
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

apt_install chromium ffmpeg

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  log "cargo install wasm-bindgen-cli $wb_version (~6 min)"
  # Not --locked: its lockfile pins a webpki-roots the registry no longer has (TOOLCHAIN.md).
  cargo install -q wasm-bindgen-cli --version "$wb_version" --force
fi
if ! command -v wasm-pack >/dev/null; then
  log "cargo install wasm-pack (~4 min)"
  cargo install -q --locked wasm-pack
fi

# Node tooling: playwright-core (driving Debian's chromium), binaryen (wasm-opt; Debian's breaks the
# module) and esbuild (the browser test bundles the package README's example as the README says).
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/.bin/esbuild ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
log "ready"
