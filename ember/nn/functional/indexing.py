"""`Tensor.__getitem__` (basic and advanced indexing), gather, index_select, masked_fill.

Advanced indexing follows PyTorch: integer index tensors broadcast together to
a shape B; ints and 0-d index tensors select first; when the (>=1-d) index
tensors are adjacent B replaces them in place, otherwise B goes first.
Negative indices count from the end. Out-of-range indices cannot raise at run
time and are clamped.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from ember.errors import DTypeError, IndexOutOfRangeError, ShapeError, TraceError
from ember.frontend import stored_tensors
from ember.frontend.grad_hooks import NeedsEagerForward
from ember.frontend.lazy import RECORDER, LazyValue
from ember.frontend.tensor import Tensor, tensor_method
from ember.frontend.tracer import EAGER_CALL_TRACE
from ember.graphdef.ops.common import broadcast_shapes, normalize_dim
from ember.nn.functional._core import active_builder, as_tensor, cast, emit
from ember.nn.functional.host_writes import read_on_host
from ember.nn.functional.shape import broadcast_to, permute, reshape, slice_dims
from ember.nn.functional.views import mark_view

__internal__ = ("getitem", "setitem", "wrap_negative", "linear_index")


def _expand_ellipsis(index: tuple, ndim: int) -> tuple:
    used = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if builtins.sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    # identity tests only: `in` / `.index` would call Tensor.__eq__ on index tensors
    pos = next((k for k, i in enumerate(index) if i is Ellipsis), None)
    if pos is not None:
        return index[:pos] + (builtins.slice(None),) * (ndim - used) + index[pos + 1 :]
    return index + (builtins.slice(None),) * (ndim - used)


def wrap_negative(idx: Tensor, size: int) -> Tensor:
    """PyTorch's negative indices (-1 is the last element) as int32 positions."""
    from ember.nn.functional.elementwise import where

    idx = cast(idx, "int32")
    return where(idx < 0, idx + size, idx)


def linear_index(indices: list[Tensor], sizes: tuple[int, ...]) -> Tensor:
    """Row-major position in a block of `sizes` of broadcast integer `indices` (one per dim)."""
    shape = broadcast_shapes(*(i.shape for i in indices))
    flat = None
    for idx, size in zip(indices, sizes, strict=True):
        idx = wrap_negative(idx, size)
        flat = idx if flat is None else flat * size + idx
    return broadcast_to(flat, shape)


def _index_tensor(x: Tensor, item) -> Tensor:
    idx = as_tensor(item, x.builder)
    if idx.dtype == "bool":
        if EAGER_CALL_TRACE[0]:  # `criterion(out, y)` on tensors: run that module op by op
            raise NeedsEagerForward
        raise x.builder.error(
            TraceError(
                f"boolean-mask indexing gives a data-dependent shape (mask {idx.shape}); "
                "fix: em.where(mask, x, 0) or x.masked_fill(~mask, 0) keep shapes static"
            )
        )
    if idx.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint32"):
        raise x.builder.error(
            DTypeError(
                f"tensors used as indices must be integer (or bool), got "
                f"{idx.dtype}; fix: cast with .long()"
            )
        )
    return idx


def _known_mask(item, builder) -> np.ndarray | None:
    """The values of a bool mask known while the index is built, else None. Outside a
    trace every mask is known (PyTorch's semantics: the result's size depends on its
    values). Inside one, a mask that is a constant of the program: a Python list of bools
    (`x[[True, False, True]]`), a numpy bool array, or a tensor made outside the trace
    (embedded as a constant, like LoRA's `self.lora_ind`), so the shape stays static."""
    if isinstance(item, list):
        arr = np.asarray(item)
        return arr if arr.dtype == np.bool_ else None
    if isinstance(item, np.ndarray):
        return item if item.dtype == np.bool_ else None
    if not (isinstance(item, Tensor) and item.dtype == "bool"):
        return None
    if builder is RECORDER:
        return np.asarray(item)
    if not isinstance(item.value, LazyValue) or RECORDER in getattr(builder, "enclosing", ()):
        return None  # a value of this trace (or of a body traced over lazy tensors)
    problem = stored_tensors.note_embedded(item)
    if problem is not None:
        raise builder.error(TraceError(problem))
    return np.asarray(item._array())


def _masks_to_indices(index: tuple, builder) -> tuple:
    """Known bool masks become the integer indices of their True elements."""
    out = []
    for item in index:
        mask = _known_mask(item, builder)
        if mask is None:
            out.append(item)
        else:
            out.extend(np.nonzero(mask))
    return tuple(out)


