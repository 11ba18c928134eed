#!/usr/bin/env bash
# Reproduction 2 of docs/results/adversarial.md: robust overfitting on Fashion-MNIST
# (configs/robust-overfitting-fashion.toml), plain PGD-AT against PGD-AT + mixup (alpha 1.4),
# seeds 0 and 1; then the best / best-by-validation / final robust test accuracy table.
# Resumable: finished runs are skipped. JOBS=n runs n trainings at once.
#   scripts/repro-robust-overfitting.sh runs/robust-overfitting
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/robust-overfitting}"
SEEDS="${SEEDS:-0 1}"
JOBS="${JOBS:-1}"
BIN="${BALLAST_BIN:-target/release/ballast}"
[ -x "$BIN" ] || cargo build --release
mkdir -p "$OUT"
one() {
  local variant=$1 seed=$2 run="$OUT/$1-seed$2" extra=()
  [ "$variant" = mixup ] && extra=(--set adversarial.mixup_alpha=1.4)
  [ -f "$run/summary.json" ] && return 0
  local resume=()
  [ -f "$run/checkpoints/LATEST" ] && resume=(--resume)
  "$BIN" train configs/robust-overfitting-fashion.toml --set seed="$seed" \
    --set label="$variant" "${extra[@]}" --out "$run" --quiet "${resume[@]}"
}
for seed in $SEEDS; do
  for variant in pgd-at mixup; do
    one "$variant" "$seed" &
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  done
done
wait
for metric in best-robust robust-at-best-val final-robust; do
  "$BIN" compare "$OUT"/*/ --x adversarial.eps --series label --metric "$metric"
done
