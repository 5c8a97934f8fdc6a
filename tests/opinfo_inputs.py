"""Seeded inputs and torch helpers shared by the core op_db families.

Every generator returns a numpy array (0-d included, never a numpy scalar) so
samples can be traced and handed to torch alike.
"""

from __future__ import annotations

import numpy as np
import torch

rng = np.random.default_rng(1234)


def reseed(seed: int) -> None:
    """Each op_db module reseeds at import, so its inputs do not depend on the other modules."""
    rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state


def randn(*shape, dtype=np.float32, scale: float = 1.0) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)


def uniform(lo: float, hi: float, *shape, dtype=np.float32) -> np.ndarray:
    return np.asarray(rng.uniform(lo, hi, shape), dtype=dtype)


def away_from_zero(*shape, lo: float = 0.5, hi: float = 2.0) -> np.ndarray:
    """Magnitudes in [lo, hi) with random signs (divisors)."""
    return uniform(lo, hi, *shape) * np.where(rng.random(shape) < 0.5, -1, 1).astype(np.float32)


def randint(lo: int, hi: int, *shape, dtype=np.int32) -> np.ndarray:
    return np.asarray(rng.integers(lo, hi, shape), dtype=dtype)


def randbool(*shape) -> np.ndarray:
    return np.asarray(rng.random(shape) < 0.5)


def distinct(*shape) -> np.ndarray:
    """A random permutation of well-separated values: no ties for max/sort-like ops."""
    n = int(np.prod(shape, dtype=np.int64))
    return np.asarray(rng.permutation(n) * 0.37 - n * 0.18, dtype=np.float32).reshape(shape)


def special_values() -> np.ndarray:
    return np.array([[np.nan, np.inf, -np.inf, 0.0], [1.5, -2.0, -0.0, 3e38]], np.float32)


def t(x) -> torch.Tensor:
    """numpy -> torch, keeping dtype (int32 stays int32, like ember's inputs)."""
    return torch.from_numpy(np.array(x, copy=True, order="C"))  # ascontiguousarray makes 0-d 1-d


def tt(*xs) -> tuple[torch.Tensor, ...]:
    return tuple(t(x) for x in xs)
