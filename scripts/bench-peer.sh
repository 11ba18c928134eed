#!/usr/bin/env bash
# Ballast's CPU engine side by side with PyTorch (CPU) on the same workloads, measured in one run:
# `ballast bench` (release build, Burn's flex backend) and scripts/bench-peer.py (PyTorch twins: same
# models, shapes, batch sizes, optimiser and thread count; the meta-methods as their papers' code runs
# them, with double backward), alternating per thread count, then one table with the ratios.
#
#   scripts/bench-peer.sh                 # threads 1 and 2, 3 rounds, 20 timed steps (5 for PreActResNet-18)
#   THREADS="2" STEPS=5 ROUNDS=1 scripts/bench-peer.sh
#   PROFILE_OPS=0 scripts/bench-peer.sh   # without the per-operation profile of LeNet's step
#   BIG_ROUNDS=0 scripts/bench-peer.sh    # without PreActResNet-18 (its row says "not run")
#
# Sets up its PyTorch in target/bench-peer/venv from PyPI on first use (torch==2.15.0, ~5 GB with the
# CUDA libraries PyPI's wheel depends on; only the CPU is used). Results: target/bench-peer/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/bench-peer
VENV=$OUT/venv
THREADS=${THREADS:-"1 2"}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
BIG_STEPS=${BIG_STEPS:-5}
BIG_WARMUP=${BIG_WARMUP:-2}
# Rounds of every Ballast / PyTorch pair, alternating; the table takes each side's median (this
# machine's speed drifts by tens of per cent within minutes). PreActResNet-18: BIG_ROUNDS rounds.
ROUNDS=${ROUNDS:-3}
BIG_ROUNDS=${BIG_ROUNDS:-1}
TORCH=${TORCH:-torch==2.15.0}
mkdir -p "$OUT"
if ! "$VENV/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$TORCH" numpy
fi
cargo build --release --quiet -p ballast-cli
BALLAST=target/release/ballast
rm -f "$OUT"/ballast-*.json "$OUT"/torch-*.json
for r in $(seq 1 "$ROUNDS"); do
for t in $THREADS; do
  echo "== round $r, $t thread(s)" >&2
  # LeNet, batch 100 (L2RW's MNIST model): ERM, the meta-methods, and PGD-10 (timed with pgd-at).
  RAYON_NUM_THREADS=$t "$BALLAST" bench --model lenet --shape mnist --batch-size 100 \
    --method erm --method l2rw --method mwn --method meta-loss --method pgd-at --eps 0.3 \
    --steps "$STEPS" --warmup "$WARMUP" --out "$OUT/ballast-lenet-$t-r$r.json" >/dev/null
  "$VENV/bin/python" scripts/bench-peer.py --threads "$t" --model lenet --batch-size 100 \
    --methods erm,l2rw,mwn,meta-loss,pgd10 --eps 0.3 --steps "$STEPS" --warmup "$WARMUP" \
    >"$OUT/torch-lenet-$t-r$r.json"
  # The small CNN, batch 100: ERM.
  RAYON_NUM_THREADS=$t "$BALLAST" bench --model small-cnn --shape mnist --batch-size 100 \
    --steps "$STEPS" --warmup "$WARMUP" --out "$OUT/ballast-small-cnn-$t-r$r.json" >/dev/null
  "$VENV/bin/python" scripts/bench-peer.py --threads "$t" --model small-cnn --batch-size 100 \
    --methods erm --steps "$STEPS" --warmup "$WARMUP" >"$OUT/torch-small-cnn-$t-r$r.json"
  # PreActResNet-18 at CIFAR shape, batch 128, ERM: the first BIG_ROUNDS rounds (it is slow).
  if [ "$r" -le "$BIG_ROUNDS" ]; then
    RAYON_NUM_THREADS=$t "$BALLAST" bench --model preact-resnet18 --shape cifar10 --batch-size 128 \
      --steps "$BIG_STEPS" --warmup "$BIG_WARMUP" --out "$OUT/ballast-preact-resnet18-$t-r$r.json" >/dev/null
    "$VENV/bin/python" scripts/bench-peer.py --threads "$t" --model preact-resnet18 --batch-size 128 \
      --methods erm --steps "$BIG_STEPS" --warmup "$BIG_WARMUP" >"$OUT/torch-preact-resnet18-$t-r$r.json"
  fi
  # LeNet's ERM step operation by operation, in the first round (PROFILE_OPS=0 skips it).
  if [ "$r" = 1 ] && [ "${PROFILE_OPS:-1}" = 1 ]; then
    RAYON_NUM_THREADS=$t "$BALLAST" bench --profile-ops --batch-size 100 \
      --steps "$STEPS" --warmup "$WARMUP" --out "$OUT/ballast-ops-$t.json" >/dev/null
    "$VENV/bin/python" scripts/bench-peer.py --threads "$t" --profile-ops --batch-size 100 \
      --steps "$STEPS" --warmup "$WARMUP" >"$OUT/torch-ops-$t.json"
  fi
done
done
python3 scripts/bench-peer-table.py "$OUT" $THREADS
