"""`tensordot`: sum products over given dims of two tensors, as one matmul.

The contracted dims of `a` move last and those of `b` first, both flatten into one
dim of size K, and a (Pa, K) @ (K, Pb) matmul gives the (free a dims, free b dims)
result: XLA's dot sees one big contraction, as PyTorch's own implementation does.
"""

from __future__ import annotations

from math import prod

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import promote_pair
from ember.nn.functional.linalg import matmul
from ember.nn.functional.shape import permute, reshape

__all__ = ["tensordot"]


def _dim_lists(dims, a: Tensor, b: Tensor) -> tuple[list[int], list[int]]:
    """PyTorch's `dims`: an int n (a's last n with b's first n), or two dim lists."""
    if isinstance(dims, Tensor):
        dims = dims.numpy().tolist()
    if isinstance(dims, int):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise a.builder.error(
                ShapeError(
                    f"tensordot: dims={dims} must be in [0, {min(a.ndim, b.ndim)}] for inputs "
                    f"of shapes {a.shape} and {b.shape}"
                )
            )
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    try:
        dims_a, dims_b = dims
    except (TypeError, ValueError):
        raise a.builder.error(
            ShapeError(
                f"tensordot: dims must be an int or a pair of dim lists, got {dims!r}; "
                "fix: dims=([1, 2], [0, 1])"
            )
        ) from None
    dims_a = [dims_a] if isinstance(dims_a, int) else list(dims_a)
    dims_b = [dims_b] if isinstance(dims_b, int) else list(dims_b)
    try:
        dims_a = [normalize_dim(d, a.ndim) for d in dims_a]
        dims_b = [normalize_dim(d, b.ndim) for d in dims_b]
    except ShapeError as e:
        raise a.builder.error(ShapeError(f"tensordot: {e}")) from None
    return dims_a, dims_b


def tensordot(a, b, dims=2) -> Tensor:
    """`torch.tensordot`: contract `dims` of `a` with `dims` of `b`.

    `dims` is an int n (the last n dims of `a` with the first n of `b`) or a pair of
    dim lists `([a dims], [b dims])`. The result has a's free dims, then b's.

    >>> em.tensordot(em.ones(3, 4, 5), em.ones(4, 5, 6), dims=2).shape   # (3, 6)
    >>> em.tensordot(x, w, dims=([1, 0], [0, 1]))
    """
    x, y = promote_pair(a, b)
    dims_a, dims_b = _dim_lists(dims, x, y)
    if (
        len(dims_a) != len(dims_b)
        or len(set(dims_a)) != len(dims_a)
        or len(set(dims_b)) != len(dims_b)
    ):
        raise x.builder.error(
            ShapeError(
                f"tensordot: dims {dims_a} of a and {dims_b} of b must be two lists of the same "
                "length without repeats"
            )
        )
    for da, db in zip(dims_a, dims_b, strict=True):
        if x.shape[da] != y.shape[db]:
            raise x.builder.error(
                ShapeError(
                    f"tensordot: contracted dim {da} of a {x.shape} has size {x.shape[da]} but "
                    f"dim {db} of b {y.shape} has size {y.shape[db]}; they must match"
                )
            )
    free_a = [d for d in range(x.ndim) if d not in dims_a]
    free_b = [d for d in range(y.ndim) if d not in dims_b]
    k = prod(x.shape[d] for d in dims_a)
    out_a = tuple(x.shape[d] for d in free_a)
    out_b = tuple(y.shape[d] for d in free_b)
    xa = reshape(permute(x, free_a + dims_a), (prod(out_a), k))
    yb = reshape(permute(y, dims_b + free_b), (k, prod(out_b)))
    return reshape(matmul(xa, yb), out_a + out_b)
