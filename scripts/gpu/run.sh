#!/usr/bin/env bash
# The GPU run, on a machine with no Rust toolchain and no network, from the repository root with
# target/gpu-pack/ (scripts/gpu/pack.sh) beside it. About 10 minutes. Writes to $OUT (default
# target/gpu-results): adapter.txt, bench-prn18.json, bench-wrn28-10.json, smoke-run/ and
# summary.txt. Each part has its own time limit, so a slow part leaves the others' figures.
#   GPU_RUN_SCALE=tiny bash scripts/gpu/run.sh   # the same path in a minute or two (lavapipe)
set -uo pipefail
cd "$(dirname "$0")/../.."
pack=target/gpu-pack
out="${OUT:-target/gpu-results}"
scale="${GPU_RUN_SCALE:-full}"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "$*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"

gunzip -c "$pack/ballast.gz" > "$work/ballast" && chmod +x "$work/ballast" || { log "cannot unpack $pack/ballast.gz"; exit 1; }
bin="$work/ballast"

# Vulkan: the machine's loader if it has one, else the carried one; an NVIDIA driver that
# ships its Vulkan library without an ICD file gets one written here.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  export LD_LIBRARY_PATH="$PWD/$pack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  log "vulkan loader: carried ($pack/lib)"
else
  log "vulkan loader: $(ldconfig -p | awk '/libvulkan\.so\.1 / {print $NF; exit}')"
fi
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')
log "vulkan ICD files: ${icds:-none}"
if [[ "$icds" != *nvidia* ]]; then
  nv=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0 / {print $NF; exit}')
  if [[ -n "$nv" ]]; then
    mkdir -p "$work/icd.d"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$nv" > "$work/icd.d/nvidia_icd.json"
    export VK_ICD_FILENAMES="$work/icd.d/nvidia_icd.json" VK_DRIVER_FILES="$work/icd.d/nvidia_icd.json"
    log "vulkan ICD written for $nv"
  fi
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/adapter.txt" 2>&1
else
  echo "no nvidia-smi on this machine" > "$out/adapter.txt"
fi
log "$(cat "$out/adapter.txt")"

if [[ "$scale" == tiny ]]; then
  prn=(--model small-cnn --shape mnist --batch-size 32 --warmup 1 --steps 2)
  wrn=(--model lenet --shape mnist --batch-size 32 --warmup 1 --steps 1)
  train_extra=(--set budget.epochs=0 --set budget.steps=3 --set budget.batch_size=16 --set model.arch=small-cnn --set adversarial.eval_test_examples=50)
  limit_bench=600 limit_train=600
else
  prn=(--model preact-resnet18 --shape cifar10 --batch-size 128 --warmup 2 --steps 10)
  wrn=(--model wide-resnet --shape cifar10 --batch-size 128 --warmup 1 --steps 3)
  train_extra=()
  limit_bench=200 limit_train=200
fi
methods=(--method erm --method pgd-at --method l2rw --method mwn --method trades --eps 8/255)

bench() { # name, args...
  local name=$1; shift
  local t0=$SECONDS
  timeout "$limit_bench" "$bin" bench --device wgpu "${methods[@]}" "$@" --out "$out/$name.json" > "$out/$name.log" 2>&1
  local rc=$?
  log "$name: exit $rc after $((SECONDS - t0)) s"
  [[ $rc == 0 ]] && python3 - "$out/$name.json" <<'PY' 2>/dev/null | tee -a "$out/summary.txt" || tail -5 "$out/$name.log" | tee -a "$out/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  adapter {r.get('adapter')}, model {r['model']['arch']}, batch {r['batch_size']}")
for m in r["results"]:
    mem = m.get("device_memory_bytes")
    mem = f"{mem / 2**20:.0f} MiB" if mem else "-"
    print(f"  {m['method']:<8} {m['ms_per_step']:9.1f} ms/step {m['examples_per_s']:9.1f} img/s  x{m['ratio_to_erm']:.2f} ERM  memory {mem}")
a = r.get("attack")
if a:
    print(f"  {a['name']}: {a['ms_per_batch']:.1f} ms/batch, {a['examples_per_s']:.1f} img/s")
PY
}
bench bench-prn18 "${prn[@]}"
bench bench-wrn28-10 "${wrn[@]}"

mkdir -p "$work/data"
tar -C "$work/data" -xzf "$pack/data.tar.gz"
t0=$(date +%s.%N)
timeout "$limit_train" "$bin" train scripts/gpu/smoke-prn18.toml --device wgpu --quiet \
  --set "data.dir=$work/data/cifar-10-batches-bin" "${train_extra[@]}" --out "$out/smoke-run" \
  > "$out/smoke-run.log" 2>&1
rc=$?
t1=$(date +%s.%N)
log "smoke run (pgd-at, PreActResNet-18, Fashion-MNIST as CIFAR): exit $rc, wall $(python3 -c "print(f'{$t1 - $t0:.1f}')") s"
if [[ -f "$out/smoke-run/summary.json" ]]; then
  python3 - "$out/smoke-run/summary.json" "$t0" "$t1" <<'PY' | tee -a "$out/summary.txt"
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
steps = s.get("steps", 0)
bs = s.get("config", {}).get("budget", {}).get("batch_size", 128)
print(f"  {steps} steps, {steps * bs / wall:.1f} training images/s over the whole run (incl. start and evaluation)")
for k in ("final_test_accuracy", "test_accuracy", "final", "best"):
    if k in s:
        print(f"  {k}: {s[k]}")
PY
else
  tail -5 "$out/smoke-run.log" | tee -a "$out/summary.txt"
fi
