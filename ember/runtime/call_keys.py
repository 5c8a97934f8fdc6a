"""Cheap cache keys for the common step calls (a dict lookup instead of a signature)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from .program import _WIDE, is_array


def shapes(tree: tuple) -> tuple:
    return tuple(
        (x.shape, x.dtype) if is_array(x) and not isinstance(x, Mapping) else None for x in tree
    )


def fast_key(kind: str, tree: tuple) -> tuple | None:
    """A cheap key for the common batches: (x, y) arrays, no carry, no sample weights."""
    batch, carry, sample_weight = tree
    if carry is not None or sample_weight is not None:
        return None
    if isinstance(batch, tuple) and len(batch) == 2 and all(_plain(b) for b in batch):
        x, y = batch
        return (kind, 2, x.shape, x.dtype, y.shape, y.dtype)
    if _plain(batch):
        return (kind, 1, batch.shape, batch.dtype)
    return None


def pair_key(kind: str, x: Any, y: Any) -> tuple | None:
    """`fast_key` of the commonest call, an `(x, y)` pair of host or device arrays in JAX's
    default precision, without building the call's tree; the pair is then the step's
    input as is. None: any other call (it takes the general path)."""
    for a in (x, y):
        if not (type(a) is np.ndarray or isinstance(a, jax.Array)) or a.dtype in _WIDE:
            return None
    return (kind, 2, x.shape, x.dtype, y.shape, y.dtype)


def _plain(x: Any) -> bool:
    if type(x) is np.ndarray or isinstance(x, jax.Array):  # the per-step common case
        return True
    return is_array(x) and hasattr(x, "shape") and not hasattr(x, "value")


def fast_leaves(tree: Any) -> list:
    if isinstance(tree, tuple) and len(tree) == 3 and tree[1] is None and tree[2] is None:
        batch = tree[0]
        return list(batch) if isinstance(batch, tuple) else [batch]
    return list(tree)


__all__ = ["shapes", "fast_key", "fast_leaves", "pair_key"]
