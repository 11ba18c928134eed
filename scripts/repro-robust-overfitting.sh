#!/usr/bin/env bash
# Reproduction 2 of docs/results/adversarial.md: robust overfitting on Fashion-MNIST
# (configs/robust-overfitting-fashion.toml): plain PGD-AT over three seeds, and Rice et al.'s
# remedies (mixup alpha 1.4, an l1 penalty of 5e-6 on the weights, weight decay 5e-3 on the
# weights) at seed 0; then the best / best-by-validation / final robust test accuracy tables.
# Resumable: finished runs are skipped. JOBS=n runs n trainings at once.
#   scripts/repro-robust-overfitting.sh runs/robust-overfitting
#   SEEDS="1 2" VARIANTS=pgd-at scripts/repro-robust-overfitting.sh runs/robust-overfitting
# EXTRA adds --set overrides to every run, e.g. the first measurement's evaluation protocol:
#   EXTRA="--set data.val_size=1000 --set budget.eval_every=20 --set adversarial.eval_test_examples=1000"
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/robust-overfitting}"
SEEDS="${SEEDS:-0 1 2}"
VARIANTS="${VARIANTS:-pgd-at mixup l1 weight-decay}"
# The remedies run at these seeds only.
REMEDY_SEEDS="${REMEDY_SEEDS:-0}"
JOBS="${JOBS:-1}"
read -r -a EXTRA <<< "${EXTRA:-}"
BIN="${BALLAST_BIN:-target/release/ballast}"
[ -x "$BIN" ] || cargo build --release
mkdir -p "$OUT"
one() {
  local variant=$1 seed=$2 run="$OUT/$1-seed$2" extra=()
  case $variant in
    pgd-at) ;;
    mixup) extra=(--set adversarial.mixup_alpha=1.4) ;;
    l1) extra=(--set adversarial.l1=5e-6) ;;
    # On the weights only, as the config's own decay (Rice et al.'s parameter groups).
    weight-decay) extra=(--set optimizer.weight_decay=5e-3) ;;
    *) echo "unknown variant $variant" >&2; return 1 ;;
  esac
  [ -f "$run/summary.json" ] && return 0
  local resume=()
  [ -f "$run/checkpoints/LATEST" ] && resume=(--resume)
  "$BIN" train configs/robust-overfitting-fashion.toml --set seed="$seed" \
    --set label="$variant" "${extra[@]}" "${EXTRA[@]}" --out "$run" --quiet "${resume[@]}"
}
for seed in $SEEDS; do
  for variant in $VARIANTS; do
    if [ "$variant" != pgd-at ] && [[ " $REMEDY_SEEDS " != *" $seed "* ]]; then continue; fi
    one "$variant" "$seed" &
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  done
done
wait
for metric in best-robust robust-at-best-val final-robust; do
  "$BIN" compare "$OUT"/*/ --x adversarial.eps --series label --metric "$metric"
done
