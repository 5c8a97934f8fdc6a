"""Smoke tests of examples/mnist_cnn.py and examples/cifar_resnet.py on tiny synthetic data.

No network, no ../shared: MNIST runs `main` in-process on synthetic IDX files in a
temporary folder; CIFAR-10 runs the script in a subprocess with `--synthetic` and a
narrow ResNet-18. They check that the loss goes down, the metric line is printed and
the curves PNG is written, and that CIFAR-10 without data exits with status 2.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _fast_compile(monkeypatch):
    # Smoke tests: skip the suite's IR verification after every pass (compile time).
    monkeypatch.setenv("EMBER_VERIFY", "0")


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def synthetic_mnist_dir(directory: Path, n: int = 320, seed: int = 0) -> Path:
    """t10k IDX files of `n` images whose class is a bright 4-row band (learnable)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c : 6 + 2 * c, 4:24] = 255
    directory.mkdir()
    write_idx(directory / "t10k-images-idx3-ubyte", images)
    write_idx(directory / "t10k-labels-idx1-ubyte", labels)
    return directory


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    """examples/cifar_resnet.py --synthetic with a narrow ResNet-18, in a subprocess.

    Started as soon as a test asks for it, so its compile (XLA at optimization level 0:
    a third of the time) overlaps the MNIST test on the second core; `wait()` returns
    (exit status, stdout, stderr, folder).
    """
    folder = tmp_path_factory.mktemp("cifar")
    argv = ["--synthetic", "--subset", "80", "--epochs", "2", "--batch-size", "16"]
    argv += ["--width", "4", "--lr", "0.05", "--steps-per-execution", "1"]
    argv += ["--plot", "curves.png", "--no-progress"]
    env = {**os.environ, "EMBER_VERIFY": "0", "JAX_PLATFORMS": "cpu"}
    env["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "cifar_resnet.py"), *argv],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def wait():
        out, err = proc.communicate(timeout=240)
        return proc.returncode, out, err, folder

    yield wait
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_mnist_cnn_main_trains_and_writes_curves(tmp_path, capsys, cifar_run):
    # cifar_run: only started here, to compile alongside this test
    mnist_cnn = example("mnist_cnn")
    data_dir = synthetic_mnist_dir(tmp_path / "mnist")
    png = tmp_path / "curves.png"
    argv = ["--data-dir", str(data_dir), "--epochs", "2", "--batch-size", "32", "--lr", "3e-3"]
    argv += ["--steps-per-execution", "2", "--plot", str(png), "--no-progress"]
    out = mnist_cnn.main(argv)
    printed = capsys.readouterr().out
    loss = out["history"]["loss"]
    assert loss[1] < loss[0], loss
    assert out["result"]["accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert out["model"].steps_per_execution == 2
    assert f"test accuracy {100 * out['result']['accuracy']:.2f}%" in printed
    assert "train (256, 1, 28, 28), test (64, 1, 28, 28)" in printed
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mnist_shifted_batches_are_shifted_crops():
    mnist_cnn = example("mnist_cnn")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 1, 28, 28)).astype(np.float32)
    y = np.arange(10, dtype=np.int32)
    batches = mnist_cnn.ShiftedBatches(x, y, 4, shift=2, seed=0)
    got = list(batches)
    assert len(batches) == 3 and [len(b) for _, b in got] == [4, 4, 2]
    assert sorted(np.concatenate([b for _, b in got]).tolist()) == list(range(10))
    for xb, yb in got:
        for xi, yi in zip(xb, yb, strict=True):
            padded = np.pad(x[yi], ((0, 0), (2, 2), (2, 2)), constant_values=x.min())
            crops = [padded[:, i : i + 28, j : j + 28] for i in range(5) for j in range(5)]
            assert any(np.array_equal(xi, c) for c in crops)


def test_cifar_resnet_synthetic_trains_and_says_so(cifar_run):
    code, out, err, folder = cifar_run()
    assert code == 0, err[-3000:]
    assert "SYNTHETIC data (random images, not CIFAR-10): train (80, 3, 32, 32)" in out
    losses = [float(m) for m in re.findall(r"train loss ([0-9.]+)", out)]
    assert len(losses) == 2 and losses[1] < losses[0], out
    final = out.strip().splitlines()[-1]
    assert re.fullmatch(r"test accuracy \d+\.\d\d% on 16 test images \(SYNTHETIC.*", final), final
    assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resnet18_matches_torchvision_layout():
    cifar = example("cifar_resnet")
    net = cifar.ResNet18(width=4)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["conv1.weight"] == (4, 3, 3, 3)  # the CIFAR stem: 3x3, stride 1
    assert shapes["layer2.0.downsample.0.weight"] == (8, 4, 1, 1)
    assert shapes["layer4.1.bn2.running_var"] == (32,) and shapes["fc.weight"] == (10, 32)
    assert "layer1.0.downsample.0.weight" not in shapes  # same shape: identity shortcut
    convs = [k for k in shapes if k.endswith(".weight") and len(shapes[k]) == 4]
    assert len(convs) == 20  # 1 stem + 16 block convs + 3 projections (ResNet-18)


def test_cifar_resnet_without_data_exits_2(tmp_path, capsys):
    cifar = example("cifar_resnet")
    with pytest.raises(SystemExit) as info:
        cifar.main(["--data-dir", str(tmp_path), "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in err
    assert "data_batch_1.bin" in err and "test_batch.bin" in err


def test_cifar_batches_crop_flip_and_eval_batch():
    cifar = example("cifar_resnet")
    from ember.datasets import normalize_cifar

    images = np.random.default_rng(0).integers(1, 256, (10, 3, 32, 32)).astype(np.uint8)
    labels = np.arange(10, dtype=np.int32)
    batches = cifar.CifarBatches(images, labels, 4, augment=True, shuffle=True, drop_last=True)
    seen = []
    for x, y in batches:
        assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32
        for xi, yi in zip(x, y, strict=True):
            pad = ((0, 0), (0, 0), (4, 4), (4, 4))  # black pixels around the image
            padded = normalize_cifar(np.pad(images[yi : yi + 1], pad))[0]
            crops = [
                padded[:, i : i + 32, j : j + 32][..., ::f]
                for i in range(9)
                for j in range(9)
                for f in (1, -1)
            ]
            assert any(np.allclose(xi, c) for c in crops)
        seen += y.tolist()
    assert len(batches) == 2 and len(seen) == 8 and len(set(seen)) == 8
    plain = cifar.CifarBatches(images, labels, 4)
    assert len(plain) == 3 and [len(y) for _, y in plain] == [4, 4, 2]
    assert cifar.eval_batch_size(10000, 128) == 125 and cifar.eval_batch_size(19, 16) == 16
