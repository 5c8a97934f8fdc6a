"""Creation functions built on arange/linspace: `logspace`, `vander`, `triu_indices`,
`tril_indices`."""

from __future__ import annotations

import numpy as np

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.nn.functional._core import active_builder, as_tensor, cast
from ember.nn.functional.creation import _options, arange, finish, linspace, ones_like, zeros
from ember.nn.functional.elementwise import pow as _pow
from ember.nn.functional.indexing import index_select
from ember.nn.functional.search import searchsorted
from ember.nn.functional.shape import stack

__all__ = ["logspace", "vander", "triu_indices", "tril_indices"]


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, **kwargs) -> Tensor:
    """`torch.logspace`: `base ** linspace(start, end, steps)` (float32 by default).

    >>> em.logspace(0, 2, 3)               # [1, 10, 100]
    """
    _options("logspace", kwargs)
    dt = dtypes.DEFAULT_FLOAT if dtype is None else dtypes.requested(dtype)
    work = dt if dtypes.is_floating(dt) else dtypes.DEFAULT_FLOAT
    exponents = linspace(start, end, steps, dtype=work)
    out = _pow(as_tensor(float(base), exponents.builder, dtype=work), exponents)
    return finish(cast(out, dt), kwargs)


def vander(x, N: int | None = None, increasing: bool = False) -> Tensor:
    """`torch.vander`: the Vandermonde matrix of a 1-D `x`, columns `x**(N-1) ... x**0`
    (`increasing=True` reverses them); bool/int inputs give ember's int (int32).

    Powers are repeated products, so gradients are exact at x = 0.
    """
    v = as_tensor(x)
    if v.ndim != 1:
        raise v.builder.error(ShapeError(f"vander: x must be 1-D, got shape {v.shape}"))
    n = v.shape[0] if N is None else int(N)
    if n < 0:
        raise v.builder.error(ShapeError(f"vander: N must be non-negative, got {n}"))
    if not dtypes.is_floating(v.dtype):
        v = cast(v, "int64")
    columns, power = [], None
    for _ in range(n):
        power = ones_like(v) if power is None else power * v
        columns.append(power)
    if not columns:
        return zeros(v.shape[0], 0, dtype=v.dtype)
    out = stack(columns, 1)
    return out if increasing else out.flip((1,))


def _triangle(name: str, row: int, col: int, offset: int, dtype, lower: bool) -> Tensor:
    """Row-major (row, col) pairs of a triangle: per-row counts on the host, then each
    flat position k finds its row with searchsorted (so the IR holds O(row) literals)."""
    builder = active_builder()
    row, col, offset = int(row), int(col), int(offset)
    if row < 0 or col < 0:
        raise builder.error(ShapeError(f"{name}: row and col must be non-negative, got {row, col}"))
    dt = dtypes.effective(dtypes.canonical("int64" if dtype is None else dtype))
    r = np.arange(row)
    if lower:
        first, last = np.zeros(row, np.int64), np.clip(r + offset + 1, 0, col)
    else:
        first, last = np.clip(r + offset, 0, col), np.full(row, col)
    counts = np.maximum(last - first, 0)
    total = int(counts.sum())
    if total == 0:
        return cast(stack([arange(0), arange(0)]), dt)
    keep = np.nonzero(counts)[0]  # rows with entries: ends strictly increase
    ends = np.cumsum(counts[keep])
    k = arange(total)
    which = searchsorted(as_tensor(ends.astype(np.int32), builder), k, right=True)
    rows = index_select(as_tensor(keep.astype(np.int32), builder), 0, which)
    starts = as_tensor((ends - counts[keep] - first[keep]).astype(np.int32), builder)
    cols = k - index_select(starts, 0, which)
    return cast(stack([rows, cols]), dt)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, **kwargs) -> Tensor:
    """`torch.tril_indices`: the (2, N) row and column indices of the lower triangle of
    a row x col matrix (`offset` shifts the diagonal), in row-major order."""
    _options("tril_indices", kwargs)
    return _triangle("tril_indices", row, col, offset, dtype, lower=True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, **kwargs) -> Tensor:
    """`torch.triu_indices`: the (2, N) indices of the upper triangle, row-major.

    >>> em.triu_indices(3, 3, 1)           # [[0, 0, 1], [1, 2, 2]]
    """
    _options("triu_indices", kwargs)
    return _triangle("triu_indices", row, col, offset, dtype, lower=False)
