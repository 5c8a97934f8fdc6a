"""Order statistics: `aminmax`, `kthvalue`, `median` / `nanmedian` and `quantile` /
`nanquantile`, with PyTorch's conventions.

Each sorts along the reduced dim (a stable sort that places NaN last) and gathers
the wanted ranks, so gradients reach the picked elements through the sort, as in
PyTorch. NaN follows PyTorch: `median` / `quantile` return NaN for a slice that
holds one (the median's index is that of the slice's first NaN), while `nanmedian` /
`nanquantile` rank the other elements only (NaN when all are NaN).
"""

from __future__ import annotations

from collections import namedtuple

from ember.errors import DTypeError, ShapeError, UnsupportedOpError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import active_builder, as_tensor, cast, constant, emit
from ember.nn.functional.elementwise import ceil, floor, isnan, lerp, maximum, round, where
from ember.nn.functional.indexing import gather
from ember.nn.functional.shape import broadcast_to, movedim, reshape, squeeze, unsqueeze
from ember.nn.functional.sort import sort

__all__ = ["aminmax", "kthvalue", "median", "nanmedian", "quantile", "nanquantile"]

AminmaxResult = namedtuple("aminmax", ["min", "max"])  # torch.return_types.aminmax
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])  # torch.return_types.kthvalue
MedianResult = namedtuple("median", ["values", "indices"])  # torch.return_types.median

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


@tensor_method()
def aminmax(input, *, dim: int | None = None, keepdim: bool = False) -> AminmaxResult:
    """`torch.aminmax`: the minimum and maximum over `dim` (all elements when None).

    >>> lo, hi = em.aminmax(em.tensor([[1.0, 5.0], [3.0, -2.0]]), dim=1)   # [1, -2], [5, 3]
    """
    x = as_tensor(input)
    dims = None if dim is None else (int(dim),)
    return AminmaxResult(
        emit("amin", [x], dims=dims, keepdim=bool(keepdim)),
        emit("amax", [x], dims=dims, keepdim=bool(keepdim)),
    )


def _reduced_dim(fn: str, x: Tensor, dim: int) -> int:
    try:
        d = normalize_dim(dim, x.ndim)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"{fn}: {e}")) from None
    if x.ndim and x.shape[d] == 0:
        raise x.builder.error(
            ShapeError(f"{fn}: dim {dim} of the input {x.shape} has no elements to pick from")
        )
    return d


def _pick(fn: str, x: Tensor, dim: int, keepdim: bool, position) -> MedianResult:
    """Sort `x` along `dim` and take the element at `position(sorted values)` (an int, or a
    tensor shaped like the keepdim result) with its index in `x`."""
    scalar = x.ndim == 0
    if scalar:  # PyTorch treats a 0-d tensor as one element along dim 0 or -1
        x = reshape(x, (1,))
    d = _reduced_dim(fn, x, dim)
    ordered = sort(x, d, stable=True)
    at = position(ordered.values, d)
    if isinstance(at, int):
        at = broadcast_to(constant(x.builder, at, dtypes.DEFAULT_INT), ())
    shape = tuple(1 if i == d else s for i, s in enumerate(x.shape))
    at = broadcast_to(reshape(at, at.shape + (1,) * (len(shape) - at.ndim)), shape)
    values, indices = gather(ordered.values, d, at), gather(ordered.indices, d, at)
    if scalar or not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    return MedianResult(values, indices)


def _nan_count(values: Tensor, d: int) -> Tensor:
    return emit("sum", [cast(isnan(values), dtypes.DEFAULT_INT)], dims=(d,), keepdim=True)


