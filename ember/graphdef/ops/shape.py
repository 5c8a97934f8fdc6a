"""Shape ops: reshape, permute, broadcast, slice, concat, pad, flip, roll, tril/triu."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import broadcast_shapes, normalize_dim
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _check_sizes(op: str, shape) -> None:
    """Sizes in the IR are resolved: -1 ("infer this dim") is the functional API's job."""
    if any(d < 0 for d in shape):
        raise ShapeError(
            f"{op}: target shape {tuple(shape)} has a negative size; fix: use sizes >= 0 "
            "(x.reshape/expand resolve -1 before emitting the op)"
        )


def _reshape(types, shape):
    t = types[0]
    _check_sizes("reshape", shape)
    size = 1
    for d in shape:
        size *= d
    if size != t.size:
        raise ShapeError(
            f"cannot reshape a tensor of shape {t.shape} ({t.size} elements) "
            f"into shape {tuple(shape)} ({size} elements)"
        )
    return [TensorType(shape, t.dtype)]


def _transpose(types, perm):
    t = types[0]
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(
            f"permute: {tuple(perm)} is not a permutation of the {t.ndim} dims "
            f"of a tensor of shape {t.shape}"
        )
    return [TensorType(tuple(t.shape[p] for p in perm), t.dtype)]


def _broadcast_to(types, shape):
    t = types[0]
    _check_sizes("broadcast_to", shape)
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


def _split(types, sizes, dim):
    t = types[0]
    d = normalize_dim(dim, t.ndim)
    if any(n < 0 for n in sizes) or sum(sizes) != t.shape[d]:
        raise ShapeError(f"split sizes {list(sizes)} do not sum to {t.shape[d]} (dim {dim})")
    return [TensorType(t.shape[:d] + (n,) + t.shape[d + 1 :], t.dtype) for n in sizes]


def _concatenate(types, dim):
    first = types[0]
    for i, t in enumerate(types):
        if t.ndim == 0:
            raise ShapeError(
                f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated "
                f"(shapes {[tt.shape for tt in types]}); fix: stack them, or reshape each "
                "to (1,) first"
            )
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


def _stack(types, dim):
    first = types[0]
    if any(t != first for t in types[1:]):
        raise ShapeError(
            f"stack expects each tensor to be equal size and dtype, got {[str(t) for t in types]}"
        )
    dim = normalize_dim(dim, first.ndim + 1)
    return [TensorType(first.shape[:dim] + (len(types),) + first.shape[dim:], first.dtype)]


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad(types, pads, mode, value):
    t = types[0]
    if len(pads) != 2 * t.ndim:
        raise ShapeError(f"pad needs (before, after) per dim of {t.shape}, got {pads}")
    if mode not in PAD_MODES:
        raise ShapeError(f"pad: mode {mode!r} is not one of {PAD_MODES}")
    shape = tuple(s + pads[2 * i] + pads[2 * i + 1] for i, s in enumerate(t.shape))
    if any(s < 0 for s in shape):
        raise ShapeError(f"negative padding {pads} removes more than the shape {t.shape} has")
    for i, size in enumerate(t.shape):
        lo, hi = pads[2 * i], pads[2 * i + 1]
        if mode == "reflect" and max(lo, hi) >= size and max(lo, hi) > 0:
            raise ShapeError(
                f"pad: reflect padding ({lo}, {hi}) of dim {i} must be smaller than "
                f"its size {size} (input shape {t.shape})"
            )
        if mode == "circular" and max(lo, hi) > size:
            raise ShapeError(
                f"pad: circular padding ({lo}, {hi}) of dim {i} must be at most its "
                f"size {size} (input shape {t.shape})"
            )
        if mode == "replicate" and size == 0 and max(lo, hi) > 0:
            raise ShapeError(f"pad: cannot replicate-pad dim {i} of size 0 (input shape {t.shape})")
    return [TensorType(shape, t.dtype)]


def _flip(types, dims):
    t = types[0]
    if len(set(normalize_dim(d, t.ndim) for d in dims)) != len(dims):
        raise ShapeError(f"flip: dims {tuple(dims)} repeat a dimension of shape {t.shape}")
    return [t]


def _roll(types, shifts, dims):
    t = types[0]
    if len(shifts) != len(dims):
        raise ShapeError(
            f"roll: shifts {tuple(shifts)} and dims {tuple(dims)} must have the same length"
        )
    for d in dims:
        normalize_dim(d, t.ndim)
    return [t]


def _triangle(types, diagonal):
    if types[0].ndim < 2:
        raise ShapeError(f"tril/triu: need at least 2 dims, got shape {types[0].shape}")
    return [types[0]]


register_op("reshape", _reshape, attrs={"shape": "ints"})
register_op("transpose", _transpose, attrs={"perm": "ints"})
register_op("broadcast_to", _broadcast_to, attrs={"shape": "ints"})
register_op("slice", _slice, attrs={"starts": "ints", "stops": "ints", "steps": "ints"})
register_op(
    "split",
    _split,
    attrs={"sizes": "ints", "dim": "int"},
    doc="consecutive pieces of the given sizes along dim (its VJP is one concatenate)",
)
register_op("concatenate", _concatenate, attrs={"dim": "int"}, num_inputs=(1, None))
register_op("stack", _stack, attrs={"dim": "int"}, num_inputs=(1, None))
register_op("pad", _pad, attrs={"pads": "ints", "mode": "str", "value": "float"})
register_op("flip", _flip, attrs={"dims": "ints"})
register_op("roll", _roll, attrs={"shifts": "ints", "dims": "ints"})
register_op("tril", _triangle, attrs={"diagonal": "int"})
register_op("triu", _triangle, attrs={"diagonal": "int"})
