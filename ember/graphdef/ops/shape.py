"""Shape ops: reshape, permute, broadcast, slice, concat, pad, gather/index."""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..registry import register_op
from ..types import TensorType
from .common import broadcast_shapes, normalize_dim


def _reshape(types, shape):
    t = types[0]
    size = 1
    for d in shape:
        size *= d
    if size != t.size:
        raise ShapeError(f"cannot reshape a tensor of shape {t.shape} ({t.size} elements) "
                         f"into shape {tuple(shape)} ({size} elements)")
    return [TensorType(shape, t.dtype)]


def _transpose(types, perm):
    t = types[0]
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(f"permute: {tuple(perm)} is not a permutation of the {t.ndim} dims "
                         f"of a tensor of shape {t.shape}")
    return [TensorType(tuple(t.shape[p] for p in perm), t.dtype)]


def _broadcast_to(types, shape):
    t = types[0]
    if len(shape) < t.ndim or broadcast_shapes(t.shape, shape) != tuple(shape):
        raise ShapeError(f"cannot broadcast/expand shape {t.shape} to {tuple(shape)}")
    return [TensorType(shape, t.dtype)]


def _slice(types, starts, stops, steps):
    t = types[0]
    if not len(starts) == len(stops) == len(steps) == t.ndim:
        raise ShapeError(f"slice needs one (start, stop, step) per dim of {t.shape}")
    shape = []
    for size, lo, hi, st in zip(t.shape, starts, stops, steps, strict=True):
        if st <= 0 or not 0 <= lo <= size or not 0 <= hi <= size:
            raise ShapeError(f"slice {lo}:{hi}:{st} is invalid for a dim of size {size}")
        shape.append(max(0, (hi - lo + st - 1) // st))
    return [TensorType(tuple(shape), t.dtype)]


def _concatenate(types, dim):
    first = types[0]
    dim = normalize_dim(dim, first.ndim)
    for t in types[1:]:
        same = t.ndim == first.ndim and all(
            a == b for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True)) if i != dim
        )
        if not same:
            raise ShapeError(f"cat: shapes {[tt.shape for tt in types]} differ outside dim {dim}")
        if t.dtype != first.dtype:
            raise DTypeError(f"cat: dtypes differ: {[tt.dtype for tt in types]}")
    size = sum(t.shape[dim] for t in types)
    return [TensorType(first.shape[:dim] + (size,) + first.shape[dim + 1 :], first.dtype)]


def _pad(types, pads, mode, value):
    t = types[0]
    if len(pads) != 2 * t.ndim:
        raise ShapeError(f"pad needs (before, after) per dim of {t.shape}, got {pads}")
    shape = tuple(s + pads[2 * i] + pads[2 * i + 1] for i, s in enumerate(t.shape))
    if any(s < 0 for s in shape):
        raise ShapeError(f"negative padding {pads} removes more than the shape {t.shape} has")
    return [TensorType(shape, t.dtype)]


def _index_check(op, index):
    if index.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint32"):
        raise DTypeError(f"{op}: index must be an integer tensor, got {index.dtype}")


def _take_along(types, dim):
    x, index = types
    _index_check("gather", index)
    dim = normalize_dim(dim, x.ndim)
    if index.ndim != x.ndim:
        raise ShapeError(f"gather: index has {index.ndim} dims but input {x.shape} has {x.ndim}")
    return [TensorType(index.shape, x.dtype)]


def _index_select(types, dim):
    x, index = types
    _index_check("index_select", index)
    if index.ndim != 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {index.shape}")
    dim = normalize_dim(dim, x.ndim)
    return [TensorType(x.shape[:dim] + index.shape + x.shape[dim + 1 :], x.dtype)]


def _flip(types, dims):
    return [types[0]]


def _roll(types, shifts, dims):
    return [types[0]]


def _triangle(types, diagonal):
    if types[0].ndim < 2:
        raise ShapeError(f"tril/triu: need at least 2 dims, got shape {types[0].shape}")
    return [types[0]]


def _scatter(types, dim, reduce):
    x, index, src = types
    _index_check("scatter", index)
    normalize_dim(dim, x.ndim)
    if src.dtype != x.dtype:
        raise DTypeError(f"scatter: src dtype {src.dtype} differs from input dtype {x.dtype}")
    return [x]


register_op("reshape", _reshape, attrs={"shape": "ints"})
register_op("transpose", _transpose, attrs={"perm": "ints"})
register_op("broadcast_to", _broadcast_to, attrs={"shape": "ints"})
register_op("slice", _slice, attrs={"starts": "ints", "stops": "ints", "steps": "ints"})
register_op("concatenate", _concatenate, attrs={"dim": "int"}, num_inputs=(1, None))
register_op("pad", _pad, attrs={"pads": "ints", "mode": "str", "value": "float"})
register_op("take_along_dim", _take_along, attrs={"dim": "int"}, num_inputs=2)
register_op("index_select", _index_select, attrs={"dim": "int"}, num_inputs=2)
register_op("flip", _flip, attrs={"dims": "ints"})
register_op("roll", _roll, attrs={"shifts": "ints", "dims": "ints"})
register_op("tril", _triangle, attrs={"diagonal": "int"})
register_op("triu", _triangle, attrs={"diagonal": "int"})
register_op("scatter", _scatter, attrs={"dim": "int", "reduce": "str"}, num_inputs=3)