def _median(fn: str, input, dim, keepdim: bool, skip_nan: bool):
    x = as_tensor(input)
    whole = dim is None
    if whole:
        x, dim = reshape(x, (x.numel(),)), 0
        if x.numel() == 0:  # PyTorch's median of no elements is NaN
            return constant(
                x.builder,
                float("nan"),
                x.dtype if dtypes.is_floating(x.dtype) else dtypes.DEFAULT_FLOAT,
            )

    def position(values: Tensor, d: int):
        n = values.shape[d]
        if not dtypes.is_floating(values.dtype):
            return (n - 1) // 2
        nans = _nan_count(values, d)  # the sort placed them last
        if skip_nan:  # the lower median of the others; position 0 (a NaN) if all are NaN
            return maximum((n - nans - 1) // 2, 0)
        return where(nans > 0, n - nans, (n - 1) // 2)  # the first NaN, in input order

    result = _pick(fn, x, dim, keepdim, position)
    return result.values if whole else result


@tensor_method()
def median(input, dim: int | None = None, keepdim: bool = False):
    """`torch.median`: the lower median (the smaller middle element for an even count).

    Without `dim`, the median of all elements as a 0-d tensor; with `dim`, a
    `(values, indices)` namedtuple along it. A slice holding NaN gives NaN.

    >>> em.median(em.tensor([4.0, 1.0, 3.0, 2.0]))             # 2.0
    >>> values, indices = em.median(x, dim=1, keepdim=True)
    """
    return _median("median", input, dim, keepdim, skip_nan=False)


@tensor_method()
def nanmedian(input, dim: int | None = None, keepdim: bool = False):
    """`torch.nanmedian`: `median` ignoring NaN (NaN only where a slice is all NaN).

    >>> em.nanmedian(em.tensor([4.0, float("nan"), 1.0]))      # 1.0
    """
    return _median("nanmedian", input, dim, keepdim, skip_nan=True)


@tensor_method()
def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """`torch.kthvalue`: the k-th smallest element (1-based) along `dim` and its index.

    >>> em.kthvalue(em.tensor([3.0, 1.0, 2.0]), 2)             # values=2.0, indices=2
    """
    x = as_tensor(input)
    n = x.shape[_reduced_dim("kthvalue", x, dim)] if x.ndim else 1
    if not 1 <= k <= n:
        raise x.builder.error(
            ShapeError(f"kthvalue: k={k} must be in [1, {n}] for dim {dim} of shape {x.shape}")
        )
    return KthvalueResult(*_pick("kthvalue", x, dim, keepdim, lambda values, d: k - 1))


def _q_tensor(fn: str, q, x: Tensor) -> Tensor:
    if isinstance(q, (list, tuple)) or isinstance(q, (int, float)):
        bad = [v for v in (q if isinstance(q, (list, tuple)) else [q]) if not 0 <= v <= 1]
        if bad:
            raise x.builder.error(
                ShapeError(f"{fn}: q values must be in [0, 1], got {bad} in q={q!r}")
            )
    qt = as_tensor(q, x.builder, x.dtype)
    if qt.ndim > 1:
        raise x.builder.error(
            ShapeError(f"{fn}: q must be a number, or a 0-d or 1-D tensor, got shape {qt.shape}")
        )
    return cast(qt, x.dtype)


def _quantile(fn: str, input, q, dim, keepdim: bool, interpolation: str, skip_nan: bool):
    x = as_tensor(input)
    builder = active_builder(x)
    if not dtypes.is_floating(x.dtype):
        raise builder.error(
            DTypeError(
                f"{fn}: expects a floating-point input, got {x.dtype} with shape {x.shape}; "
                "fix: cast it with .float()"
            )
        )
    if interpolation not in _INTERPOLATIONS:
        raise builder.error(
            UnsupportedOpError(
                f"{fn}: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}"
            )
        )
    if x.numel() == 0:
        raise builder.error(ShapeError(f"{fn}: the input {x.shape} must be non-empty"))
    qt = _q_tensor(fn, q, x)
    in_ndim = x.ndim
    if dim is None:
        x, d = reshape(x, (x.numel(),)), 0
    else:
        d = _reduced_dim(fn, x, dim) if x.ndim else 0
        x = reshape(x, (1,)) if x.ndim == 0 else x
    values = movedim(sort(x, d).values, d, -1)  # (..., n), NaN last
    n = values.shape[-1]
    nans = _nan_count(values, -1)  # (..., 1)
    qs = reshape(qt, (qt.numel(),) + (1,) * values.ndim)  # (Q, 1, ..., 1)
    if skip_nan:  # rank among the others; rank 0 (a NaN) where all are NaN
        ranks = maximum(qs * cast(n - nans - 1, x.dtype), 0)
    else:  # a slice with NaN takes its last element, a NaN
        ranks = where(nans > 0, float(n - 1), qs * float(n - 1))
    if interpolation == "lower":
        ranks = floor(ranks)
    elif interpolation == "higher":
        ranks = ceil(ranks)
    elif interpolation == "nearest":
        ranks = round(ranks)  # half to even, as PyTorch's round
    below = floor(ranks)
    values = broadcast_to(values, (qs.shape[0],) + values.shape)  # (Q, ..., n)
    out = gather(values, -1, cast(below, dtypes.DEFAULT_INT))
    if interpolation in ("linear", "midpoint"):
        above = gather(values, -1, cast(ceil(ranks), dtypes.DEFAULT_INT))
        weight = ranks - below if interpolation == "linear" else 0.5
        out = lerp(out, above, weight)
    out = squeeze(out, -1)  # (Q, ...)
    if keepdim:
        if dim is None:
            out = reshape(out, (out.shape[0],) + (1,) * in_ndim)
        elif in_ndim:
            out = unsqueeze(out, 1 + d)
    return squeeze(out, 0) if qt.ndim == 0 else out


@tensor_method()
def quantile(input, q, dim: int | None = None, keepdim: bool = False, *, interpolation="linear"):
    """`torch.quantile`: the q-th quantiles over `dim` (all elements when None).

    `q` is a number or a 0-d / 1-D tensor of values in [0, 1]; a 1-D `q` adds a
    leading result dim. `interpolation` between the two nearest ranks is 'linear',
    'lower', 'higher', 'midpoint' or 'nearest'. A slice holding NaN gives NaN.

    >>> em.quantile(em.tensor([1.0, 2.0, 3.0, 4.0]), 0.5)                   # 2.5
    >>> em.quantile(x, em.tensor([0.1, 0.9]), dim=0, interpolation="lower")
    """
    return _quantile("quantile", input, q, dim, keepdim, interpolation, skip_nan=False)


@tensor_method()
def nanquantile(input, q, dim: int | None = None, keepdim: bool = False, *, interpolation="linear"):
    """`torch.nanquantile`: `quantile` ignoring NaN (NaN only where a slice is all NaN).

    >>> em.nanquantile(em.tensor([1.0, float("nan"), 3.0]), 0.5)            # 2.0
    """
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, skip_nan=True)