def getitem(x: Tensor, index) -> Tensor:
    """`x[index]`; basic indexing (ints, slices, None, ...) returns a view of x, as in
    PyTorch (`x[i][j] = v` writes x), index tensors and masks a copy."""
    parts = index if isinstance(index, tuple) else (index,)
    basic = all(_basic(i) for i in parts)
    out = read_on_host(x, index) if basic and x.builder is RECORDER else None
    if out is None:
        out = _select(x, index)
    elif stored_tensors.collecting():  # inside a traced forward: a slice of x, not a global
        stored_tensors.note_slice(out, x)
    if basic:
        mark_view(out, x, _select, (index,), {})
    return out


def _basic(item) -> bool:
    return (
        item is None
        or item is Ellipsis
        or type(item) in (int, builtins.slice)
        or (isinstance(item, np.integer))
    )


def _select(x: Tensor, index) -> Tensor:
    if not isinstance(index, tuple):
        index = (index,)
    index = _masks_to_indices(index, active_builder())
    if builtins.any(isinstance(i, bool) for i in index):
        raise x.builder.error(TraceError("indexing with a Python bool is not supported"))
    index = tuple(
        i
        if i is None or i is Ellipsis or isinstance(i, (int, builtins.slice))
        else _index_tensor(x, i)
        for i in index
    )
    try:
        index = _expand_ellipsis(index, x.ndim)
    except ShapeError as e:
        raise x.builder.error(e) from None
    if builtins.sum(1 for i in index if i is not None) > x.ndim:
        raise x.builder.error(
            IndexOutOfRangeError(f"too many indices for a tensor of shape {x.shape}")
        )
    # `layout` lists the result's dims: ('new',), ('dim', d) or ('adv', is_first_index_tensor)
    spec, layout, advanced, dim = {}, [], {}, 0
    for item in index:
        if item is None:
            layout.append(("new",))
            continue
        size = x.shape[dim]
        if isinstance(item, builtins.slice):
            lo, hi, st = item.indices(size)
            if st < 0:
                raise x.builder.error(
                    ShapeError("negative slice steps are not supported; use flip")
                )
            spec[dim] = (lo, builtins.max(hi, lo), st)
            layout.append(("dim", dim))
        elif isinstance(item, int):
            if not -size <= item < size:
                raise x.builder.error(
                    IndexOutOfRangeError(
                        f"index {item} is out of bounds for dim {dim} with size {size}"
                    )
                )
            spec[dim] = (item % size, item % size + 1, 1)
        else:  # an index tensor; a 0-d one selects like an int
            advanced[dim] = item
            if item.ndim:
                layout.append(("adv", not builtins.any(e[0] == "adv" for e in layout)))
        dim += 1
    y = _slice_outside_trace(x, spec) if active_builder() is RECORDER else slice_dims(x, spec)
    per_dim = [i for i in index if i is not None]
    kept = [d for d in range(x.ndim) if not isinstance(per_dim[d], int)]
    y = reshape(y, tuple(y.shape[d] for d in kept))  # drop the dims of int indices
    b_shape = ()
    if advanced:
        y, b_shape = _gather_advanced(y, kept, advanced, layout)
    # insert the size-1 dims of None; B sits where _gather_advanced put it
    sizes = iter(y.shape)
    shape = [next(sizes) for _ in b_shape] if not _adjacent(layout) else []
    for entry in layout:
        if entry[0] == "new":
            shape.append(1)
        elif entry[0] == "dim":
            shape.append(next(sizes))
        elif entry[1] and _adjacent(layout):
            shape += [next(sizes) for _ in b_shape]
    return reshape(y, tuple(shape))


def _slice_outside_trace(x: Tensor, spec: dict) -> Tensor:
    """Outside a trace, a slice that starts past 0 (`source[i : i + bptt]`, `x[t]` in a
    loop) selects with its positions as data: the pending program is the same for every
    offset, so a training loop over offsets compiles one step, not one per offset."""
    moving = {d: s for d, s in spec.items() if s[0] != 0}
    if not moving:
        return slice_dims(x, spec)
    y = slice_dims(x, {d: s for d, s in spec.items() if d not in moving})
    for d, (lo, hi, step) in moving.items():
        positions = as_tensor(np.arange(lo, hi, step, dtype=np.int32))
        y = emit("index_select", [y, positions], dim=d)
    return y


def _adjacent(layout: list) -> bool:
    """Are the >=1-d index tensors next to each other (B stays in place)?"""
    at = [k for k, e in enumerate(layout) if e[0] == "adv"]
    return not at or at[-1] - at[0] == len(at) - 1


