"""Functional (out-of-place) updates: scatter family, index_add, index_put.

Each returns a new tensor, like PyTorch's out-of-place variants
(`x.scatter_add(...)`, `x.index_put(...)`); traced tensors are never mutated.
"""

from __future__ import annotations

import math

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import broadcast_shapes, normalize_dim
from ember.graphdef.ops.indexing import SCATTER_REDUCES
from ember.nn.functional._core import as_tensor, cast, emit, is_scalar
from ember.nn.functional.indexing import linear_index
from ember.nn.functional.shape import broadcast_to, reshape

__all__ = ["scatter", "scatter_add", "scatter_reduce", "index_add", "index_put"]

_LEGACY_REDUCE = {None: "none", "add": "sum", "multiply": "prod"}  # Tensor.scatter(reduce=...)


def _scatter(x: Tensor, dim: int, index, src, reduce: str, include_self: bool = True) -> Tensor:
    idx = as_tensor(index, x.builder)
    if is_scalar(src):
        src = as_tensor(src, x.builder, dtype=x.dtype)
    src = as_tensor(src, x.builder)
    return emit("scatter", [x, idx, src], dim=int(dim), reduce=reduce, include_self=include_self)


@tensor_method()
def scatter(input, dim: int, index, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """`torch.scatter`: out[index[i][j]][j] = src[i][j] (dim 0); src may be a number.

    >>> x.scatter(1, idx, 0.0)             # write a value at idx along dim 1
    """
    x = as_tensor(input)
    if reduce not in _LEGACY_REDUCE:
        raise x.builder.error(
            ShapeError(
                f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}; "
                "fix: use scatter_reduce for sum/prod/mean/amax/amin"
            )
        )
    src = value if src is None else src
    if src is None:
        raise x.builder.error(ShapeError("scatter: give src (a tensor) or value (a number)"))
    return _scatter(x, dim, index, src, _LEGACY_REDUCE[reduce])


@tensor_method()
def scatter_add(input, dim: int, index, src) -> Tensor:
    """`torch.scatter_add`: sum src into input at index along dim."""
    return _scatter(as_tensor(input), dim, index, src, "sum")


@tensor_method()
def scatter_reduce(
    input, dim: int, index, src, reduce: str, *, include_self: bool = True
) -> Tensor:
    """`torch.scatter_reduce` with reduce in sum, prod, mean, amax, amin."""
    x = as_tensor(input)
    if reduce not in SCATTER_REDUCES[1:]:
        raise x.builder.error(
            ShapeError(
                f"scatter_reduce: reduce must be one of {SCATTER_REDUCES[1:]}, got {reduce!r}"
            )
        )
    return _scatter(x, dim, index, src, reduce, bool(include_self))


@tensor_method()
def index_add(input, dim: int, index, source, *, alpha=1) -> Tensor:
    """`torch.index_add`: out.select(dim, index[i]) += alpha * source.select(dim, i)."""
    x = as_tensor(input)
    idx = as_tensor(index, x.builder)
    src = as_tensor(source, x.builder)
    d = normalize_dim(dim, max(x.ndim, 1))
    if (
        idx.ndim > 1
        or src.ndim != x.ndim
        or (
            x.ndim
            and (
                src.shape[:d] + src.shape[d + 1 :] != x.shape[:d] + x.shape[d + 1 :]
                or src.shape[d] != idx.numel()
            )
        )
    ):
        raise x.builder.error(
            ShapeError(
                f"index_add: source {src.shape} must match input {x.shape} except in dim {d}, "
                f"where it needs index's length {idx.numel()} (index shape {idx.shape})"
            )
        )
    if src.dtype != x.dtype:
        raise x.builder.error(
            DTypeError(
                f"index_add: source dtype {src.dtype} differs from input "
                f"dtype {x.dtype}; fix: cast with .to(input.dtype)"
            )
        )
    if alpha != 1:
        src = src * alpha
    if x.ndim == 0:
        return emit(
            "scatter",
            [x, reshape(idx, ()), reshape(src, ())],
            dim=0,
            reduce="sum",
            include_self=True,
        )
    along = reshape(idx, tuple(idx.numel() if k == d else 1 for k in range(x.ndim)))
    return emit(
        "scatter", [x, broadcast_to(along, src.shape), src], dim=d, reduce="sum", include_self=True
    )


@tensor_method()
def index_put(input, indices, values, accumulate: bool = False) -> Tensor:
    """`torch.index_put` (out of place): x[indices] = values, or += with accumulate=True.

    `indices` is a tuple of integer tensors for the leading dims (broadcast
    together), or a single bool mask; a mask needs `values` that do not depend
    on how many elements it selects (a number, or a tensor that broadcasts).

    >>> y = x.index_put((rows, cols), em.zeros(()))
    """
    x = as_tensor(input)
    if not isinstance(indices, (tuple, list)):
        raise x.builder.error(ShapeError("index_put: indices must be a tuple of tensors"))
    idxs = [as_tensor(i, x.builder) for i in indices]
    vals = as_tensor(values, x.builder, dtype=None if isinstance(values, Tensor) else x.dtype)
    vals = cast(vals, x.dtype)
    if len(idxs) == 1 and idxs[0].dtype == "bool":
        return _put_masked(x, idxs[0], vals, accumulate)
    if not idxs or len(idxs) > x.ndim:
        raise x.builder.error(
            ShapeError(f"index_put: got {len(idxs)} index tensors for a tensor of shape {x.shape}")
        )
    k = len(idxs)
    lead, rest = x.shape[:k], x.shape[k:]
    try:
        flat = linear_index(idxs, lead)
    except ShapeError as e:
        raise x.builder.error(e) from None
    target = flat.shape + rest
    try:
        fits = broadcast_shapes(vals.shape, target) == target
    except ShapeError:
        fits = False
    if not fits:
        raise x.builder.error(
            ShapeError(
                f"index_put: values of shape {vals.shape} do not broadcast "
                f"to the indexed shape {target}"
            )
        )
    n = flat.numel()
    src = reshape(broadcast_to(vals, target), (n,) + rest)
    where_ = broadcast_to(reshape(flat, (n,) + (1,) * len(rest)), (n,) + rest)
    table = reshape(x, (math.prod(lead),) + rest)
    out = emit(
        "scatter",
        [table, where_, src],
        dim=0,
        reduce="sum" if accumulate else "none",
        include_self=True,
    )
    return reshape(out, x.shape)


def _put_masked(x: Tensor, mask: Tensor, vals: Tensor, accumulate: bool) -> Tensor:
    from ember.nn.functional.elementwise import where

    rest = x.shape[mask.ndim :]
    if (
        x.shape[: mask.ndim] != mask.shape
        or len(vals.shape) > len(rest) + 1
        or (len(vals.shape) == len(rest) + 1 and vals.shape[0] != 1)
    ):
        raise x.builder.error(
            ShapeError(
                f"index_put with a bool mask {mask.shape} on {x.shape}: the mask must match the "
                f"leading dims and values {vals.shape} must broadcast to {rest} (a value per "
                "selected element would give a data-dependent shape)"
            )
        )
    vals = reshape(vals, vals.shape[1:]) if len(vals.shape) == len(rest) + 1 else vals
    m = reshape(mask, mask.shape + (1,) * len(rest))
    return where(m, x + vals if accumulate else vals, x)
