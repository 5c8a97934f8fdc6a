"""`Tensor.__getitem__`: ints, slices, None, Ellipsis and integer-tensor indices."""

from __future__ import annotations

import builtins

from ..errors import ShapeError, TraceError
from ..tensor import Tensor, tensor_method
from ._core import as_tensor, emit
from .shape import reshape, slice_dims

__internal__ = ("getitem",)


def _expand_ellipsis(index: tuple, ndim: int) -> tuple:
    used = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if builtins.sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    if Ellipsis in index:
        pos = index.index(Ellipsis)
        return index[:pos] + (builtins.slice(None),) * (ndim - used) + index[pos + 1 :]
    return index + (builtins.slice(None),) * (ndim - used)


def getitem(x: Tensor, index) -> Tensor:
    if not isinstance(index, tuple):
        index = (index,)
    if builtins.any(isinstance(i, bool) for i in index):
        raise x.builder.error(TraceError("indexing with a Python bool is not supported"))
    index = _expand_ellipsis(index, x.ndim)
    if builtins.sum(1 for i in index if i is not None) > x.ndim:
        raise x.builder.error(ShapeError(f"too many indices for a tensor of shape {x.shape}"))
    spec, out_shape, dim, tensor_indices = {}, [], 0, []
    for item in index:
        if item is None:
            out_shape.append(1)
            continue
        size = x.shape[dim]
        if isinstance(item, builtins.slice):
            lo, hi, st = item.indices(size)
            if st < 0:
                raise x.builder.error(ShapeError("negative slice steps are not supported; use flip"))
            hi = builtins.max(hi, lo)
            spec[dim] = (lo, hi, st)
            out_shape.append(builtins.max(0, (hi - lo + st - 1) // st))
        elif isinstance(item, int):
            if not -size <= item < size:
                raise x.builder.error(
                    ShapeError(f"index {item} is out of bounds for dim {dim} with size {size}")
                )
            i = item % size
            spec[dim] = (i, i + 1, 1)
        else:
            tensor_indices.append((dim, len(out_shape), item))
            out_shape.append(None)
        dim += 1
    y = slice_dims(x, spec)
    kept = [s for s in out_shape if s != "dropped"]
    if not tensor_indices:
        return reshape(y, tuple(kept))
    if len(tensor_indices) > 1:
        raise x.builder.error(
            TraceError("indexing with several index tensors at once is not supported yet; "
                       "fix: index one dim at a time (x[i][:, j]) or use gather/take_along_dim")
        )
    (d, pos, idx) = tensor_indices[0]
    idx = as_tensor(idx, x.builder)
    if idx.dtype == "bool":
        raise x.builder.error(
            TraceError(f"boolean-mask indexing gives a data-dependent shape (mask {idx.shape}); "
                       "fix: em.where(mask, x, 0) or x.masked_fill(~mask, 0) keep shapes static")
        )
    # y still has every indexed dim at its position; select along d, then squeeze int dims
    flat = reshape(idx, (idx.numel(),))
    picked = emit("index_select", [y, flat], dim=d)
    shape_after = list(picked.shape[:d]) + list(idx.shape) + list(picked.shape[d + 1 :])
    picked = reshape(picked, tuple(shape_after))
    final = []
    for s in out_shape:
        if s is None:
            final.extend(idx.shape)
        else:
            final.append(s)
    return reshape(picked, tuple(final))


Tensor.__getitem__ = getitem


@tensor_method()
def index_select(input, dim: int, index):
    x = as_tensor(input)
    return emit("index_select", [x, as_tensor(index, x.builder)], dim=int(dim))


@tensor_method()
def gather(input, dim: int, index):
    x = as_tensor(input)
    return emit("take_along_dim", [x, as_tensor(index, x.builder)], dim=int(dim))


def take_along_dim(input, indices, dim: int):
    return gather(input, dim, indices)


@tensor_method()
def masked_fill(input, mask, value):
    from .elementwise import where

    return where(mask, value, input)
