"""Compiled steps of ported programs vs a hand-written jax.jit + optax step, and the guard's cost.

Models are the PyTorch ports of tests/port_models.py (imports changed only):
- seq2seq: GRU encoder, GRU decoder with Bahdanau attention, two inputs `(src, tgt)`;
- nanoGPT: `forward(idx, targets) -> (logits, loss)`, weight tying, compiled with
  `loss=None, output=1`;
- DCGAN: the fused two-optimizer step (`optimizer={"d": ..., "g": ...}`) vs the two
  separate compiled steps alternated.

The hand-written step runs the same computation: the module's pure function from
`em.functionalize` under the user's own `jax.jit(value_and_grad + optax)`, state donated.
So the ratio measures what ember's step adds (the guard, metric sums, run state), not a
different model. "guard off" rows compile with `guard="off"`: the guard's overhead is
the ratio of the default step to that one (issue 14; the seed MLP's figures come from
`--mlp`). Ratios are medians of interleaved rounds.

    python bench/bench_programs.py --rounds 7 --steps 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import numpy as np
import optax

import ember as em
from ember import nn, optim

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import port_models as pm  # noqa: E402

EMBER = (em, em.nn, em.nn.functional)


def timed(step, batches, steps: int) -> float:
    """Mean seconds per step over `steps` back-to-back steps (blocked at the end)."""
    out = None
    for i in range(3):
        out = step(batches[i % len(batches)])
    jax.block_until_ready(out)
    t0 = time.perf_counter()
    for i in range(steps):
        out = step(batches[i % len(batches)])
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / steps


def handwritten(net, loss_of, inputs_of, lr: float):
    """jax.jit(value_and_grad + optax.adam) around em.functionalize's pure function.
    `inputs_of(batch)` are the forward's inputs; `loss_of(outputs, batch)` the loss."""
    apply, state = em.functionalize(net)
    tx = optax.adam(lr)

    def step(params, opt_state, buffers, batch):
        def loss_fn(p):
            outputs, new_buffers = apply({"params": p, "buffers": buffers}, *inputs_of(batch))
            return loss_of(outputs, batch), new_buffers

        (loss, new_buffers), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, new_buffers, loss

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    s = [state["params"], tx.init(state["params"]), state["buffers"]]

    def run(batch):
        s[0], s[1], s[2], loss = step(s[0], s[1], s[2], batch)
        return loss

    return run


def compare(name, make, loss_of, inputs_of, compile_kw, batches, rounds, steps) -> None:
    runners = {}
    for guard in ("raise", "off"):
        em.manual_seed(0)
        net = make()
        model = em.compile(
            net, optimizer=optim.Adam(net.parameters(), lr=1e-3), guard=guard, **compile_kw
        )
        runners[f"ember (guard={guard})"] = lambda b, m=model: m.train_step(*b)["loss"]
    em.manual_seed(0)
    runners["hand-written jax.jit"] = handwritten(make(), loss_of, inputs_of, 1e-3)
    times = {k: [] for k in runners}
    for _ in range(rounds):
        for k, run in runners.items():
            times[k].append(timed(run, batches, steps))
    base = statistics.median(times["hand-written jax.jit"])
    off = statistics.median(times["ember (guard=off)"])
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {name} | {k} | {m * 1e3:.2f} ms | {m / base:.3f} | {m / off:.3f} |")


def seq2seq(rounds: int, steps: int) -> None:
    vocab, hidden, n, src_len, tgt_len = 64, 128, 32, 12, 10
    seq, _ = pm.define_seq2seq(*EMBER)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):
        tgt = rng.integers(1, vocab, (n, tgt_len + 1)).astype(np.int32)
        tgt[:, 0] = 0
        src = rng.integers(1, vocab, (n, src_len)).astype(np.int32)
        batches.append(((src, tgt[:, :-1].copy()), tgt[:, 1:].copy()))
    ce = nn.CrossEntropyLoss()

    def loss(out, y):
        return ce(out[0].reshape(-1, vocab), y.reshape(-1))

    def loss_of(outputs, batch):
        return optax.softmax_cross_entropy_with_integer_labels(
            outputs[0].reshape(-1, vocab), batch[1].reshape(-1)
        ).mean()

    schedule = (True,) * (tgt_len - 1)
    compare(
        "seq2seq GRU+attention",
        lambda: seq(vocab, hidden, schedule),
        loss_of,
        lambda b: b[0],
        {"loss": loss},
        batches,
        rounds,
        steps,
    )


