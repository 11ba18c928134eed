#!/usr/bin/env bash
# The demo page: installs the web tools if needed, builds the web/ crate to WebAssembly and
# serves the page on http://127.0.0.1:8080 (trunk serve). `--build` only builds dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/web-tools.sh
cargo fetch --quiet
if [ "${1:-}" = "--build" ]; then
  trunk build --release
else
  echo "open http://127.0.0.1:8080 once the build is done"
  trunk serve --release
fi