def _gather_advanced(y: Tensor, kept: list, advanced: dict, layout: list):
    """Select with the broadcast index tensors; y has the non-int dims `kept` of the input."""
    dims = [kept.index(d) for d in sorted(advanced)]
    sizes = tuple(y.shape[d] for d in dims)
    flat_index = linear_index([advanced[d] for d in sorted(advanced)], sizes)
    b_shape = flat_index.shape
    rest = [d for d in range(y.ndim) if d not in dims]
    first = dims[0]
    if dims != list(range(first, first + len(dims))):  # not contiguous: move them first
        y = permute(y, tuple(dims + rest))
        first = 0
    after = y.shape[first + len(dims) :]
    merged = reshape(y, y.shape[:first] + (math.prod(sizes),) + after)
    picked = emit("index_select", [merged, reshape(flat_index, (flat_index.numel(),))], dim=first)
    picked = reshape(picked, y.shape[:first] + b_shape + after)
    target = 0
    if _adjacent(layout) and b_shape:
        first_adv = next(k for k, e in enumerate(layout) if e[0] == "adv")
        target = builtins.sum(1 for e in layout[:first_adv] if e[0] == "dim")
    if target != first and b_shape:
        others = [k for k in range(picked.ndim) if not first <= k < first + len(b_shape)]
        b = list(range(first, first + len(b_shape)))
        picked = permute(picked, tuple(others[:target] + b + others[target:]))
    return picked, b_shape


Tensor.__getitem__ = getitem


@tensor_method()
def index_select(input, dim: int, index) -> Tensor:
    x = as_tensor(input)
    return emit("index_select", [x, as_tensor(index, x.builder)], dim=int(dim))


@tensor_method()
def gather(input, dim: int, index, *, sparse_grad: bool = False) -> Tensor:
    """`torch.gather`: out[i][j] = input[index[i][j]][j] for dim 0; out has index's shape."""
    x = as_tensor(input)
    return emit("take_along_dim", [x, as_tensor(index, x.builder)], dim=int(dim))


@tensor_method()
def take_along_dim(input, indices, dim: int | None = None) -> Tensor:
    """`torch.take_along_dim`: like gather, but input and indices broadcast outside `dim`."""
    x = as_tensor(input)
    idx = as_tensor(indices, x.builder)
    if dim is None:
        flat = reshape(x, (x.numel(),))
        return gather(flat, 0, wrap_negative(reshape(idx, (idx.numel(),)), flat.shape[0]))
    if idx.ndim != x.ndim:
        raise x.builder.error(
            ShapeError(
                f"take_along_dim: input {x.shape} and indices {idx.shape} must have the same "
                "number of dimensions"
            )
        )
    d = normalize_dim(dim, x.ndim)
    try:
        common = broadcast_shapes(
            x.shape[:d] + (1,) + x.shape[d + 1 :], idx.shape[:d] + (1,) + idx.shape[d + 1 :]
        )
    except ShapeError as e:
        raise x.builder.error(e) from None
    x = broadcast_to(x, common[:d] + (x.shape[d],) + common[d + 1 :])
    idx = wrap_negative(idx, x.shape[d])
    idx = broadcast_to(idx, common[:d] + (idx.shape[d],) + common[d + 1 :])
    return gather(x, d, idx)


@tensor_method()
def masked_fill(input, mask, value) -> Tensor:
    """`torch.masked_fill`: `value` where the bool `mask` (broadcast to input) is True."""
    from ember.nn.functional.elementwise import where

    x = as_tensor(input)
    m = as_tensor(mask, x.builder)
    if m.dtype != "bool":
        raise x.builder.error(
            DTypeError(
                f"masked_fill: mask must be a bool tensor, got {m.dtype}; "
                "fix: pass mask.bool() or a comparison"
            )
        )
    try:
        shape = broadcast_shapes(x.shape, m.shape)
    except ShapeError as e:
        raise x.builder.error(e) from None
    if shape != x.shape:
        raise x.builder.error(
            ShapeError(
                f"masked_fill: mask of shape {m.shape} does not broadcast "
                f"to the input shape {x.shape}"
            )
        )
    v = value
    if isinstance(v, Tensor) and v.ndim:
        raise x.builder.error(
            ShapeError(f"masked_fill: value must be a 0-d tensor or a number, got shape {v.shape}")
        )
    v = cast(as_tensor(v, x.builder, dtype=x.dtype), x.dtype)  # PyTorch keeps the input's dtype
    return where(m, v, x)
