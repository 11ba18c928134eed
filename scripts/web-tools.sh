#!/usr/bin/env bash
# Installs what building and testing the page needs, skipping what is already there:
# the wasm32 target, trunk 0.21.14 (the newest for rustc 1.95), wasm-bindgen-cli matching
# Cargo.lock, Debian's Chromium (browser tests) and playwright-core (tests/browser).
# Offline-friendly: nothing is downloaded at page build time (Trunk.toml: offline = true).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
  echo "== installing trunk 0.21.14 (a debug build: ~4 min instead of ~20)"
  cargo install --locked --debug --force trunk@0.21.14
fi

bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
  echo "== installing wasm-bindgen-cli $bindgen_version (~3 min)"
  # Not --locked: its lock file pins a webpki-roots release the registry no longer serves.
  cargo install --force "wasm-bindgen-cli@$bindgen_version"
fi

if [ "${1:-}" = "--browser" ]; then
  if ! command -v chromium >/dev/null; then
    echo "== installing Chromium (Debian)"
    apt-get update -qq || true
    apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "== installing playwright-core (tests/browser)"
    (cd tests/browser && npm ci --no-audit --no-fund)
  fi
fi
