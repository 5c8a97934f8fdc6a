"""Backend-specific lowering rules: a torchvision ResNet-18 train step with and without them.

On CPU, `conv_im2col` lowers convs as im2col and matmuls (no XLA conv, so nothing for
XLA's algebraic simplifier to swap into its slow form on layer4's 2x2 maps) and
`max_pool_slices` avoids `select_and_scatter` (ember/compiler/lowering/backend_rules.py).
Same model, weights and batch; the two compiled steps (with and without the CPU rules)
alternate.

    python bench/bench_backend_rules.py --rounds 5 --steps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

import ember as em
from ember import nn, optim
from ember.compiler.lowering import backend_rules

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vs_pytorch import define_resnet18  # noqa: E402

# torchvision's ResNet-18 (7x7 stride-2 stem and max-pool, four stages), ember's imports
ResNet18 = define_resnet18(em, em.nn, em.nn.functional)


def compiled(with_rules: bool, x, y):
    saved = dict(backend_rules.BACKEND_RULES)
    if not with_rules:
        backend_rules.BACKEND_RULES.clear()
    try:
        em.manual_seed(0)
        net = ResNet18()
        model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.01))
        t0 = time.perf_counter()
        jax.block_until_ready(model.train_step(x, y)["loss"])  # compiles
        compile_s = time.perf_counter() - t0
    finally:
        backend_rules.BACKEND_RULES.update(saved)
    rules = [n.meta.get("rule") for n in model.graph("train", x, y).nodes if n.op == "conv"]
    return model, compile_s, sum(r is not None for r in rules), len(rules)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    y = rng.integers(0, 1000, args.batch).astype(np.int32)
    runs = {name: compiled(name == "with rules", x, y) for name in ("with rules", "default")}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (model, *_rest) in runs.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                logs = model.train_step(x, y)
            jax.block_until_ready(logs["loss"])
            times[name].append((time.perf_counter() - t0) / args.steps)
    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, batch {args.batch}, "
        f"{args.size}x{args.size}"
    )
    print("| lowering | convs with an alternative rule | compile | step (median) |")
    print("|---|---|---|---|")
    for name, (_, compile_s, n_rule, n_conv) in runs.items():
        step = statistics.median(times[name]) * 1e3
        print(f"| {name} | {n_rule} of {n_conv} | {compile_s:.1f} s | {step:.0f} ms |")
    ratio = statistics.median(
        d / w for d, w in zip(times["default"], times["with rules"], strict=True)
    )
    print(f"default / with rules: {ratio:.2f}x (median of per-round ratios)")


if __name__ == "__main__":
    main()
