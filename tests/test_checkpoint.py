"""Training that survives: bit-identical resume in a fresh process, kills during writes,
hostile checkpoint directories, determinism, and several steps per dispatch."""

import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ember as em
from ember import nn, optim

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ckpt_worker.py")


def _run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, WORKER, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """3 epochs (30 steps) without stopping: the reference."""
    out = tmp_path_factory.mktemp("straight") / "final.npz"
    _run("train", out, "--epochs", 3)
    return _load(out)


@pytest.mark.parametrize(
    "stop_after", [13, 10, 7], ids=["mid-epoch", "epoch-boundary", "after-lr-milestone"]
)
def test_resume_in_a_fresh_process_is_bit_identical(tmp_path, straight, stop_after):
    ckpt = tmp_path / "ckpt"
    _run(
        "train",
        tmp_path / "part.npz",
        "--epochs",
        3,
        "--checkpoint",
        ckpt,
        "--stop-after",
        stop_after,
    )
    part = _load(tmp_path / "part.npz")
    assert int(part["step"]) == stop_after
    _run("train", tmp_path / "resumed.npz", "--epochs", 3, "--checkpoint", ckpt, "--resume")
    resumed = _load(tmp_path / "resumed.npz")
    assert set(resumed) == set(straight)
    for k in straight:
        np.testing.assert_array_equal(resumed[k], straight[k], err_msg=k)


@pytest.mark.parametrize(
    "rounds", [3, *(pytest.param(n, marks=pytest.mark.slow) for n in (10, 50))]
)
def test_sigkill_during_checkpoint_writes_leaves_a_loadable_checkpoint(tmp_path, rounds):
    """Kill a training process at random moments (inside steps and checkpoint writes);
    after every kill the latest complete checkpoint restores and trains on."""
    import ckpt_worker

    ckpt = tmp_path / "loop"
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rng = random.Random(rounds)
    net, opt, model, loader, _ = ckpt_worker.build()
    xb, yb = next(iter(loader))
    restored = 0
    for _ in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, WORKER, "loop", str(ckpt)],
            stdout=subprocess.PIPE,
            env=env,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.5))  # somewhere inside a step or a write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        step = em.CheckpointManager(ckpt, async_save=False).latest_step()
        if step is None:
            continue  # killed before the first save finished
        em.CheckpointManager(ckpt, async_save=False).restore(step, model)
        assert model.step == step
        assert np.isfinite(float(model.train_step(xb, yb)["loss"]))
        restored += 1
        leftovers = [p for p in os.listdir(ckpt) if not p.isdigit()]
        assert all("tmp" not in p for p in leftovers), leftovers
    print(f"\n{rounds} SIGKILLs, {restored} restores of the latest checkpoint")
    assert restored >= rounds // 2


def _small_model(seed=0):
    em.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return net, em.compile(
        net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(net.parameters(), lr=0.1)
    )


def test_hostile_checkpoint_directories_raise_and_change_nothing(tmp_path):
    net, model = _small_model()
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    y = np.zeros(8, "int32")
    model.train_step(x, y)
    model.save_checkpoint(tmp_path / "good")
    before = {k: np.array(v) for k, v in net.state_dict().items()}

    def unchanged():
        after = net.state_dict()
        assert all(np.array_equal(before[k], after[k]) for k in before)

    # a model of another structure
    other = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 2))
    other_model = em.compile(
        other, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(other.parameters(), lr=0.1)
    )
    with pytest.raises(
        em.CheckpointError,
        match=r"params/0.weight: expected \[\[9, 4\], 'float32'\], found \[\[8, 4\]",
    ):
        other_model.restore_checkpoint(tmp_path / "good")
    # a missing item
    import shutil

    bad = tmp_path / "missing"
    shutil.copytree(tmp_path / "good", bad)
    step = os.listdir(bad)[0]
    shutil.rmtree(bad / step / "state")
    with pytest.raises(em.CheckpointError):
        model.restore_checkpoint(bad)
    unchanged()
    # an extra item and a pickle payload named like a checkpoint
    extra = tmp_path / "extra"
    shutil.copytree(tmp_path / "good", extra)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (extra / step / "evil.ckpt").write_bytes(pickle.dumps(Evil()))
    model.restore_checkpoint(extra)  # unknown files are ignored, never executed
    assert not marker.exists()
    # corrupted array data
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tmp_path / "good", corrupt)
    for root, _, files in os.walk(corrupt / step / "state"):
        for f in files:
            p = os.path.join(root, f)
            if os.path.getsize(p) > 0 and "d" in root.split(os.sep)[-1:]:
                with open(p, "r+b") as fh:
                    fh.truncate(max(1, os.path.getsize(p) // 2))
    with pytest.raises(em.CheckpointError):
        model.restore_checkpoint(corrupt)
    unchanged()
    # a directory that is not an ember checkpoint
    (tmp_path / "empty").mkdir()
    with pytest.raises(em.CheckpointError, match="no checkpoint"):
        model.restore_checkpoint(tmp_path / "empty")


def test_same_seed_same_parameters_in_two_fresh_processes(tmp_path):
    _run("train", tmp_path / "a.npz", "--epochs", 20, "--seed", 4)  # 200 steps
    _run("train", tmp_path / "b.npz", "--epochs", 20, "--seed", 4)
    _run("train", tmp_path / "c.npz", "--epochs", 20, "--seed", 5)
    a, b, c = (_load(tmp_path / f"{n}.npz") for n in "abc")
    assert int(a["step"]) == 200
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert not np.array_equal(a["p/0.weight"], c["p/0.weight"])


def test_steps_per_execution_matches_single_steps_and_compiles_once():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((128, 4)).astype("float32")
    y = rng.integers(0, 2, 128).astype("int32")
    net1, m1 = _small_model(7)
    net8, m8 = _small_model(7)
    m8.steps_per_execution = 8
    h1 = m1.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    h8 = m8.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for k, v in net1.state_dict().items():
        np.testing.assert_allclose(net8.state_dict()[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(h8["loss"], h1["loss"], rtol=1e-5)
    log = list(m8.compile_log)
    m8.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert m8.compile_log == log  # nothing recompiled after the first execution
    assert any("x8" in line for line in log)
