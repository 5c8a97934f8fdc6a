"""Compile time in depth: nanoGPT (d=128, T=64, batch 16, AdamW) at 4 and 48 layers,
unrolled and with `scan_layers=True`; and what `remat` saves in XLA's memory analysis.

Each cell runs in a fresh process (no warm caches): compile = first train step minus
the median of the next steps; step = that median.

    python bench/bench_compile_depth.py --layers 4 48 --steps 5
    python bench/bench_compile_depth.py --memory     # remat table (4 layers, d=64)
"""

from __future__ import annotations

import os

# compile times are measured: no programs from an earlier run (runtime/compilation_cache.py)
os.environ.setdefault("EMBER_COMPILATION_CACHE", "0")

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def cell(layers: int, mode: str, steps: int, d: int, guard: str) -> dict:
    import port_models as pm

    import ember as em
    from ember import optim

    cfg = pm.GPTConfig(block_size=64, vocab_size=65, n_layer=layers, n_head=4, n_embd=d)
    em.manual_seed(0)
    net = pm.define_gpt(em, em.nn, em.nn.functional)(cfg)
    idx = np.random.default_rng(0).integers(0, 65, (16, 65)).astype(np.int32)
    x, y = idx[:, :-1].copy(), idx[:, 1:].copy()
    options = {
        "unrolled": {},
        "scan": {"scan_layers": True},
        "remat": {"remat": {"transformer.h.*": "dots_saveable"}},
        "scan+remat": {"scan_layers": True, "remat": {"transformer.h.*": "dots_saveable"}},
    }[mode]
    opt = optim.AdamW(net.parameters(), lr=1e-3)
    model = em.compile(net, loss=None, output=1, optimizer=opt, guard=guard, **options)
    if steps == 0:  # memory only
        return {"temp_bytes": model.memory_analysis(x, y)["temp_size_in_bytes"]}
    t0 = time.perf_counter()
    float(model.train_step(x, y)["loss"])
    first = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = float(model.train_step(x, y)["loss"])
        times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"compile_s": first - step, "step_ms": step * 1e3, "loss": loss}


def run(layers: int, mode: str, steps: int, d: int = 128, guard: str = "raise") -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--cell", str(layers), mode, str(steps), str(d), guard],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 48])
    parser.add_argument("--modes", nargs="+", default=["unrolled", "scan"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--cell", nargs=5)
    args = parser.parse_args()
    if args.cell:
        layers, mode, steps, d, guard = args.cell
        print(json.dumps(cell(int(layers), mode, int(steps), int(d), guard)))
        return
    if args.memory:
        print("| 4-layer GPT d=64, T=64, B=16 | XLA temp bytes |\n|---|---:|")
        for mode in ("unrolled", "remat", "scan", "scan+remat"):
            print(f"| {mode} | {run(4, mode, 0, d=64)['temp_bytes']:,} |", flush=True)
        return
    print("| layers | mode | compile s | step ms | loss |\n|---:|---|---:|---:|---:|")
    results = {}
    for layers in args.layers:
        for mode in args.modes:
            r = results[layers, mode] = run(layers, mode, args.steps)
            print(
                f"| {layers} | {mode} | {r['compile_s']:.1f} | {r['step_ms']:.0f} | "
                f"{r['loss']:.5f} |",
                flush=True,
            )
    lo, hi = min(args.layers), max(args.layers)
    for mode in args.modes:
        ratio = results[hi, mode]["compile_s"] / results[lo, mode]["compile_s"]
        print(f"compile time {hi} vs {lo} layers, {mode}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
