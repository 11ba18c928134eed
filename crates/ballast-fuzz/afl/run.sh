#!/usr/bin/env bash
# Runs AFL++ on each target in turn (one core at a time) until it has made EXECS executions,
# then prints a Markdown table of its fuzzer_stats. Outputs go to OUT (default target/fuzz-out, ignored by git).
#
#   cargo install cargo-afl            # once: builds AFL++ from source
#   cd crates/ballast-fuzz/afl
#   cargo afl build --release
#   ./run.sh [EXECS] [OUT] [TARGET...]  # default: 1000000 target/fuzz-out, every target
set -euo pipefail
cd "$(dirname "$0")"
EXECS="${1:-1000000}"
OUT="${2:-target/fuzz-out}"
shift $(( $# > 2 ? 2 : $# ))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(idx cifar svhn burnpack safetensors manifest toml_config)
BIN="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$OUT"

# Not a dedicated machine: no CPU-frequency check, no core pinning, no UI; the targets' own
# threads (rayon) and temporary files (the safetensors target writes one) kept small.
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export RAYON_NUM_THREADS=1 TMPDIR=/dev/shm AFL_TMPDIR=/dev/shm

for t in "${TARGETS[@]}"; do
    rm -rf "${OUT:?}/$t"
    echo "== $t: $(date -u +%FT%TZ)" >&2
    nice -n 10 cargo afl fuzz -i "../corpus/$t" -o "$OUT/$t" -E "$EXECS" -- "$BIN/$t" \
        > "$OUT/$t.log" 2>&1 || { echo "afl-fuzz failed on $t (see $OUT/$t.log)" >&2; exit 1; }
done

stat() { sed -n "s/^$2 *: //p" "$OUT/$1/default/fuzzer_stats"; }
echo "| target | execs_done | run time (s) | execs/s | saved_crashes | saved_hangs | corpus_count | edges_found |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for t in "${TARGETS[@]}"; do
    echo "| \`$t\` | $(stat "$t" execs_done) | $(stat "$t" run_time) | $(stat "$t" execs_per_sec) | $(stat "$t" saved_crashes) | $(stat "$t" saved_hangs) | $(stat "$t" corpus_count) | $(stat "$t" edges_found) |"
done
