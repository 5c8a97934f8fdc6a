"""Shape functions: view/reshape, flatten, permute, transpose, squeeze, cat, ..."""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.frontend.lazy import RECORDER
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import active_builder, as_tensor, emit
from ember.nn.functional.growing_concat import concat_on_host
from ember.nn.functional.views import returns_view

__internal__ = ("infer_reshape", "slice_dims")


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def infer_reshape(old: tuple, new: tuple) -> tuple:
    """Resolve one -1 in `new` the way PyTorch does, with a clear error."""
    if new.count(-1) > 1:
        raise ShapeError(f"only one dimension can be inferred (-1), got shape {new}")
    known = math.prod(d for d in new if d != -1)
    total = math.prod(old)
    if -1 in new:
        if known == 0 or total % known:
            raise ShapeError(f"shape {new} is invalid for input of shape {old} ({total} elements)")
        new = tuple(total // known if d == -1 else d for d in new)
    if math.prod(new) != total:
        raise ShapeError(f"shape {new} is invalid for input of shape {old} ({total} elements)")
    return new


@tensor_method("reshape", "view")
@returns_view(reshapes=True)
def reshape(input, *shape):
    x = as_tensor(input)
    try:
        new = infer_reshape(x.shape, _shape_arg(shape))
    except ShapeError as e:
        raise x.builder.error(e) from None
    if new == x.shape:
        return x
    return emit("reshape", [x], shape=new)


view = reshape


@tensor_method()
@returns_view(reshapes=True)
def view_as(input, other):
    return reshape(input, other.shape)


@tensor_method()
def reshape_as(input, other):
    return reshape(input, other.shape)


@tensor_method()
@returns_view(reshapes=True)
def flatten(input, start_dim: int = 0, end_dim: int = -1):
    x = as_tensor(input)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = normalize_dim(start_dim, x.ndim), normalize_dim(end_dim, x.ndim)
    if s > e:
        raise x.builder.error(
            ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        )
    return reshape(x, x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :])


@tensor_method()
@returns_view(reshapes=True)
def unflatten(input, dim: int, sizes):
    x = as_tensor(input)
    d = normalize_dim(dim, x.ndim)
    try:
        sizes = infer_reshape((x.shape[d],), tuple(sizes))
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"unflatten: dim {dim} of {x.shape}: {e}")) from None
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1 :])


@tensor_method()
@returns_view
def permute(input, *dims):
    x = as_tensor(input)
    perm = tuple(normalize_dim(d, x.ndim) for d in _shape_arg(dims))
    if perm == tuple(range(x.ndim)):
        return x
    return emit("transpose", [x], perm=perm)


@tensor_method("transpose", "swapaxes", "swapdims")
@returns_view
def transpose(input, dim0: int, dim1: int):
    x = as_tensor(input)
    perm = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return permute(x, tuple(perm))


@tensor_method()
@returns_view
def t(input):
    x = as_tensor(input)
    return x if x.ndim < 2 else transpose(x, 0, 1)


Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: transpose(self, -2, -1))


@tensor_method()
@returns_view
def movedim(input, source, destination):
    x = as_tensor(input)
    src = [normalize_dim(d, x.ndim) for d in ((source,) if isinstance(source, int) else source)]
    dst = [
        normalize_dim(d, x.ndim)
        for d in ((destination,) if isinstance(destination, int) else destination)
    ]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise x.builder.error(
            ShapeError(
                f"movedim: source {source} and destination {destination} must be the same "
                "number of "
                "distinct dims"
            )
        )
    rest = [d for d in range(x.ndim) if d not in src]
    perm = [None] * x.ndim
    for s, d in zip(src, dst, strict=True):
        perm[d] = s
    it = iter(rest)
    return permute(x, tuple(p if p is not None else next(it) for p in perm))


moveaxis = movedim


@tensor_method()
@returns_view(reshapes=True)
def squeeze(input, dim=None):
    x = as_tensor(input)
    if dim is None:
        dims = {i for i, s in enumerate(x.shape) if s == 1}
    else:
        dims = {normalize_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if x.shape[d] == 1}  # PyTorch ignores non-1 dims
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in dims))


