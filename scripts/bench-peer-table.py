"""The tables of scripts/bench-peer.sh: Ballast and PyTorch per workload and thread count, and
their ratio (time: Ballast / PyTorch, lower is better; PGD-10 images/s: Ballast / PyTorch,
higher is better); then, where the run profiled operations, LeNet's step operation by operation
(PyTorch, Burn's own operations, Ballast's CPU kernels). Usage: bench-peer-table.py FOLDER THREADS..."""

import json
import statistics
import sys
from pathlib import Path

folder, threads = Path(sys.argv[1]), sys.argv[2:]
ROWS = [
    ("ERM step, LeNet b100 (ms)", "lenet", "erm"),
    ("ERM step, small CNN b100 (ms)", "small-cnn", "erm"),
    ("ERM step, PreActResNet-18 b128, 3×32×32 (ms)", "preact-resnet18", "erm"),
    ("L2RW step, LeNet b100 (ms)", "lenet", "l2rw"),
    ("MW-Net step, LeNet b100 (ms)", "lenet", "mwn"),
    ("meta-loss step (GCE q), LeNet b100 (ms)", "lenet", "meta-loss"),
    ("PGD-10, LeNet b100 (images/s)", "lenet", "pgd10"),
]


def rounds(side, model, t):
    """Every round's report of one side (the script's files `{side}-{model}-{t}-r{round}.json`)."""
    files = sorted(folder.glob(f"{side}-{model}-{t}-r*.json"))
    if not files:
        raise SystemExit(f"no {side}-{model}-{t}-r*.json in {folder}")
    return [json.loads(f.read_text()) for f in files]


def ballast_one(report, workload):
    if workload == "pgd10":
        return report["attack"]["examples_per_s"]
    return next(r["ms_per_step"] for r in report["results"] if r["method"] == workload)


def torch_one(report, workload):
    r = next(r for r in report["results"] if r["workload"] == workload)
    return r.get("images_per_s", r.get("ms_per_step"))


def ballast(model, workload, t):
    return statistics.median(ballast_one(r, workload) for r in rounds("ballast", model, t))


def torch(model, workload, t):
    return statistics.median(torch_one(r, workload) for r in rounds("torch", model, t))


head = "| workload | " + " | ".join(
    f"PyTorch {t}t | Ballast {t}t | Ballast / PyTorch {t}t" for t in threads
) + " |"
print(head)
print("|" + "---|" * (1 + 3 * len(threads)))
for label, model, workload in ROWS:
    if not list(folder.glob(f"ballast-{model}-*-r*.json")):
        print(f"| {label} | " + " | ".join(["not run"] * 3 * len(threads)) + " |")
        continue
    cells = []
    for t in threads:
        b, p = ballast(model, workload, t), torch(model, workload, t)
        cells += [f"{p:.1f}", f"{b:.1f}", f"{b / p:.2f}"]
    print(f"| {label} | " + " | ".join(cells) + " |")
torch_version = rounds("torch", "lenet", threads[0])[0]["torch"]
n_rounds = len(rounds("torch", "lenet", threads[0]))
print(f"\nPyTorch {torch_version}; each figure is the median of its side's rounds ({n_rounds} for LeNet and")
print("the small CNN); ratio < 1 for times and > 1 for images/s means Ballast is faster.")


def ops_table(t):
    """LeNet's ERM step (batch 100), forward and forward + backward per operation, in ms."""
    torch_ops = json.loads((folder / f"torch-ops-{t}.json").read_text())
    ours = json.loads((folder / f"ballast-ops-{t}.json").read_text())
    passes = [("PyTorch", torch_ops), ("Burn ops", ours["burn"]), ("Ballast kernels", ours["kernels"])]
    print(f"\nLeNet ERM step, batch 100, {t} thread(s), ms (forward / forward + backward):\n")
    print("| operation | " + " | ".join(name for name, _ in passes) + " |")
    print("|---|" + "---|" * len(passes))
    for i, op in enumerate(torch_ops["ops"]):
        cells = [f"{p['ops'][i]['forward_ms']:.2f} / {p['ops'][i]['forward_backward_ms']:.2f}" for _, p in passes]
        print(f"| {op['op']} | " + " | ".join(cells) + " |")
    sums = [sum(o["forward_backward_ms"] for o in p["ops"]) for _, p in passes]
    print("| sum of the rows (forward + backward) | " + " | ".join(f"{v:.1f}" for v in sums) + " |")
    print("| SGD update (momentum 0.9) | " + " | ".join(f"{p['optimizer_ms']:.2f}" for _, p in passes) + " |")
    print("| whole step | " + " | ".join(f"**{p['step_ms']:.1f}**" for _, p in passes) + " |")


for t in threads:
    if (folder / f"ballast-ops-{t}.json").exists() and (folder / f"torch-ops-{t}.json").exists():
        ops_table(t)
