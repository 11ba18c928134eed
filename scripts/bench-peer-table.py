"""The table of scripts/bench-peer.sh: Ballast and PyTorch per workload and thread count, and
their ratio (time: Ballast / PyTorch, lower is better; PGD-10 images/s: Ballast / PyTorch,
higher is better). Usage: bench-peer-table.py FOLDER THREADS..."""

import json
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


def ballast(model, workload, t):
    report = json.loads((folder / f"ballast-{model}-{t}.json").read_text())
    if workload == "pgd10":
        return report["attack"]["examples_per_s"]
    return next(r["ms_per_step"] for r in report["results"] if r["method"] == workload)


def torch(model, workload, t):
    report = json.loads((folder / f"torch-{model}-{t}.json").read_text())
    r = next(r for r in report["results"] if r["workload"] == workload)
    return r.get("images_per_s", r.get("ms_per_step"))


head = "| workload | " + " | ".join(
    f"PyTorch {t}t | Ballast {t}t | Ballast / PyTorch {t}t" for t in threads
) + " |"
print(head)
print("|" + "---|" * (1 + 3 * len(threads)))
for label, model, workload in ROWS:
    cells = []
    for t in threads:
        b, p = ballast(model, workload, t), torch(model, workload, t)
        cells += [f"{p:.1f}", f"{b:.1f}", f"{b / p:.2f}"]
    print(f"| {label} | " + " | ".join(cells) + " |")
torch_version = json.loads((folder / f"torch-lenet-{threads[0]}.json").read_text())["torch"]
print(f"\nPyTorch {torch_version}; ratio < 1 for times and > 1 for images/s means Ballast is faster.")
