"""XLA:CPU: algsimp's conv operand swap makes a 3x3/pad-1 conv on 2x2 maps ~10x slower.

Times one conv three ways: as written; as pad + optimization_barrier + VALID conv; as
written with algsimp disabled (in a child process: XLA reads XLA_FLAGS at start-up).
Needs only jax: python docs/snippets/xla_cpu_conv_swap.py
"""

import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

DN = ("NCHW", "OIHW", "NCHW")
ALGSIMP_OFF = "--xla_disable_hlo_passes=algsimp"


def conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=DN)


def conv_prepadded(x, w):  # the barrier stops algsimp folding the pad back into the conv
    xp = lax.optimization_barrier(jnp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))))
    return lax.conv_general_dilated(xp, w, (1, 1), "VALID", dimension_numbers=DN)


def report(name, fn, x, w, reps=20):
    f = jax.jit(fn)
    hlo = f.lower(x, w).compile().as_text()
    labels = [
        ln.split("dim_labels=")[1].split(",")[0] for ln in hlo.splitlines() if "dim_labels" in ln
    ]
    y = f(x, w).block_until_ready()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f(x, w).block_until_ready()
        times.append(time.perf_counter() - start)
    print(f"  {name:18s} median {1e3 * np.median(times):6.1f} ms   optimized conv {labels}")
    return np.asarray(y)


if __name__ == "__main__":
    rng = np.random.default_rng(0)  # ResNet-18's last stage at 64x64 input
    x = jnp.asarray(rng.standard_normal((4, 512, 2, 2)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((512, 512, 3, 3)) / np.sqrt(512 * 9), jnp.float32)
    flags = os.environ.get("XLA_FLAGS", "")
    print(f"jax {jax.__version__} {jax.devices()[0].platform}, XLA_FLAGS={flags!r}")
    y = report("conv pad=1", conv, x, w)
    if ALGSIMP_OFF not in flags:
        y_pad = report("pad+barrier+VALID", conv_prepadded, x, w)
        print(f"  max |y - y_pad| / max |y| = {np.abs(y - y_pad).max() / np.abs(y).max():.1e}")
        env = {**os.environ, "XLA_FLAGS": f"{flags} {ALGSIMP_OFF}".strip()}
        subprocess.run([sys.executable, __file__], env=env, check=True)
