#!/usr/bin/env bash
# Reproduction 1 of docs/results/adversarial.md: MNIST l-inf eps = 0.3 with the small CNN.
# Trains erm, fgsm-rs, ssds, pgd-at, trades and mart (configs/adv-mnist*.toml), one after another so
# the wall times are comparable, then evaluates each final model with PGD-40 x 5 restarts and
# APGD-CE / APGD-DLR (100 iterations) on the test set. Resumable: finished runs and reports
# are skipped.
#   scripts/repro-adversarial.sh runs/adversarial            # everything
#   EXAMPLES=1000 METHODS="erm pgd-at" scripts/repro-adversarial.sh runs/adv-quick
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/adversarial}"
METHODS="${METHODS:-erm fgsm-rs ssds pgd-at trades mart}"
EXAMPLES="${EXAMPLES:-0}"       # test examples attacked at the end (0 = all 10 000)
STAGE="${STAGE:-train,attack}"
BIN="${BALLAST_BIN:-target/release/ballast}"
[ -x "$BIN" ] || cargo build --release
mkdir -p "$OUT"
for m in $METHODS; do
  run="$OUT/$m"
  config=configs/adv-mnist.toml
  extra=()
  case "$m" in
    ssds) config=configs/adv-mnist-ssds.toml ;;
    erm) extra=(--set adversarial.eval=true) ;;
  esac
  if [[ "$STAGE" == *train* && ! -f "$run/summary.json" ]]; then
    resume=()
    [ -f "$run/checkpoints/LATEST" ] && resume=(--resume)
    "$BIN" train "$config" --set method="$m" "${extra[@]}" --out "$run" --quiet "${resume[@]}"
  fi
  if [[ "$STAGE" == *attack* && ! -f "$run/attack.json" && -f "$run/summary.json" ]]; then
    "$BIN" attack "$run" --attack pgd,aa-lite --eps 0.3 --steps 40 --restarts 5 \
      --apgd-steps 100 --examples "$EXAMPLES" --seed 0 --out "$run/attack.json" > /dev/null
  fi
done
echo "runs in $OUT"
