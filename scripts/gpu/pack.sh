#!/usr/bin/env bash
# Prepares the GPU run on a machine with the Rust toolchain: a GPU machine may have no
# toolchain and no network, and takes at most 64 MiB with it. Writes target/gpu-pack/:
#   ballast.gz      the release binary with wgpu (and the CPU backend), stripped, gzip'd
#   lib/            the Vulkan loader (libvulkan.so.1), used only where the machine lacks one
#   data.tar.gz     Fashion-MNIST as CIFAR-10 binary batches (scripts/gpu/fashion-as-cifar.py)
# then scripts/gpu/run.sh runs there from the repository root:
#   device tool: carry ["target/gpu-pack"], command "bash scripts/gpu/run.sh"
set -euo pipefail
cd "$(dirname "$0")/../.."
pack=target/gpu-pack
rm -rf "$pack"
mkdir -p "$pack/lib"
cargo build --release --features wgpu
strip -o "$pack/ballast" target/release/ballast
gzip -9 "$pack/ballast"
loader=$(ldconfig -p | awk '/libvulkan\.so\.1 / {print $NF; exit}')
if [[ -z "$loader" ]]; then
  echo "no libvulkan.so.1 here: apt-get install libvulkan1" >&2
  exit 1
fi
cp -L "$loader" "$pack/lib/libvulkan.so.1"
export BALLAST_DATA_DIR="${BALLAST_DATA_DIR:-$PWD/data}"
target/release/ballast data fetch fashion-mnist >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 scripts/gpu/fashion-as-cifar.py "$BALLAST_DATA_DIR/fashion-mnist" "$tmp" 2000 2000
tar -C "$tmp" -czf "$pack/data.tar.gz" cifar-10-batches-bin
du -b "$pack"/* "$pack"/lib/* | awk '{printf "%8.1f MiB  %s\n", $1 / 1048576, $2}'
total=$(du -sb "$pack" | cut -f1)
echo "total $((total / 1048576)) MiB (limit 64)"
if (( total > 64 * 1048576 )); then
  echo "the pack exceeds 64 MiB" >&2
  exit 1
fi
