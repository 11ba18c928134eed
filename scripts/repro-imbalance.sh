#!/usr/bin/env bash
# L2RW class-imbalance sweep (Ren et al. 2018, MNIST 4 vs 9): every method × majority proportion ×
# seed of configs/l2rw-mnist-imbalance.toml, one run directory each. Finished runs (summary.json
# present) are skipped, so the script resumes and several machines can fill one folder.
#
#   scripts/repro-imbalance.sh [RUNS_DIR]          default runs/imbalance
#   env: JOBS (parallel runs, 1), STEPS (1000), SEEDS ("1 2 3"),
#        PROPS ("0.995 0.99 0.98 0.95 0.9"), METHODS ("l2rw erm class-ratio"),
#        BALLAST (target/release/ballast), SETS (more --set KEY=VALUE overrides, space-separated)
# Then: ballast compare RUNS_DIR/* --x data.imbalance.majority_proportion --series method --error
set -euo pipefail
export RUNS=${1:-runs/imbalance}
export BALLAST=${BALLAST:-target/release/ballast}
export STEPS=${STEPS:-1000}
export SETS=${SETS:-}
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-"1 2 3"}
PROPS=${PROPS:-"0.995 0.99 0.98 0.95 0.9"}
METHODS=${METHODS:-"l2rw erm class-ratio"}
mkdir -p "$RUNS"

one_run() {
    local method=$1 prop=$2 seed=$3
    local out="$RUNS/$method-p$prop-s$seed"
    [ -f "$out/summary.json" ] && return 0
    rm -rf "$out"
    if "$BALLAST" train configs/l2rw-mnist-imbalance.toml --quiet --out "$out" \
        --set method="$method" --set seed="$seed" \
        --set data.imbalance.majority_proportion="$prop" \
        --set budget.steps="$STEPS" --set budget.eval_every=100 \
        ${SETS:+$(printf -- '--set %s ' $SETS)} >"$out.log" 2>&1; then
        echo "done: $out"
    else
        echo "FAILED: $out (see $out.log)" >&2
    fi
}
export -f one_run

for m in $METHODS; do for p in $PROPS; do for s in $SEEDS; do echo "$m $p $s"; done; done; done |
    xargs -P "$JOBS" -L 1 bash -c 'one_run "$@"' _
