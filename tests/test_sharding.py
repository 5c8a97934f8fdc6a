"""Scale-out on a Mesh: DP, FSDP and tensor parallelism against one device.

The cases run in subprocesses with 8 virtual CPU devices (tests/sharding_cases.py), so
the rest of the suite keeps one device; the two-process case joins a `jax.distributed`
job over localhost (tests/sharding_multihost.py). Virtual devices check layouts and
numerics, not speed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(__file__)


def _run(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.parametrize(
    "cases",
    [
        [
            "case_mlp_trajectories",
            "case_default_is_data_parallel",
            "case_errors",
            "case_sync_batchnorm_uses_the_whole_batch",
        ],
        ["case_gpt_trajectories"],
        ["case_fsdp_memory", "case_fit_eval_predict"],
        ["case_checkpoint_across_meshes"],
        ["case_gpt_scan_layers"],
    ],
    ids=["mlp", "gpt", "fsdp-memory-fit", "checkpoint", "gpt-scan-layers"],
)
def test_sharded_runs_match_one_device(cases):
    result = _run([os.path.join(HERE, "sharding_cases.py"), *cases])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    for case in cases:
        assert f"ok {case}" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_together_like_one(tmp_path):
    script = os.path.join(HERE, "sharding_multihost.py")
    port = str(_free_port())
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    hosts = [
        subprocess.Popen(
            [sys.executable, script, str(i), "2", port, str(tmp_path / f"host{i}.npz")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outputs = [h.communicate(timeout=300) for h in hosts]
    for h, (out, err) in zip(hosts, outputs, strict=True):
        assert h.returncode == 0, out[-2000:] + err[-4000:]
    assert "Epoch" in outputs[0][1] and "Epoch" not in outputs[1][1]  # progress: process 0
    single = _run([script, "single", "1", "0", str(tmp_path / "single.npz")])
    assert single.returncode == 0, single.stderr[-4000:]
    together, alone = np.load(tmp_path / "host0.npz"), np.load(tmp_path / "single.npz")
    assert int(together["devices"]) == 8
    np.testing.assert_allclose(together["losses"], alone["losses"], rtol=1e-5)
    for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
        np.testing.assert_allclose(together[name], alone[name], rtol=1e-5, atol=1e-6)
