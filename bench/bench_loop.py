"""PyTorch's literal training loop on lazy tensors vs `model.train_step`, same model and data.

The loop is the seed program verbatim (imports changed): `optimizer.zero_grad();
outputs = net(inputs); loss = criterion(outputs, labels); loss.backward();
optimizer.step(); running_loss += loss.item()`. `loss.item()` syncs with the
device every iteration, so the compiled side is timed twice: `train_step`
alone (logs not read) and `train_step` + `float(logs["loss"])` (the same sync).
Median of per-round mean iteration times; compiles counted over 3 epochs.

    python bench/bench_loop.py --batch-sizes 64 1024 --rounds 7
    python bench/bench_loop.py --chain 1000        # 1,000 small ops then .item()
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import ember as em
from ember import nn, optim
from ember.runtime.stats import COMPILES


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = em.flatten(x, 1)
        x = self.fc1(x)
        x = em.relu(x)
        x = self.fc2(x)
        return x


def batches(batch: int, n: int):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((batch, 1, 28, 28)).astype(np.float32) for _ in range(n)]
    ys = [rng.integers(0, 10, batch).astype(np.int32) for _ in range(n)]
    return [(em.tensor(x), em.tensor(y)) for x, y in zip(xs, ys, strict=True)], xs, ys


def literal_loop(net, optimizer, criterion, loader) -> float:
    running_loss = 0.0
    for inputs, labels in loader:
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return running_loss


def compiled_loop(model, xs, ys, read: bool) -> float:
    total = 0.0
    logs = None
    for x, y in zip(xs, ys, strict=True):
        logs = model.train_step(x, y)
        if read:
            total += float(logs["loss"])
    jax.block_until_ready(logs)
    return total


def run(batch: int, n: int, rounds: int, guard: str = "raise") -> dict:
    em.manual_seed(0)
    loop_net, step_net = Net(), Net()
    step_net.load_state_dict(loop_net.state_dict())
    opt = optim.SGD(loop_net.parameters(), lr=0.01, momentum=0.9)
    crit = nn.CrossEntropyLoss()
    model = em.compile(
        step_net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.SGD(step_net.parameters(), lr=0.01, momentum=0.9),
        guard=guard,
    )
    loader, xs, ys = batches(batch, n)
    before = dict(COMPILES)
    for _ in range(3):  # 3 epochs of warm-up, also counting compiles
        literal_loop(loop_net, opt, crit, loader)
        compiled_loop(model, xs, ys, read=True)
    compiles = {k: v - before.get(k, 0) for k, v in COMPILES.items() if v != before.get(k, 0)}
    t_loop, t_step, t_step_read = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        literal_loop(loop_net, opt, crit, loader)
        t_loop.append((time.perf_counter() - t0) / n)
        t0 = time.perf_counter()
        compiled_loop(model, xs, ys, read=False)
        t_step.append((time.perf_counter() - t0) / n)
        t0 = time.perf_counter()
        compiled_loop(model, xs, ys, read=True)
        t_step_read.append((time.perf_counter() - t0) / n)
    loop, step, step_read = (statistics.median(t) for t in (t_loop, t_step, t_step_read))
    return {
        "batch": batch,
        "loop_us": loop * 1e6,
        "train_step_us": step * 1e6,
        "train_step_read_us": step_read * 1e6,
        "ratio_vs_train_step": loop / step,
        "ratio_vs_train_step_read": loop / step_read,
        "compiles_3_epochs": compiles,
    }


def chain(n_ops: int, repeats: int = 5) -> dict:
    def ember_chain():
        x = em.tensor(np.ones(8, "float32"))
        for i in range(n_ops):
            x = x * 1.001 + (0.001 if i % 2 else -0.001)
        return x.sum().item()

    def jax_chain():
        x = jnp.ones(8, jnp.float32)
        for i in range(n_ops):
            x = x * 1.001 + (0.001 if i % 2 else -0.001)
        return float(x.sum())

    before = COMPILES["lazy"]
    t0 = time.perf_counter()
    ember_chain()
    first = time.perf_counter() - t0
    programs = COMPILES["lazy"] - before
    ember_t, jax_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ember_chain()
        ember_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        jax_chain()
        jax_t.append(time.perf_counter() - t0)
    return {
        "ops": n_ops,
        "programs_compiled": programs,
        "ember_first_s": first,
        "ember_cached_s": statistics.median(ember_t),
        "jax_op_by_op_s": statistics.median(jax_t),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--batches", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chain", type=int, default=1000)
    parser.add_argument(
        "--guard",
        choices=["raise", "skip", "off"],
        default="raise",
        help="the compiled side's guard (the literal loop has none, as in PyTorch)",
    )
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}, compiled side guard={args.guard}")
    for b in args.batch_sizes:
        r = run(b, args.batches, args.rounds, args.guard)
        print(
            f"batch {b}: literal loop {r['loop_us']:.0f} us/iter, train_step "
            f"{r['train_step_us']:.0f} us ({r['ratio_vs_train_step']:.2f}x), train_step + "
            f"float(loss) {r['train_step_read_us']:.0f} us ({r['ratio_vs_train_step_read']:.2f}x); "
            f"compiles over 3 epochs: {r['compiles_3_epochs']}"
        )
    if args.chain:
        c = chain(args.chain)
        print(
            f"chain of {c['ops']} ops: {c['programs_compiled']} program(s); first run "
            f"{c['ember_first_s']:.2f} s (record + compile), "
            f"cached {c['ember_cached_s'] * 1e3:.1f} ms; "
            f"jax.numpy op by op {c['jax_op_by_op_s'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
