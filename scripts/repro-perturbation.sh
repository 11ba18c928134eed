#!/usr/bin/env bash
# The reproduction of docs/results/perturbation.md: a learned perturbation set for MNIST under
# random rotation / scale / translation (Wong & Kolter 2021, RTS), then four small CNNs trained
# with the same budget (erm, cvae-aug, transform-aug, latent-at) and evaluated on the test set:
# clean, the latent attack at several radii, real random RTS transforms, and certified
# accuracy by latent randomized smoothing. Resumable: finished runs and reports are skipped.
#   scripts/repro-perturbation.sh runs/perturbation
#   CVAE=runs/cvae-mnist-rts METHODS="erm latent-at" scripts/repro-perturbation.sh runs/p
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/perturbation}"
CVAE="${CVAE:-$OUT/cvae}"
METHODS="${METHODS:-latent-at erm cvae-aug transform-aug}"
EXAMPLES="${EXAMPLES:-500}"             # test examples of the final reports (0 = all 10 000)
CERT_EXAMPLES="${CERT_EXAMPLES:-100}"   # test examples certified (n = 1000 samples each)
LATENT_EPS="${LATENT_EPS:-0.5,1,2,3}"
BIN="${BALLAST_BIN:-target/release/ballast}"
[ -x "$BIN" ] || cargo build --release
mkdir -p "$OUT"

resume_flag() { [ -f "$1/checkpoints/LATEST" ] && echo --resume || true; }

if [ ! -f "$CVAE/summary.json" ]; then
  "$BIN" train configs/cvae-mnist-rts.toml --out "$CVAE" --quiet $(resume_flag "$CVAE")
fi
if [ ! -f "$CVAE/quality.json" ]; then
  "$BIN" eval "$CVAE" --eps 0.5,1,2,3,4 --examples "$EXAMPLES" --draws 10 --approx-steps 50 \
    --out "$CVAE/quality.json" > /dev/null
fi
for m in $METHODS; do
  run="$OUT/$m"
  if [ ! -f "$run/summary.json" ]; then
    "$BIN" train configs/latent-at-mnist-rts.toml --set method="$m" \
      --set perturbation.cvae="$CVAE" --out "$run" --quiet $(resume_flag "$run")
  fi
  # The latent report is the run's attack.json (ballast export records it with the model).
  [ -f "$run/attack.json" ] || "$BIN" eval "$run" --attack latent --eps "$LATENT_EPS" \
    --steps 50 --examples "$EXAMPLES" --seed 0 --out "$run/attack.json" > /dev/null
  [ -f "$run/real.json" ] || "$BIN" eval "$run" --real --draws 10 --examples "$EXAMPLES" \
    --seed 0 --out "$run/real.json" > /dev/null
  [ -f "$run/certify.json" ] || "$BIN" certify "$run" --sigma 1 --n0 100 --n 1000 \
    --examples "$CERT_EXAMPLES" --radii 0,0.25,0.5,0.75,1,1.5,2 --seed 0 \
    --out "$run/certify.json" > /dev/null
done
echo "runs in $OUT"
