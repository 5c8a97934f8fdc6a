"""Batches from numpy arrays or from any iterable of batches (a PyTorch DataLoader too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ember.graphdef import ShapeError
from ember.graphdef.parameter import to_numpy


def is_array(x: Any) -> bool:
    """Anything array-like with a shape and dtype (numpy, JAX, PyTorch)."""
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _host(x: Any):
    if isinstance(x, (tuple, list)):
        return type(x)(_host(v) for v in x)
    if isinstance(x, dict):
        return {k: _host(v) for k, v in x.items()}
    return to_numpy(x) if hasattr(x, "detach") else x


def array_batches(
    x, y, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool = False
) -> Iterator[tuple]:
    """Yield (x_batch, y_batch) slices; a seeded permutation per epoch when shuffling."""
    n = len(x)
    if y is not None and len(y) != n:
        raise ShapeError(f"x has {n} examples but y has {len(y)}; fix: pass arrays of equal length")
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            sl = slice(start, min(start + batch_size, n))
            yield x[sl], (None if y is None else y[sl])
        else:
            idx = np.sort(order[start : start + batch_size])  # sorted: contiguous-ish reads
            yield x[idx], (None if y is None else y[idx])


def iterable_batches(data) -> Iterator[tuple]:
    """Normalize items of an iterable to (x, y) numpy pairs."""
    for item in data:
        item = _host(item)
        if isinstance(item, dict):
            yield item.get("x", item.get("input")), item.get("y", item.get("target"))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            yield item[0], item[1]
        else:
            yield item, None
