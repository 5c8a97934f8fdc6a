"""ember turns on JAX's persistent compilation cache: a fresh process writes its compiled
programs to `$EMBER_COMPILATION_CACHE` and a second one reads them back instead of
compiling; `EMBER_COMPILATION_CACHE=0` and a directory the user gave JAX are respected."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import time, numpy as np, jax
import ember as em
from ember import nn, optim
print("DIR", jax.config.jax_compilation_cache_dir)
em.manual_seed(0)
net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.Adam(net.parameters()))
x, y = np.ones((4, 8), np.float32), np.zeros((4, 2), np.float32)
print("LOSS", float(model.train_step(x, y)["loss"]))
"""


def _run(env: dict) -> str:
    full = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    full.update(JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", **env)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=full, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _entries(path) -> set[str]:
    return {p.name for p in path.iterdir() if p.name.endswith("-cache")}


def test_a_second_process_reads_the_compiled_step(tmp_path):
    cache = tmp_path / "xla"
    first = _run({"EMBER_COMPILATION_CACHE": str(cache)})
    assert f"DIR {cache}" in first
    written = _entries(cache)
    assert written, "the first run wrote no compiled programs"
    second = _run({"EMBER_COMPILATION_CACHE": str(cache)})
    assert _entries(cache) == written  # every program came from the cache: none new
    assert first.splitlines()[-1] == second.splitlines()[-1]  # the same loss


def test_the_cache_can_be_turned_off_or_left_to_jax(tmp_path):
    off = _run({"EMBER_COMPILATION_CACHE": "0"})
    assert "DIR None" in off
    mine = tmp_path / "mine"
    kept = _run(
        {"EMBER_COMPILATION_CACHE": str(tmp_path / "ember"), "JAX_COMPILATION_CACHE_DIR": str(mine)}
    )
    assert f"DIR {mine}" in kept
    assert not (tmp_path / "ember").exists()
