"""Shared parameters and comparisons of the distribution tests (ember vs torch)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributions as TD

import ember as em
import ember.distributions as D

R = np.random.default_rng(0)
INF = math.inf


def f32(*shape) -> np.ndarray:
    return R.standard_normal(shape).astype(np.float32)


def positive(*shape) -> np.ndarray:
    return np.exp(0.5 * f32(*shape)).astype(np.float32)


def binary(*shape) -> np.ndarray:
    return (R.random(shape) < 0.5).astype(np.float32)


def spd(*shape) -> np.ndarray:
    a = f32(*shape)
    return (a @ np.swapaxes(a, -1, -2) + np.eye(shape[-1], dtype=np.float32)).astype(np.float32)


def lib_tensor(lib):
    return em.tensor if lib is D else torch.tensor


def arr(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x.numpy()


def both(make):
    """`make(lib, tensor)` for ember and for torch, on the same random parameters."""
    global R
    made = []
    for lib, tensor in ((D, em.tensor), (TD, torch.tensor)):
        R = np.random.default_rng(123)
        made.append(make(lib, tensor))
    return made


def assert_close(got, want, rtol=1e-5, atol=1e-6, msg=""):
    got, want = arr(got), arr(want)
    assert got.shape == want.shape, (msg, got.shape, want.shape)
    np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol, atol=atol, err_msg=msg)


# -- statistics against torch ------------------------------------------------------------------


N_DRAWS = 20000


def within(mean, want, sd, n=N_DRAWS, z=5.0):
    """Sample means within z standard errors: a wrong distribution misses by far more."""
    error, bound = np.abs(np.asarray(mean) - want), z * np.asarray(sd) / math.sqrt(n)
    assert (error <= bound).all(), (error, bound)


X_DIM, Z_DIM, BATCH = 6, 3, 8
