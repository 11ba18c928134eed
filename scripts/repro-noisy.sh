#!/usr/bin/env bash
# Noisy-label table (docs/results/reweighting.md): every method variant × dataset × noise kind
# × seed of configs/noisy-mlp.toml, one run directory each. Finished runs (summary.json present)
# are skipped, so the script resumes and several machines can fill one folder.
#
#   scripts/repro-noisy.sh [RUNS_DIR]               default runs/noisy
#   env: JOBS (parallel runs, 1), SEEDS ("1"), DATASETS ("fashion-mnist mnist"),
#        NOISES ("flip unif"), VARIANTS (all below), BALLAST (target/release/ballast)
# Then, per dataset and noise:
#   ballast compare RUNS_DIR/fashion-mnist-flip-* --x data.noise.kind --series label
set -euo pipefail
export RUNS=${1:-runs/noisy}
export BALLAST=${BALLAST:-target/release/ballast}
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-"1"}
DATASETS=${DATASETS:-"fashion-mnist mnist"}
NOISES=${NOISES:-"flip unif"}
VARIANTS=${VARIANTS:-"erm erm-lr0.01 erm-ft random gce sce l2rw l2rw-lr0.01 mwn teacher-internal teacher-surface teacher-internal-raw teacher-internal-raw-scaled meta-loss-gce meta-loss-sce glc"}
mkdir -p "$RUNS"

# The --set overrides of each variant.
variant_args() {
    case $1 in
    erm) echo "method=erm" ;;
    gce) echo "method=erm loss.kind=gce" ;;
    sce) echo "method=erm loss.kind=sce" ;;
    random) echo "method=random" ;;
    # +FT: 500 plain steps on the clean validation split after the main budget (lr 0.01).
    erm-ft) echo "method=erm budget.finetune_steps=500" ;;
    erm-lr0.01) echo "method=erm optimizer.lr=0.01" ;;
    l2rw) echo "method=l2rw" ;;
    # L2RW's weights concentrate on few examples: at lr 0.1 the MLP can diverge (NaN).
    l2rw-lr0.01) echo "method=l2rw optimizer.lr=0.01" ;;
    # MW-Net and the teacher take the reference's real step, (1/n) sum w_i l_i like the virtual
    # step (meta.real_step_weights = "mean", the default).
    mwn) echo 'method=mwn' ;;
    teacher-internal) echo 'method=teacher meta.teacher_states=["features","probs","loss","label","progress"]' ;;
    teacher-surface) echo 'method=teacher meta.teacher_states=["probs","loss","label","margin","progress"]' ;;
    # The teacher's penultimate features as they are (no per-example standardisation), and as
    # they are times a learned per-input scale that starts at unit spread over the first batch.
    teacher-internal-raw) echo 'method=teacher meta.teacher_states=["raw-features","probs","loss","label","progress"]' ;;
    teacher-internal-raw-scaled) echo 'method=teacher meta.input_scale="learned" meta.teacher_states=["raw-features","probs","loss","label","progress"]' ;;
    # The earlier table's real step: weights normalised to sum 1 in the real step only.
    mwn-normalised) echo 'method=mwn meta.real_step_weights="normalised"' ;;
    teacher-internal-normalised) echo 'method=teacher meta.real_step_weights="normalised" meta.teacher_states=["features","probs","loss","label","progress"]' ;;
    teacher-surface-normalised) echo 'method=teacher meta.real_step_weights="normalised" meta.teacher_states=["probs","loss","label","margin","progress"]' ;;
    meta-loss-gce) echo "method=meta-loss loss.kind=gce" ;;
    meta-loss-sce) echo "method=meta-loss loss.kind=sce" ;;
    # GLC estimates the corruption matrix with the `erm` run of the same dataset, noise and seed
    # (list `erm` before `glc` in VARIANTS).
    glc) echo "method=glc" ;;
    *) echo "unknown variant $1" >&2; return 1 ;;
    esac
}
export -f variant_args

one_run() {
    local variant=$1 dataset=$2 noise=$3 seed=$4
    local out="$RUNS/$dataset-$noise-$variant-s$seed"
    [ -f "$out/summary.json" ] && return 0
    rm -rf "$out"
    local sets=(--set label="$variant" --set seed="$seed" --set data.dataset="$dataset"
        --set data.noise.kind="$noise")
    for a in $(variant_args "$variant"); do sets+=(--set "$a"); done
    if [ "$variant" = glc ]; then sets+=(--set glc.estimator="$RUNS/$dataset-$noise-erm-s$seed"); fi
    if "$BALLAST" train configs/noisy-mlp.toml --quiet --out "$out" "${sets[@]}" >"$out.log" 2>&1; then
        echo "done: $out"
    else
        echo "FAILED: $out (see $out.log)" >&2
    fi
}
export -f one_run

for d in $DATASETS; do for n in $NOISES; do for v in $VARIANTS; do for s in $SEEDS; do
    echo "$v $d $n $s"
done; done; done; done | xargs -P "$JOBS" -L 1 bash -c 'one_run "$@"' _
