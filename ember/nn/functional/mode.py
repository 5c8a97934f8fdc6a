"""`mode`: the most frequent value along a dim and its (last) position.

Counts come from comparing every pair of elements along the dim, O(n²) memory per
slice: fine for the short dims `mode` is used on; data-independent, so it traces.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ember.errors import ShapeError
from ember.frontend.tensor import tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor, cast
from ember.nn.functional.creation import arange
from ember.nn.functional.elementwise import where
from ember.nn.functional.indexing import gather
from ember.nn.functional.shape import movedim, reshape, squeeze, unsqueeze

__all__ = ["mode"]

ModeResult = namedtuple("mode", ["values", "indices"])  # torch.return_types.mode


@tensor_method()
def mode(input, dim: int = -1, keepdim: bool = False) -> ModeResult:
    """`torch.mode`: `(values, indices)` of the most frequent value along `dim`; ties
    go to the smallest value, and the index is its last occurrence (as PyTorch on CPU).

    >>> em.mode(em.tensor([1, 3, 3, 2, 2, 1, 1]))   # values 1, indices 6
    """
    x = as_tensor(input)
    scalar = x.ndim == 0
    if scalar:
        x = reshape(x, (1,))
    try:
        d = normalize_dim(dim, x.ndim)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"mode: {e}")) from None
    n = x.shape[d]
    if n == 0:
        raise x.builder.error(ShapeError(f"mode: dim {d} of the input {x.shape} is empty"))
    last = movedim(x, d, -1)  # (..., n)
    same = unsqueeze(last, -1) == unsqueeze(last, -2)  # (..., n, n)
    counts = cast(same, dtypes.DEFAULT_INT).sum(-1)  # (..., n)
    best = counts == counts.amax(-1, keepdim=True)
    # the smallest most-frequent value: rank candidates by value, then take its last index
    biggest = float("inf") if dtypes.is_floating(x.dtype) else int(np.iinfo(x.dtype).max)
    winner = where(best, last, biggest).amin(-1, keepdim=True) if x.dtype != "bool" else None
    if winner is None:  # bool: False < True
        winner = where(best, last, True).all(-1, keepdim=True)
    positions = arange(n)
    index = where(last == winner, positions, -1).amax(-1, keepdim=True)  # (..., 1)
    values = gather(last, -1, index)
    values, index = movedim(values, -1, d), movedim(index, -1, d)
    if scalar or not keepdim:
        values, index = squeeze(values, d), squeeze(index, d)
    return ModeResult(values, index)