@tensor_method()
@returns_view(reshapes=True)
def unsqueeze(input, dim: int):
    x = as_tensor(input)
    if not -x.ndim - 1 <= dim <= x.ndim:  # the range is over the result's dimensions
        raise x.builder.error(
            ShapeError(
                f"unsqueeze: dim={dim} is out of range for a {x.ndim}-d tensor (expected a "
                f"value in [{-x.ndim - 1}, {x.ndim}])"
            )
        )
    d = normalize_dim(dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


@tensor_method("expand")
def expand(input, *sizes):
    x = as_tensor(input)
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0 or any(s == -1 for s in sizes[:lead]):
        raise x.builder.error(
            ShapeError(
                f"expand: sizes {sizes} must have at least {x.ndim} entries "
                f"(one per dim of {x.shape}) "
                "and -1 only for existing dims"
            )
        )
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


@tensor_method()
def expand_as(input, other):
    return broadcast_to(input, other.shape)


@tensor_method()
def broadcast_to(input, shape):
    x = as_tensor(input)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    return emit("broadcast_to", [x], shape=shape)


def cat(tensors, dim: int = 0):
    builder = active_builder(*tensors)
    ts = [as_tensor(t, builder) for t in tensors]
    from ember.graphdef import dtypes

    dt = ts[0].dtype
    for t in ts[1:]:
        dt = dtypes.promote(dt, t.dtype)
    ts = [t.to(dt) for t in ts]
    if len(ts) == 1:
        return ts[0]
    dim = normalize_dim(dim, ts[0].ndim)
    if builder is RECORDER:
        on_host = concat_on_host(ts, dim)
        if on_host is not None:
            return on_host
    return emit("concatenate", ts, dim=dim)


concat = concatenate = cat


def stack(tensors, dim: int = 0):
    builder = active_builder(*tensors)
    ts = [as_tensor(t, builder) for t in tensors]
    if not ts:
        raise builder.error(ShapeError("stack expects a non-empty sequence of tensors"))
    if any(t.shape != ts[0].shape for t in ts):
        raise builder.error(
            ShapeError(
                f"stack expects each tensor to be equal size, got shapes {[t.shape for t in ts]}"
            )
        )
    from ember.graphdef import dtypes

    dt = ts[0].dtype
    for t in ts[1:]:
        dt = dtypes.promote(dt, t.dtype)
    return emit("stack", [t.to(dt) for t in ts], dim=normalize_dim(dim, ts[0].ndim + 1))


@tensor_method()
@returns_view
def narrow(input, dim: int, start: int, length: int):
    x = as_tensor(input)
    d = normalize_dim(dim, x.ndim)
    start = start + x.shape[d] if start < 0 else start
    if not (0 <= start <= x.shape[d] and 0 <= length and start + length <= x.shape[d]):
        raise x.builder.error(
            ShapeError(
                f"narrow: start {start} + length {length} exceeds dim {dim} of size {x.shape[d]} "
                f"(input {x.shape})"
            )
        )
    return slice_dims(x, {d: (start, start + length, 1)})


def slice_dims(x: Tensor, spec: dict) -> Tensor:
    """Static slice: spec maps dim -> (start, stop, step) with non-negative bounds."""
    starts = [0] * x.ndim
    stops = list(x.shape)
    steps = [1] * x.ndim
    for d, (lo, hi, st) in spec.items():
        starts[d], stops[d], steps[d] = lo, hi, st
    if starts == [0] * x.ndim and stops == list(x.shape) and steps == [1] * x.ndim:
        return x
    return emit("slice", [x], starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))


@tensor_method()
@returns_view
def split(input, split_size_or_sections=None, dim: int = 0, *, split_size=None):
    """`torch.split(t, split_size_or_sections, dim)`; `Tensor.split` also takes PyTorch's
    keyword `split_size=` (mamba-minimal's `x.split(split_size=[d, d], dim=-1)`)."""
    x = as_tensor(input)
    if split_size is not None:
        split_size_or_sections = split_size
    if split_size_or_sections is None:
        raise TypeError("split() missing its sizes: split_size_or_sections (or split_size=)")
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and n > 0:
            raise x.builder.error(ShapeError(f"split: split_size must be positive, got {size}"))
        sizes = [min(size, n - i) for i in range(0, n, size)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise x.builder.error(ShapeError(f"split sizes {sizes} do not sum to {n} (dim {dim})"))
    if len(sizes) > 1:
        return tuple(emit("split", [x], sizes=tuple(sizes), dim=d))
    out, start = [], 0
    for s in sizes:
        out.append(slice_dims(x, {d: (start, start + s, 1)}))
        start += s
    return tuple(out)


@tensor_method()
@returns_view
def chunk(input, chunks: int, dim: int = 0):
    x = as_tensor(input)
    if chunks <= 0:
        raise x.builder.error(ShapeError(f"chunk: chunks must be positive, got {chunks}"))
    n = x.shape[normalize_dim(dim, x.ndim)]
    if n == 0:  # PyTorch returns `chunks` empty pieces
        return tuple(x for _ in range(chunks))
    return split(x, -(-n // chunks), dim)


@tensor_method()
@returns_view
def unbind(input, dim: int = 0):
    x = as_tensor(input)
    d = normalize_dim(dim, x.ndim)
    return tuple(squeeze(s, d) for s in split(x, 1, d))


@tensor_method()
def repeat(input, *sizes):
    x = as_tensor(input)
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise x.builder.error(
            ShapeError(
                f"repeat: got {len(sizes)} repeat sizes {sizes} for a tensor of shape {x.shape}; "
                f"give at least {x.ndim}"
            )
        )
    x = reshape(x, (1,) * lead + x.shape)
    # interleave a broadcast axis before each dim, then merge: (r0, s0, r1, s1, ...)
    expanded = reshape(x, tuple(v for s in x.shape for v in (1, s)))
    expanded = broadcast_to(
        expanded, tuple(v for r, s in zip(sizes, x.shape, strict=True) for v in (r, s))
    )
    return reshape(expanded, tuple(r * s for r, s in zip(sizes, x.shape, strict=True)))


@tensor_method()
def tile(input, dims):
    x = as_tensor(input)
    dims = tuple(dims)
    dims = (1,) * (x.ndim - len(dims)) + dims
    return repeat(x, dims)


@tensor_method()
def flip(input, dims):
    x = as_tensor(input)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return emit("flip", [x], dims=tuple(normalize_dim(d, x.ndim) for d in dims))


@tensor_method()
def roll(input, shifts, dims=None):
    x = as_tensor(input)
    if dims is None:
        return reshape(roll(flatten(x), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return emit("roll", [x], shifts=shifts, dims=tuple(normalize_dim(d, x.ndim) for d in dims))


@tensor_method()
def tril(input, diagonal: int = 0):
    return emit("tril", [as_tensor(input)], diagonal=int(diagonal))


@tensor_method()
def triu(input, diagonal: int = 0):
    return emit("triu", [as_tensor(input)], diagonal=int(diagonal))
