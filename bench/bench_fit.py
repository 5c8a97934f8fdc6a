"""fit throughput with steps_per_execution, and checkpoint save time.

1. Samples/s of `model.fit` on the seed MLP (784-128-10, SGD momentum, batch 64,
   shuffled each epoch) with `steps_per_execution` K = 1, 8, 32, against a hand-written
   loop: the same shuffling and slicing in Python, one `jax.jit` + optax step per batch.
2. Checkpoint save time of a ~100M-parameter model with Adam (params + two moments):
   the time the training loop is blocked by `mgr.save` with `async_save=False` and
   `async_save=True`, and the time until the async write is finished.

    python bench/bench_fit.py --epochs 3 --rounds 5 --params 100e6
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import ember as em
from ember import nn, optim

N, BATCH = 8192, 64


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(em.relu(self.fc1(x)))


def data():
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((N, 784)).astype(np.float32),
        rng.integers(0, 10, N).astype(np.int32),
    )


def ember_fit(x, y, epochs: int, k: int) -> float:
    em.manual_seed(0)
    net = Net()
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
        steps_per_execution=k,
    )
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # compile outside the timing
    t0 = time.perf_counter()
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    assert np.isfinite(history["loss"][-1])
    return epochs * N / (time.perf_counter() - t0)


def handwritten_fit(x, y, epochs: int) -> float:
    em.manual_seed(0)
    params = {k: jnp.asarray(v) for k, v in Net().state_dict().items()}
    tx = optax.sgd(0.01, momentum=0.9)

    def loss_fn(p, xb, yb):
        h = jax.nn.relu(xb @ p["fc1.weight"].T + p["fc1.bias"])
        logits = h @ p["fc2.weight"].T + p["fc2.bias"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(p, s, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    state = [params, tx.init(params)]
    rng = np.random.default_rng(0)

    def epoch():
        order = rng.permutation(N)
        losses = []
        for i in range(0, N, BATCH):
            idx = order[i : i + BATCH]
            state[0], state[1], loss = step(state[0], state[1], x[idx], y[idx])
            losses.append(loss)
        return float(jnp.mean(jnp.stack(losses)))  # the epoch's loss, as fit reports

    epoch()
    t0 = time.perf_counter()
    for _ in range(epochs):
        assert np.isfinite(epoch())
    return epochs * N / (time.perf_counter() - t0)


def throughput(epochs: int, rounds: int) -> None:
    x, y = data()
    rows = {"hand-written jax.jit loop": [], **{f"ember fit, K={k}": [] for k in (1, 8, 32)}}
    for _ in range(rounds):  # interleaved so machine-load drift hits every row alike
        rows["hand-written jax.jit loop"].append(handwritten_fit(x, y, epochs))
        for k in (1, 8, 32):
            rows[f"ember fit, K={k}"].append(ember_fit(x, y, epochs, k))
    base = statistics.median(rows["hand-written jax.jit loop"])
    print("| loop | samples/s (median) | vs hand-written |")
    print("|---|---|---|")
    for name, values in rows.items():
        m = statistics.median(values)
        print(f"| {name} | {m:,.0f} | {m / base:.2f}× |")


class Big(nn.Module):
    def __init__(self, n_params: float):
        super().__init__()
        width = 4096
        depth = max(1, round(n_params / (width * width)))
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def checkpoint_times(n_params: float, rounds: int) -> None:
    em.manual_seed(0)
    net = Big(n_params)
    count = sum(p.numel() for p in net.parameters())
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.Adam(net.parameters()))
    x = np.zeros((8, 4096), np.float32)
    model.train_step(x, x)  # optimizer state exists: Adam's two moments
    print(f"\nmodel: {count / 1e6:.1f}M parameters, Adam ({3 * count * 4 / 1e9:.2f} GB of state)")
    print("| save | blocked (median) | until written (median) |")
    print("|---|---|---|")
    for async_save in (False, True):
        blocked, written = [], []
        with tempfile.TemporaryDirectory() as tmp:
            mgr = em.CheckpointManager(tmp, max_to_keep=2, async_save=async_save)
            for step in range(rounds):
                model.train_step(x, x)
                jax.block_until_ready(model.state_dict())
                t0 = time.perf_counter()
                mgr.save(step, model)
                blocked.append(time.perf_counter() - t0)
                mgr.wait_until_finished()
                written.append(time.perf_counter() - t0)
        name = "async" if async_save else "sync"
        print(
            f"| {name} | {statistics.median(blocked):.3f} s | {statistics.median(written):.3f} s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--params", type=float, default=100e6)
    parser.add_argument("--skip-checkpoint", action="store_true")
    args = parser.parse_args()
    print(
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}"
    )
    throughput(args.epochs, args.rounds)
    if not args.skip_checkpoint:
        checkpoint_times(args.params, max(3, args.rounds))


if __name__ == "__main__":
    main()
