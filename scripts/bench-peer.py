"""PyTorch twins of `ballast bench`'s workloads, for the side-by-side table of scripts/bench-peer.sh.

Same models (LeNet, small CNN, PreActResNet-18 with normalisation inside the model), same shapes,
batch sizes, optimiser (SGD, lr 0.1, momentum 0.9) and thread count. The meta-methods are the
reference algorithms with PyTorch's double backward, as their papers' code runs them:
  l2rw       Ren et al. 2018: ε = 0 weights, ∇θ Σ ε_i ℓ_i with create_graph, virtual step,
             ∂L_val/∂ε, clip at 0 and normalise, then the weighted step.
  mwn        Shu et al. 2019: weights from a 1-100-1 weighting net (Adam 1e-3, decay 1e-4),
             virtual step, one meta step of the net through it, then the weighted step.
  meta-loss  GCE (q = 0.7) with q learned by the meta-gradient through a virtual step.
PGD-10 times an ℓ∞ attack (random start, step 2.5·ε/10) in eval mode.

Prints one JSON object: {"threads": n, "results": [{"workload", "ms_per_step" | "images_per_s"}]}.
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)


class Normalize(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, channels, 1, 1), 0.25))

    def forward(self, x):
        return (x - self.mean) / self.std


class LeNet(nn.Module):
    """Three 5×5 convolutions (16/32/64), each ReLU then 3×3/2 max-pool, FC 100, head."""

    def __init__(self, shape, classes=10):
        super().__init__()
        c, h, _ = shape
        self.norm = Normalize(c)
        chans = [c, 16, 32, 64]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 5, padding=2) for a, b in zip(chans, chans[1:]))
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        s = h
        for _ in range(3):
            s = (s - 1) // 2 + 1
        self.fc = nn.Linear(64 * s * s, 100)
        self.head = nn.Linear(100, classes)

    def forward(self, x):
        z = self.norm(x)
        for conv in self.convs:
            z = self.pool(F.relu(conv(z)))
        return self.head(F.relu(self.fc(z.flatten(1))))


class SmallCnn(nn.Module):
    """Two 4×4 stride-2 convolutions (16/32) with ReLU, FC 100, head."""

    def __init__(self, shape, classes=10):
        super().__init__()
        c, h, _ = shape
        self.norm = Normalize(c)
        self.convs = nn.ModuleList([nn.Conv2d(c, 16, 4, 2, 1), nn.Conv2d(16, 32, 4, 2, 1)])
        self.fc = nn.Linear(32 * (h // 4) ** 2, 100)
        self.head = nn.Linear(100, classes)

    def forward(self, x):
        z = self.norm(x)
        for conv in self.convs:
            z = F.relu(conv(z))
        return self.head(F.relu(self.fc(z.flatten(1))))


class PreActBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else None
        )

    def forward(self, x):
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet18(nn.Module):
    def __init__(self, shape, classes=10):
        super().__init__()
        c = shape[0]
        self.norm = Normalize(c)
        self.stem = nn.Conv2d(c, 64, 3, 1, 1, bias=False)
        blocks, c_in = [], 64
        for stage, c_out in enumerate([64, 128, 256, 512]):
            for k in range(2):
                blocks.append(PreActBlock(c_in, c_out, 2 if stage > 0 and k == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(512)
        self.head = nn.Linear(512, classes)

    def forward(self, x):
        z = self.blocks(self.stem(self.norm(x)))
        z = F.relu(self.bn(z)).mean(dim=(2, 3))
        return self.head(z)


MODELS = {"lenet": (LeNet, MNIST), "small-cnn": (SmallCnn, MNIST), "preact-resnet18": (PreActResNet18, CIFAR)}


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def cross_entropy(logits, y):
    return F.cross_entropy(logits, y, reduction="none")


def virtual_step(model, params, x, y, weights, lr, per_example=cross_entropy):
    """θ̂ = θ − lr ∇θ Σ_i w_i ℓ_i(θ), kept in the graph (create_graph) for the meta-gradient."""
    losses = per_example(functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad((losses * weights).sum(), list(params.values()), create_graph=True)
    return {k: p - lr * g for (k, p), g in zip(params.items(), grads)}


def erm_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def weighted_step(model, opt, x, y, w):
    opt.zero_grad(set_to_none=True)
    (F.cross_entropy(model(x), y, reduction="none") * w).sum().backward()
    opt.step()


def l2rw_step(model, opt, x, y, xv, yv):
    params = dict(model.named_parameters())
    eps = torch.zeros(x.shape[0], requires_grad=True)
    new = virtual_step(model, params, x, y, eps, 0.1)
    val = F.cross_entropy(functional_call(model, new, (xv,)), yv)
    g = torch.autograd.grad(val, eps)[0]
    w = torch.clamp(-g, min=0)
    s = w.sum()
    w = w / s if s > 0 else w
    weighted_step(model, opt, x, y, w.detach())


class WeightNet(nn.Module):
    def __init__(self, hidden=100):
        super().__init__()
        self.hidden, self.out = nn.Linear(1, hidden), nn.Linear(hidden, 1)

    def forward(self, losses):
        return torch.sigmoid(self.out(F.relu(self.hidden(losses[:, None])))).squeeze(1)


def mwn_step(model, opt, vnet, vopt, x, y, xv, yv):
    params = dict(model.named_parameters())
    losses = F.cross_entropy(functional_call(model, params, (x,)), y, reduction="none")
    w = vnet(losses.detach()) / x.shape[0]
    grads = torch.autograd.grad((losses * w).sum(), list(params.values()), create_graph=True)
    new = {k: p - 0.1 * g for (k, p), g in zip(params.items(), grads)}
    vopt.zero_grad(set_to_none=True)
    F.cross_entropy(functional_call(model, new, (xv,)), yv).backward()
    vopt.step()
    opt.zero_grad(set_to_none=True)
    losses = F.cross_entropy(model(x), y, reduction="none")
    with torch.no_grad():
        w = vnet(losses.detach())
    (losses * w / w.sum().clamp_min(1e-12)).sum().backward()
    opt.step()


def gce(logits, y, q):
    p = F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1).clamp_min(1e-7)
    return (1 - p**q) / q


def meta_loss_step(model, opt, q, qopt, x, y, xv, yv):
    params = dict(model.named_parameters())
    n = x.shape[0]
    new = virtual_step(model, params, x, y, torch.full((n,), 1.0 / n), 0.1, lambda z, t: gce(z, t, q))
    qopt.zero_grad(set_to_none=True)
    F.cross_entropy(functional_call(model, new, (xv,)), yv).backward(inputs=[q])
    qopt.step()
    opt.zero_grad(set_to_none=True)
    gce(model(x), y, q.detach()).mean().backward()
    opt.step()


def pgd(model, x, y, eps, steps):
    alpha = 2.5 * eps / steps
    delta = torch.empty_like(x).uniform_(-eps, eps)
    delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
    for _ in range(steps):
        loss = F.cross_entropy(model(x + delta), y)
        (g,) = torch.autograd.grad(loss, delta)
        delta = (delta + alpha * g.sign()).clamp(-eps, eps)
        delta = ((x + delta).clamp(0, 1) - x).detach().requires_grad_(True)
    return (x + delta).detach()


def timed(step, warmup, steps):
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def profile_ops(b, warmup, repeats):
    """The twin of `ballast bench --profile-ops`: each operation of one LeNet ERM step alone at its
    shape inside the step, forward and forward + backward ((y·g).sum().backward() with x and the
    parameters tracked), the SGD update alone and the whole step (without normalisation)."""

    def op_row(name, shape, op):
        x = torch.randn(*shape)
        g = torch.randn_like(op(x))

        def forward():
            with torch.no_grad():
                op(x)

        def forward_backward():
            xg = x.detach().requires_grad_(True)
            (op(xg) * g).sum().backward()

        return {
            "op": name,
            "forward_ms": 1000 * timed(forward, warmup, repeats),
            "forward_backward_ms": 1000 * timed(forward_backward, warmup, repeats),
        }

    ops = []
    pool = nn.MaxPool2d(3, 2, padding=1)
    for c_in, c_out, side in [(1, 16, 28), (16, 32, 14), (32, 64, 7)]:
        conv = nn.Conv2d(c_in, c_out, 5, padding=2)
        ops.append(op_row(f"conv2d 5x5 {c_in}->{c_out}, {side}x{side}", (b, c_in, side, side), conv))
        ops.append(op_row(f"relu [{c_out}x{side}x{side}]", (b, c_out, side, side), F.relu))
        ops.append(op_row(f"max-pool 3x3/2 [{c_out}x{side}x{side}]", (b, c_out, side, side), pool))
    for d_in, d_out in [(1024, 100), (100, 10)]:
        ops.append(op_row(f"linear {d_in}->{d_out}", (b, d_in), nn.Linear(d_in, d_out)))
    labels = torch.arange(b) % 10
    ops.append(op_row("cross-entropy [10]", (b, 10), lambda z: F.cross_entropy(z, labels).reshape(1)))

    model = LeNet(MNIST)
    model.norm = nn.Identity()
    opt = sgd(model)
    x = torch.rand(b, *MNIST)
    update = 0.0
    for i in range(warmup + repeats):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), labels).backward()
        start = time.perf_counter()
        opt.step()
        if i >= warmup:
            update += (time.perf_counter() - start) / repeats
    step = timed(lambda: erm_step(model, opt, x, labels), warmup, repeats)
    return {"ops": ops, "optimizer_ms": 1000 * update, "step_ms": 1000 * step}


def batch(shape, n):
    return torch.rand(n, *shape), torch.randint(0, 10, (n,))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--model", choices=MODELS, default="lenet")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--val-batch-size", type=int, default=100)
    ap.add_argument("--methods", default="erm", help="comma-separated: erm, l2rw, mwn, meta-loss, pgd10")
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--profile-ops", action="store_true", help="time LeNet's operations alone")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.profile_ops:
        report = profile_ops(args.batch_size, args.warmup, args.steps)
        print(json.dumps({"threads": args.threads, "torch": torch.__version__, **report}))
        return
    cls, shape = MODELS[args.model]
    x, y = batch(shape, args.batch_size)
    xv, yv = batch(shape, args.val_batch_size)
    results = []
    for method in args.methods.split(","):
        model = cls(shape).train()
        opt = sgd(model)
        if method == "erm":
            step = lambda: erm_step(model, opt, x, y)
        elif method == "l2rw":
            step = lambda: l2rw_step(model, opt, x, y, xv, yv)
        elif method == "mwn":
            vnet = WeightNet()
            vopt = torch.optim.Adam(vnet.parameters(), lr=1e-3, weight_decay=1e-4)
            step = lambda: mwn_step(model, opt, vnet, vopt, x, y, xv, yv)
        elif method == "meta-loss":
            q = torch.tensor(0.7, requires_grad=True)
            qopt = torch.optim.Adam([q], lr=1e-3)
            step = lambda: meta_loss_step(model, opt, q, qopt, x, y, xv, yv)
        elif method == "pgd10":
            model.eval()
            step = lambda: pgd(model, x, y, args.eps, 10)
            s = timed(step, max(1, args.warmup // 2), max(2, args.steps // 2))
            results.append({"workload": "pgd10", "images_per_s": args.batch_size / s})
            continue
        else:
            raise SystemExit(f"unknown method {method}")
        s = timed(step, args.warmup, args.steps)
        results.append({"workload": method, "ms_per_step": 1000 * s})
    print(json.dumps({"threads": args.threads, "torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()
