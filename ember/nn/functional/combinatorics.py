"""Tensors assembled from others: `block_diag`, `cartesian_prod`, `combinations`."""

from __future__ import annotations

import itertools

import numpy as np

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.nn.functional._core import active_builder, as_tensor, cast, constant
from ember.nn.functional.indexing import index_select
from ember.nn.functional.meshgrid import meshgrid
from ember.nn.functional.pad import pad
from ember.nn.functional.shape import broadcast_to, cat, reshape, stack

__all__ = ["block_diag", "cartesian_prod", "combinations"]


def block_diag(*tensors) -> Tensor:
    """`torch.block_diag`: a matrix with the inputs as its diagonal blocks, zeros elsewhere.

    Each input is 0-D (a 1x1 block), 1-D (one row) or 2-D; dtypes are promoted.

    >>> em.block_diag(em.ones(2, 2), em.tensor([[3.0]]))     # 3x3, blocks on the diagonal
    """
    builder = active_builder(*tensors)
    ts = [as_tensor(t, builder) for t in tensors]
    if any(t.ndim > 2 for t in ts):
        raise builder.error(
            ShapeError(
                f"block_diag: expects 0-D, 1-D or 2-D tensors, got shapes {[t.shape for t in ts]}"
            )
        )
    if not ts:
        return broadcast_to(constant(builder, 0, dtypes.DEFAULT_FLOAT), (1, 0))
    dt = ts[0].dtype
    for t in ts[1:]:
        dt = dtypes.promote(dt, t.dtype)
    blocks = [reshape(cast(t, dt), (1, -1) if t.ndim < 2 else t.shape) for t in ts]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        rows.append(pad(b, (left, width - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


def _one_dim(fn: str, ts: list[Tensor]) -> None:
    if any(t.ndim != 1 for t in ts):
        raise ts[0].builder.error(
            ShapeError(
                f"{fn}: expects 1-D tensors, got shapes {[t.shape for t in ts]}; fix: flatten "
                "each input (t.flatten())"
            )
        )


def cartesian_prod(*tensors) -> Tensor:
    """`torch.cartesian_prod`: every tuple of one element from each 1-D input, as rows
    (like `itertools.product`); one input is returned as is.

    >>> em.cartesian_prod(em.tensor([1, 2]), em.tensor([3, 4]))   # [[1, 3], [1, 4], [2, 3], [2, 4]]
    """
    builder = active_builder(*tensors)
    ts = [as_tensor(t, builder) for t in tensors]
    if not ts:
        raise builder.error(ShapeError("cartesian_prod: expects at least one tensor, got none"))
    _one_dim("cartesian_prod", ts)
    if len(ts) == 1:
        return ts[0]
    dt = ts[0].dtype
    for t in ts[1:]:
        dt = dtypes.promote(dt, t.dtype)
    grids = meshgrid(*(cast(t, dt) for t in ts), indexing="ij")
    return stack([reshape(g, (g.numel(),)) for g in grids], 1)


def combinations(input, r: int = 2, with_replacement: bool = False) -> Tensor:
    """`torch.combinations`: the length-`r` combinations of a 1-D tensor's elements, as
    rows in `itertools.combinations` order (`combinations_with_replacement` with
    `with_replacement=True`).

    >>> em.combinations(em.tensor([1, 2, 3]))          # [[1, 2], [1, 3], [2, 3]]
    """
    x = as_tensor(input)
    _one_dim("combinations", [x])
    if r < 0:
        raise x.builder.error(ShapeError(f"combinations: r must be non-negative, got {r}"))
    if r == 0:  # PyTorch returns an empty 1-D tensor
        return reshape(index_select(x, 0, np.zeros(0, np.int32)), (0,))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    # the rows are static (they depend on the length only): r index columns, gathered
    rows = np.array(list(pick(range(x.shape[0]), r)), np.int32).reshape(-1, r)
    return stack([index_select(x, 0, rows[:, i]) for i in range(r)], 1)
