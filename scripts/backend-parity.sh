#!/usr/bin/env bash
# CPU (flex) against wgpu: every method's first step, the attacks, the JVP hypergradient and a
# run that moves between backends (tests/tests/backend_parity.rs). Needs a Vulkan, Metal or
# DX12 adapter; on a machine without a GPU, Mesa's software Vulkan (lavapipe) is the real
# code path, slowly. Release build: lavapipe executes the kernels, the host side still counts.
#
#   scripts/backend-parity.sh            # the whole suite (about 15 min of build, then ~5 min)
#   scripts/backend-parity.sh first_step # one test by name filter
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "$(uname -s)" == Linux ]] && ! compgen -G "/usr/share/vulkan/icd.d/*.json" >/dev/null \
  && ! compgen -G "/etc/vulkan/icd.d/*.json" >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    echo "no Vulkan driver found: install one (Debian/Ubuntu: apt-get install mesa-vulkan-drivers libvulkan1)" >&2
    exit 1
  fi
fi
# Mesa's Vulkan loader warns without a runtime folder; give it one.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo test --release --features wgpu --test backend_parity -- --test-threads 1 --nocapture "$@"
