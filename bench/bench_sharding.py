"""Sharding strategies on a nanoGPT-style Transformer: bytes per device and step time.

    python bench/bench_sharding.py                  # 8 virtual CPU devices
    python bench/bench_sharding.py --devices 0      # whatever devices JAX finds (GPU/TPU)

For each strategy (one device, DP, FSDP, tensor parallel, TP + FSDP) it prints the
parameter + optimizer-state bytes held per device and the median step time relative to
one device. Virtual CPU devices share the host's cores: their step times say how much
the partitioned program costs on CPU, nothing about TPU speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8, help="virtual CPU devices (0: real)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--embd", type=int, default=128)
    args = parser.parse_args()
    if args.devices:
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))

    import jax
    import numpy as np
    import port_models as pm

    import ember as em
    import ember.nn.functional as F
    from ember import nn, optim

    n = jax.device_count()
    model_ways = 4 if n % 4 == 0 and n >= 4 else 1
    config = pm.GPTConfig(
        block_size=64, vocab_size=256, n_layer=2, n_head=4, n_embd=args.embd, dropout=0.0
    )
    rules = {
        "*.attn.c_attn.weight": ("model", None),
        "*.attn.c_attn.bias": ("model",),
        "*.attn.c_proj.weight": (None, "model"),
        "*.mlp.c_fc.weight": ("model", None),
        "*.mlp.c_fc.bias": ("model",),
        "*.mlp.c_proj.weight": (None, "model"),
    }
    strategies = {
        "1 device": dict(mesh=False),
        f"DP ({n})": dict(mesh=em.mesh(data=n)),
        f"FSDP ({n})": dict(mesh=em.mesh(fsdp=n), sharding="fsdp"),
        f"TP ({n // model_ways}x{model_ways})": dict(
            mesh=em.mesh(data=n // model_ways, model=model_ways), sharding=rules
        ),
        f"TP+FSDP ({n // model_ways}x{model_ways})": dict(
            mesh=em.mesh(data=n // model_ways, model=model_ways), sharding=("fsdp", rules)
        ),
    }
    rng = np.random.default_rng(0)
    data = rng.integers(0, config.vocab_size, (args.batch, config.block_size + 1))
    batch = (data[:, :-1], data[:, 1:])
    print(
        f"nanoGPT d={config.n_embd} L={config.n_layer} T={config.block_size} "
        f"batch {args.batch}, AdamW, {n} {jax.devices()[0].platform} devices"
    )
    print(f"{'strategy':<18} {'params+opt bytes/device':>24} {'ms/step':>9} {'vs 1 device':>12}")
    base = None
    for name, options in strategies.items():
        em.manual_seed(0)
        net = pm.define_gpt(em, nn, F)(config)
        opt = net.configure_optimizers(0.1, 1e-3, (0.9, 0.95), optim)
        model = em.compile(net, loss=None, output=1, optimizer=opt, **options)
        float(model.train_step(batch)["loss"])  # compile
        per_device = model.state_bytes_per_device()
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.steps):
                logs = model.train_step(batch)
            float(logs["loss"])
            times.append((time.perf_counter() - start) / args.steps * 1e3)
        ms = statistics.median(times)
        base = base or ms
        print(f"{name:<18} {max(per_device.values()):>24,} {ms:>9.2f} {ms / base:>11.2f}x")


if __name__ == "__main__":
    main()
