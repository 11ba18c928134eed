#!/usr/bin/env bash
# The project's test command (README): every unit, property and end-to-end test, then the
# demo page built to WebAssembly and driven in headless Chromium (tests/browser).
# End-to-end tests fetch real MNIST / Fashion-MNIST into $BALLAST_DATA_DIR (default ./data).
# Installs the web tools it lacks first (scripts/web-tools.sh). Cargo arguments are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
export BALLAST_DATA_DIR="${BALLAST_DATA_DIR:-$PWD/data}"
bash scripts/web-tools.sh --browser
# tests/tests/report.rs leaves its HTML report here for the browser suite.
export BALLAST_REPORT_FIXTURE="$PWD/target/browser-test/run-report.html"
rm -f "$BALLAST_REPORT_FIXTURE"
cargo test --workspace --all-targets "$@"

echo "== the page: trunk build --release, then the browser tests"
cargo fetch --quiet
trunk build --release
node tests/browser/run.mjs --dist dist --out target/browser-test --report target/browser-test/run-report.html
