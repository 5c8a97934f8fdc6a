"""ember's train_step vs a hand-written jax.jit + optax step (and PyTorch eager CPU).

Same model (784-128-ReLU-10 MLP), same data, same optimizer (SGD lr=0.01,
momentum=0.9), state donated in both. Reports the median step time over
`--steps` timed steps after warm-up (each step blocked on its loss, equally
for every framework), the ratio ember / hand-written JAX, throughput of
unblocked back-to-back steps, and ember's trace+compile time.

    python bench/bench_mlp.py --steps 200 --rounds 15 --batch-sizes 64 1024
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import ember as em
from ember import nn, optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(em.relu(self.fc1(em.flatten(x, 1))))


def data(batch: int, n_batches: int = 16):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((batch, 1, 28, 28)).astype(np.float32) for _ in range(n_batches)]
    ys = [rng.integers(0, 10, batch).astype(np.int32) for _ in range(n_batches)]
    return xs, ys


def time_steps(step, xs, ys, steps: int, warmup: int = 20) -> tuple[float, float]:
    """(median blocked step seconds, mean seconds per step when not blocking)."""
    for i in range(warmup):
        jax.block_until_ready(step(xs[i % len(xs)], ys[i % len(ys)]))
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        jax.block_until_ready(step(xs[i % len(xs)], ys[i % len(ys)]))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    out = None
    for i in range(steps):
        out = step(xs[i % len(xs)], ys[i % len(ys)])
    jax.block_until_ready(out)
    return statistics.median(times), (time.perf_counter() - t0) / steps


def ember_step(batch: int):
    em.manual_seed(0)
    net = Net()
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
    )
    xs, ys = data(batch)
    t0 = time.perf_counter()
    jax.block_until_ready(model.train_step(xs[0], ys[0])["loss"])
    compile_s = time.perf_counter() - t0
    init = {k: v.numpy() for k, v in net.state_dict().items()}
    return (lambda x, y: model.train_step(x, y)["loss"]), compile_s, init


def jax_step(init: dict):
    params = {k: jnp.asarray(v) for k, v in init.items()}
    tx = optax.sgd(0.01, momentum=0.9)

    def loss_fn(p, x, y):
        h = jax.nn.relu(x.reshape(x.shape[0], -1) @ p["fc1.weight"].T + p["fc1.bias"])
        logits = h @ p["fc2.weight"].T + p["fc2.bias"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def _step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step_fn = jax.jit(_step, donate_argnums=(0, 1))
    state = [params, tx.init(params)]

    def step(x, y):
        state[0], state[1], loss = step_fn(state[0], state[1], x, y)
        return loss

    return step


def torch_step(init: dict):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(max(1, torch.get_num_threads()))
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    net.load_state_dict(
        {k.replace("fc1", "1").replace("fc2", "3"): torch.from_numpy(v) for k, v in init.items()}
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            net(torch.from_numpy(x)), torch.from_numpy(y).long()
        )
        loss.backward()
        opt.step()
        return loss.detach().numpy()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per framework")
    args = parser.parse_args()
    print(
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"{platform.processor() or platform.machine()}, jax {jax.__version__}"
    )
    print(
        "| batch | ember step (median) | hand-written JAX | ratio (IQR) | ember unblocked "
        "| JAX unblocked "
        "| PyTorch eager | ember trace+compile |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for batch in args.batch_sizes:
        xs, ys = data(batch)
        e_step, compile_s, init = ember_step(batch)
        j_step = jax_step(init)
        t_step = torch_step(init)
        # Interleave many short rounds so drift in machine load hits both equally; the ratio
        # is the median of per-round ratios (robust to a noisy neighbour on a shared CPU).
        e_med, e_thr, j_med, j_thr, ratios = [], [], [], [], []
        for _ in range(args.rounds):
            m, t = time_steps(e_step, xs, ys, args.steps, warmup=5)
            e_med.append(m)
            e_thr.append(t)
            m2, t2 = time_steps(j_step, xs, ys, args.steps, warmup=5)
            j_med.append(m2)
            j_thr.append(t2)
            ratios.append(m / m2)
        e, j = statistics.median(e_med), statistics.median(j_med)
        ratio = statistics.median(ratios)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratio, ratio, ratio]
        torch_s = time_steps(t_step, xs, ys, args.steps)[0] if t_step else float("nan")
        print(
            f"| {batch} | {e * 1e6:.0f} µs | {j * 1e6:.0f} µs | "
            f"{ratio:.3f} ({q[0]:.2f}–{q[2]:.2f}) | "
            f"{statistics.median(e_thr) * 1e6:.0f} µs | {statistics.median(j_thr) * 1e6:.0f} µs | "
            f"{torch_s * 1e6:.0f} µs | {compile_s:.2f} s |"
        )


if __name__ == "__main__":
    main()
