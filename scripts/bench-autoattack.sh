#!/usr/bin/env bash
# Speed of AutoAttack's standard suite: `ballast attack` (aa-standard, l-inf eps 0.3, seed 0) on
# the first N test digits (default 1 000) of the shipped web/assets/mnist-pgd-at.bpk, one
# thread, with each attack's wall time per attacked digit against the peer figures of issue 16:
# torchattacks' AutoAttack components on these two cores (PyTorch 2.15, one thread, the same
# budgets, 2 000 digits of this model): APGD-T 220 s, FAB-T 388 s, Square 257 s.
# Prints a table with the ratio Ballast / peer per attack (below 1: Ballast is faster).
#   scripts/bench-autoattack.sh            # 1 000 digits
#   N=300 scripts/bench-autoattack.sh      # a shorter run
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000}"
# The release binary of this tree (cargo rebuilds only what changed), unless BALLAST_BIN names one.
if [ -z "${BALLAST_BIN:-}" ]; then
  cargo build --release --quiet
fi
BIN="${BALLAST_BIN:-target/release/ballast}"
export BALLAST_DATA_DIR="${BALLAST_DATA_DIR:-$PWD/data}"
"$BIN" data fetch mnist > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A run directory around the shipped checkpoint: its training config from the manifest.
python3 - "$work/run" <<'PY'
import json, os, shutil, sys
run = sys.argv[1]
entry = next(m for m in json.load(open("web/assets/manifest.json"))["models"] if m["name"] == "mnist-pgd-at")
os.makedirs(f"{run}/checkpoints/step-00000001")
open(f"{run}/config.toml", "w").write(entry["training_config"])
open(f"{run}/input.json", "w").write(json.dumps(entry["input"]))
shutil.copy("web/assets/" + entry["file"], f"{run}/checkpoints/step-00000001/model.bpk")
open(f"{run}/checkpoints/LATEST", "w").write("step-00000001")
PY
RAYON_NUM_THREADS=1 "$BIN" attack "$work/run" --eps 0.3 --examples "$N" --seed 0 \
  --out "$work/report.json" > /dev/null
python3 - "$work/report.json" "$N" <<'PY'
import json, sys
report, n = json.load(open(sys.argv[1])), int(sys.argv[2])
peer = {"apgd-t": 220 / 2000, "fab-t": 388 / 2000, "square": 257 / 2000}
r = report["results"][0]
print(f"aa-standard on {n} MNIST test digits of mnist-pgd-at, 1 thread, commit "
      f"{report['robustbench'][0]['commit'][:10] if report.get('robustbench') else '?'}")
print("| attack | robust after it (%) | Ballast (s) | Ballast (ms/digit) | peer (ms/digit) | Ballast / peer |")
print("| --- | --- | --- | --- | --- | --- |")
for a in r["per_attack"]:
    kind, t = a["attack"]["kind"], a["wall_time_s"]
    mine = 1000 * t / n
    theirs = f"{1000 * peer[kind]:.1f}" if kind in peer else "–"
    ratio = f"{mine / (1000 * peer[kind]):.2f}" if kind in peer else "–"
    print(f"| {kind} | {100 * a['robust_accuracy']:.2f} | {t:.1f} | {mine:.1f} | {theirs} | {ratio} |")
total = sum(a["wall_time_s"] for a in r["per_attack"] if a["attack"]["kind"] in peer)
print(f"| APGD-T + FAB-T + Square | | {total:.1f} | {1000 * total / n:.1f} | "
      f"{1000 * sum(peer.values()):.1f} | {total / n / sum(peer.values()):.2f} |")
print(f"clean {100 * r['clean_accuracy']:.2f} %, worst case {100 * r['worst_case_accuracy']:.2f} %, "
      f"whole report {report['wall_time_s']:.1f} s")
PY