def gpt(rounds: int, steps: int) -> None:
    cfg = pm.GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128)
    gpt_cls = pm.define_gpt(*EMBER)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):
        idx = rng.integers(0, cfg.vocab_size, (16, cfg.block_size + 1)).astype(np.int32)
        batches.append(((idx[:, :-1].copy(), idx[:, 1:].copy()),))
    compare(
        "nanoGPT 4x128, T=64, B=16",
        lambda: gpt_cls(cfg),
        lambda outputs, batch: outputs[1],
        lambda b: b[0],
        {"loss": None, "output": 1},
        batches,
        rounds,
        steps,
    )


def dcgan(rounds: int, steps: int) -> None:
    generator, discriminator, weights_init, d_step, g_step = pm.define_dcgan(
        *EMBER, nz=16, ngf=16, ndf=16
    )

    class Fused(nn.Module):
        def __init__(self, g, d):
            super().__init__()
            self.d_step, self.g_step = d_step(g, d), g_step(g, d)

        def training_step(self, batch):
            return {
                "d": self.d_step.training_step(batch)["loss"],
                "g": self.g_step.training_step(batch),
            }

    def models(fused: bool):
        em.manual_seed(0)
        g, d = generator(), discriminator()
        opt_d = optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_g = optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        if fused:
            model = em.compile(Fused(g, d), optimizer={"d": opt_d, "g": opt_g})
            return lambda b: model.train_step(b)["g"]
        dm, gm = (
            em.compile(d_step(g, d), optimizer=opt_d),
            em.compile(g_step(g, d), optimizer=opt_g),
        )

        def both(b):
            dm.train_step(b)
            return gm.train_step(b)["loss"]

        return both

    rng = np.random.default_rng(0)
    batches = [
        (
            rng.standard_normal((64, 1, 16, 16)).astype(np.float32),
            rng.standard_normal((64, 16, 1, 1)).astype(np.float32),
        )
        for _ in range(4)
    ]
    runners = {"fused (one program)": models(True), "two compiled steps": models(False)}
    times = {k: [] for k in runners}
    for _ in range(rounds):
        for k, run in runners.items():
            times[k].append(timed(run, batches, steps))
    base = statistics.median(times["two compiled steps"])
    print("\n| DCGAN 16x16, batch 64 | per iteration | vs two steps |\n|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v) * 1e3:.2f} ms | {statistics.median(v) / base:.3f} |")


def mlp(rounds: int, steps: int) -> None:
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(784, 128), nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(em.relu(self.fc1(x)))

    rng = np.random.default_rng(0)
    for batch in (64, 1024):
        batches = [
            (
                rng.standard_normal((batch, 784)).astype(np.float32),
                rng.integers(0, 10, batch).astype(np.int32),
            )
            for _ in range(8)
        ]

        def loss_of(outputs, b):
            return optax.softmax_cross_entropy_with_integer_labels(outputs, b[1]).mean()

        compare(
            f"seed MLP, batch {batch}",
            Net,
            loss_of,
            lambda b: b[:1],
            {"loss": nn.CrossEntropyLoss()},
            batches,
            rounds,
            steps,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--only", nargs="*", default=["mlp", "seq2seq", "gpt", "dcgan"])
    args = parser.parse_args()
    print(
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}"
    )
    print("| model | step | time | vs hand-written | vs guard off |\n|---|---|---|---|---|")
    for name in args.only:
        globals()[name](args.rounds, args.steps)


if __name__ == "__main__":
    main()
