"""Python loops over tensors, as tutorials write them, against PyTorch.

- corpus: `ids = LongTensor(n); for k: ids[k] = word_id` (a language model's Corpus)
- one-hot: `t = zeros(len, 1, letters); for li: t[li][0][letter] = 1` (char-RNN tutorials)
- generate: `idx = cat((idx, multinomial(softmax(net(idx[:, -ctx:])[:, -1]), 1)), 1)`
  for n tokens, read once at the end (minGPT's generate)
- evaluation total: `total += criterion(net(x), y).detach()` over n batches, read once
  at the end (the Annotated Transformer's run_epoch in eval mode)

    python bench/bench_host_loops.py --writes 3000 100000 --tokens 40 160 --batches 80
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def corpus(m, n: int) -> float:
    t0 = time.perf_counter()
    ids = m.LongTensor(n)
    for k in range(n):
        ids[k] = k % 17
    assert int(ids.sum()) == sum(k % 17 for k in range(n))
    return time.perf_counter() - t0


def one_hot(m, n: int) -> float:
    t0 = time.perf_counter()
    t = m.zeros(n, 1, 57)
    for li in range(n):
        t[li][0][li % 57] = 1
    assert float(t.sum()) == n
    return time.perf_counter() - t0


def generate(m, n: int) -> float:
    m.manual_seed(0)
    net = m.nn.Sequential(
        m.nn.Embedding(43, 48), m.nn.Linear(48, 48), m.nn.GELU(), m.nn.Linear(48, 43)
    )
    t0 = time.perf_counter()
    idx = m.zeros(1, 8, dtype=m.long)
    with m.no_grad():
        for _ in range(n):
            probs = m.softmax(net(idx[:, -32:])[:, -1, :], dim=-1)
            idx = m.cat((idx, m.multinomial(probs, num_samples=1)), dim=1)
    np.asarray(idx.numpy())
    return time.perf_counter() - t0


def evaluation_total(m, n: int) -> float:
    m.manual_seed(0)
    net = m.nn.Sequential(m.nn.Linear(64, 256), m.nn.ReLU(), m.nn.Linear(256, 10))
    criterion = m.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((n, 32, 64)).astype(np.float32)
    ys = rng.integers(0, 10, (n, 32))
    t0 = time.perf_counter()
    total = 0
    for x, y in zip(xs, ys, strict=True):
        total += criterion(net(m.from_numpy(x)), m.from_numpy(y)).detach()
    float(total)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, nargs="+", default=[3000, 100000])
    parser.add_argument("--tokens", type=int, nargs="+", default=[40, 160])
    parser.add_argument("--batches", type=int, nargs="+", default=[80])
    args = parser.parse_args()
    import torch

    import ember

    print("| loop | n | ember s | torch s |")
    print("|---|---|---|---|")
    for n in args.writes:
        print(f"| corpus writes | {n} | {corpus(ember, n):.3f} | {corpus(torch, n):.3f} |")
    for n in args.writes[:1]:
        print(f"| one-hot rows | {n} | {one_hot(ember, n):.3f} | {one_hot(torch, n):.3f} |")
    for n in args.tokens:
        print(f"| generate tokens | {n} | {generate(ember, n):.2f} | {generate(torch, n):.2f} |")
    for n in args.batches:
        got, want = evaluation_total(ember, n), evaluation_total(torch, n)
        print(f"| evaluation total | {n} | {got:.2f} | {want:.2f} |")


if __name__ == "__main__":
    main()
