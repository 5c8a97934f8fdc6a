"""Top-level PyTorch switches and test helpers against torch: set_printoptions,
set_default_dtype, seed, testing.assert_close."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import ember as em


@pytest.fixture
def default_print_options():
    yield
    em.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def _body(text: str) -> str:
    return " ".join(text.replace("tensor(", "").replace(")", "").split())


@pytest.mark.parametrize(
    "options",
    [{"precision": 2}, {"precision": 6}, {"profile": "short"}, {"threshold": 5, "edgeitems": 1}],
)
def test_printoptions_change_tensor_printing_like_torch(options, default_print_options):
    values = np.array([[1.123456789, -2.5, 3.0], [0.000123, 4.25, 1e3]], np.float32)
    em.set_printoptions(**options)
    torch.set_printoptions(**options)
    got = _body(repr(em.tensor(values)))
    want = _body(repr(torch.tensor(values)))
    # the digits shown (numpy and torch pad differently): compare the numbers printed
    assert got.replace(",", " ").split() == want.replace(",", " ").split(), (got, want)


def test_set_default_dtype_refuses_what_it_cannot_honour():
    em.set_default_dtype(em.float32)
    assert em.get_default_dtype() == em.float32
    with pytest.raises(TypeError, match="only float32 and float64"):
        em.set_default_dtype(em.int32)
    with pytest.raises(RuntimeError, match="jax_enable_x64"):
        em.set_default_dtype(torch.float64)
    assert em.get_default_dtype() == em.float32


def test_set_default_dtype_float64_makes_new_tensors_and_layers_float64():
    code = (
        "import jax; jax.config.update('jax_enable_x64', True)\n"
        "import ember as em; from ember import nn\n"
        "em.set_default_dtype(em.float64)\n"
        "print(em.zeros(2).dtype, nn.Linear(2, 3).weight.dtype, em.tensor([1.5]).dtype)\n"
        "bn = nn.BatchNorm1d(2)\n"  # running statistics too, as in PyTorch
        "print(bn.running_mean.dtype, bn.running_var.dtype,"
        " nn.CrossEntropyLoss(weight=em.ones(3)).weight.dtype,"
        " nn.Transformer.generate_square_subsequent_mask(3).dtype)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["float64"] * 7, out.stdout + out.stderr


def test_seed_reseeds_from_the_system_and_returns_the_seed():
    first = em.seed()
    a = em.randn(4).numpy()
    em.manual_seed(first)
    np.testing.assert_array_equal(em.randn(4).numpy(), a)
    assert em.initial_seed() == first
    assert em.seed() != first


@pytest.mark.parametrize(
    ("actual", "expected", "kwargs"),
    [
        (np.float32([1.0, 2.0]), np.float32([1.0, 2.0 + 1e-6]), {}),
        (np.float32([1.0, 2.0]), np.float32([1.0, 2.001]), {}),
        (np.float32([1.0, 2.0]), np.float32([1.0, 2.001]), {"rtol": 1e-3, "atol": 0.0}),
        (np.float64([1.0]), np.float64([1.0 + 1e-6]), {}),
        (np.int32([1, 2]), np.int32([1, 3]), {}),
        (np.float32([1.0]), np.float64([1.0]), {}),
        (np.float32([1.0]), np.float64([1.0]), {"check_dtype": False}),
        (np.float32([np.nan]), np.float32([np.nan]), {}),
        (np.float32([np.nan]), np.float32([np.nan]), {"equal_nan": True}),
        (np.float32([1.0, 2.0]), np.float32([1.0]), {}),
        (
            [np.float32([1.0]), {"a": np.float32(2.0)}],
            [np.float32([1.0]), {"a": np.float32(2.0)}],
            {},
        ),
    ],
)
def test_assert_close_agrees_with_torch(actual, expected, kwargs):
    def as_torch(v):
        if isinstance(v, dict):
            return {k: as_torch(x) for k, x in v.items()}
        if isinstance(v, list):
            return [as_torch(x) for x in v]
        return torch.from_numpy(np.asarray(v))

    def as_ember(v):
        if isinstance(v, dict):
            return {k: as_ember(x) for k, x in v.items()}
        if isinstance(v, list):
            return [as_ember(x) for x in v]
        return em.tensor(np.asarray(v)) if np.asarray(v).dtype != np.float64 else np.asarray(v)

    try:
        torch.testing.assert_close(as_torch(actual), as_torch(expected), **kwargs)
        torch_ok = True
    except AssertionError:
        torch_ok = False
    try:
        em.testing.assert_close(as_ember(actual), as_ember(expected), **kwargs)
        ember_ok = True
    except AssertionError:
        ember_ok = False
    assert ember_ok == torch_ok
