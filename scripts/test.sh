#!/usr/bin/env bash
# The project's test command (README): every unit, property and end-to-end test.
# End-to-end tests fetch real MNIST / Fashion-MNIST into $BALLAST_DATA_DIR (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
export BALLAST_DATA_DIR="${BALLAST_DATA_DIR:-$PWD/data}"
cargo test --workspace --all-targets "$@"
