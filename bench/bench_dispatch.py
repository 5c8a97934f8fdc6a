"""Per-step overhead vs model size: ember's train_step against a hand-written jax.jit step
for MLPs of increasing depth (2 to 64 Linear layers, width 64, batch 16).

The compute is tiny, so the time is mostly dispatch: if ember's per-step Python work grew
with the number of parameters, the ratio would grow with depth.

    python bench/bench_dispatch.py --depths 2 16 64 --steps 200 --rounds 15 --optimizer adam

`--batch read-only` passes batches that nobody can write (what `fit` and `DataLoader`
assemble): ember then skips the copy that keeps PyTorch's semantics for a writable numpy
batch (a step must not see later writes to it); the hand-written step never copies.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import ember as em
from ember import nn, optim
from ember.frontend.host_arrays import aligned_take


class Deep(nn.Module):
    def __init__(self, depth: int, width: int = 64):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = em.relu(layer(x))
        return x


def timed(step, x, y, steps: int) -> float:
    for _ in range(5):
        jax.block_until_ready(step(x, y))
    t0 = time.perf_counter()
    out = None
    for _ in range(steps):
        out = step(x, y)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / steps


def blocked(step, x, y, steps: int) -> float:
    """Median seconds of one step waited for (no pipelining)."""
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        jax.block_until_ready(step(x, y))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def guard_cost(args, x, y) -> None:
    print("| Linear layers | raise / off, blocked (range) | raise / off, pipelined (range) |")
    print("|---|---|---|")
    for depth in args.depths:
        steps = {}
        for guard in ("raise", "off"):
            em.manual_seed(0)
            net = Deep(depth)
            model = em.compile(
                net, loss=nn.MSELoss(), optimizer=optim.Adam(net.parameters()), guard=guard
            )
            steps[guard] = lambda x, y, model=model: model.train_step(x, y)["loss"]
        ratios = {"blocked": [], "pipelined": []}
        for _ in range(args.rounds):
            for kind, measure in (("blocked", blocked), ("pipelined", timed)):
                on, off = (measure(steps[g], x, y, args.steps) for g in ("raise", "off"))
                ratios[kind].append(on / off)
        cells = [f"{statistics.median(r):.3f} ({min(r):.2f}–{max(r):.2f})" for r in ratios.values()]
        print(f"| {depth} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 16, 64])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--guard", choices=["raise", "skip", "off"], default="raise")
    parser.add_argument("--guard-cost", action="store_true", help="raise vs off only")
    parser.add_argument("--batch", choices=["writable", "read-only"], default="writable")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    y = rng.standard_normal((16, 64)).astype(np.float32)
    if args.batch == "read-only":
        rows = np.arange(len(x))  # as a DataLoader batch: aligned, read-only
        x, y = aligned_take(x, rows), aligned_take(y, rows)
    if args.guard_cost:
        guard_cost(args, x, y)
        return
    print("| Linear layers | parameters (arrays) | ember step | hand-written JAX | ratio |")
    print("|---|---|---|---|---|")
    for depth in args.depths:
        em.manual_seed(0)
        net = Deep(depth)
        if args.optimizer == "adam":
            opt, tx = optim.Adam(net.parameters(), lr=1e-3), optax.adam(1e-3)
        else:
            opt, tx = optim.SGD(net.parameters(), lr=1e-3, momentum=0.9), optax.sgd(1e-3, 0.9)
        model = em.compile(net, loss=nn.MSELoss(), optimizer=opt, guard=args.guard)
        init = {k: jnp.asarray(v) for k, v in net.state_dict().items()}

        def loss_fn(p, x, y, depth=depth):
            h = x
            for i in range(depth):
                h = jax.nn.relu(h @ p[f"layers.{i}.weight"].T + p[f"layers.{i}.bias"])
            return jnp.mean((h - y) ** 2)

        def raw(p, s, x, y, loss_fn=loss_fn, tx=tx):
            loss, g = jax.value_and_grad(loss_fn)(p, x, y)
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s, loss

        jit_step = jax.jit(raw, donate_argnums=(0, 1))
        state = [init, tx.init(init)]

        def jax_step(x, y, state=state, jit_step=jit_step):
            state[0], state[1], loss = jit_step(state[0], state[1], x, y)
            return loss

        def ember_step(x, y, model=model):
            return model.train_step(x, y)["loss"]

        ratios, es, js = [], [], []
        for _ in range(args.rounds):
            e, j = timed(ember_step, x, y, args.steps), timed(jax_step, x, y, args.steps)
            es.append(e)
            js.append(j)
            ratios.append(e / j)
        print(
            f"| {depth} | {2 * depth} | {statistics.median(es) * 1e6:.0f} µs | "
            f"{statistics.median(js) * 1e6:.0f} µs | {statistics.median(ratios):.3f} |"
        )


if __name__ == "__main__":
    main()
