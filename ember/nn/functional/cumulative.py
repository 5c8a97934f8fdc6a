"""Cumulative scans without their own op: `cummax`, `cummin`, `logcumsumexp`.

Each is a Hillis-Steele scan along `dim`: log2(n) rounds, each combining every
element with the one `shift` places earlier (slices and elementwise ops), so the
IR stays small, XLA sees wide parallel ops and gradients follow the selections.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor
from ember.nn.functional.creation import arange
from ember.nn.functional.elementwise import isnan, where
from ember.nn.functional.pointwise_more import logaddexp
from ember.nn.functional.shape import broadcast_to, cat, narrow, reshape

__all__ = ["cummax", "cummin", "logcumsumexp"]

CummaxResult = namedtuple("cummax", ["values", "indices"])  # torch.return_types.cummax
CumminResult = namedtuple("cummin", ["values", "indices"])  # torch.return_types.cummin


def _dim(name: str, x: Tensor, dim: int) -> int:
    try:
        return normalize_dim(dim, max(x.ndim, 1))
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"{name}: {e}")) from None


def inclusive_scan(xs: list[Tensor], d: int, combine: Callable) -> list[Tensor]:
    """`out[i] = combine(out[i-1], x[i])` along `d` for an associative `combine` of
    tensor lists (earlier, later) -> merged."""
    n = xs[0].shape[d]
    shift = 1
    while shift < n:
        earlier = [narrow(x, d, 0, n - shift) for x in xs]
        later = [narrow(x, d, shift, n - shift) for x in xs]
        merged = combine(earlier, later)
        xs = [cat([narrow(x, d, 0, shift), m], d) for x, m in zip(xs, merged, strict=True)]
        shift *= 2
    return xs


def _cum_extreme(name: str, input, dim: int, later_wins):
    x = as_tensor(input)
    d = _dim(name, x, dim)
    if x.ndim == 0:
        return x, reshape(arange(1), ())
    positions = arange(x.shape[d])
    index = broadcast_to(
        reshape(positions, tuple(x.shape[d] if k == d else 1 for k in range(x.ndim))), x.shape
    )
    floating = dtypes.is_floating(x.dtype)

    def combine(earlier, later):
        (ve, ie), (vl, il) = earlier, later
        take = later_wins(vl, ve)
        if floating:
            take = take | isnan(vl)  # NaN propagates, and a later NaN wins, as in PyTorch
        return [where(take, vl, ve), where(take, il, ie)]

    return inclusive_scan([x, index], d, combine)


@tensor_method()
def cummax(input, dim: int) -> CummaxResult:
    """`torch.cummax`: running maximum along `dim` and where it was found (ties and NaNs
    give the latest position, as in PyTorch); indices are int32.

    >>> em.cummax(em.tensor([1, 3, 2, 5]), 0)   # values [1, 3, 3, 5], indices [0, 1, 1, 3]
    """
    return CummaxResult(*_cum_extreme("cummax", input, dim, lambda vl, ve: vl >= ve))


@tensor_method()
def cummin(input, dim: int) -> CumminResult:
    """`torch.cummin`: running minimum along `dim` and its latest position (int32)."""
    return CumminResult(*_cum_extreme("cummin", input, dim, lambda vl, ve: vl <= ve))


@tensor_method()
def logcumsumexp(input, dim: int) -> Tensor:
    """`torch.logcumsumexp`: `log(cumsum(exp(input)))` along `dim`, without overflow or
    underflow (each step is a stable `logaddexp`); floating inputs only."""
    x = as_tensor(input)
    d = _dim("logcumsumexp", x, dim)
    if not dtypes.is_floating(x.dtype):
        raise x.builder.error(
            DTypeError(f"logcumsumexp: expects a floating-point tensor, got {x.dtype}")
        )
    if x.ndim == 0:
        return x
    (out,) = inclusive_scan([x], d, lambda e, later: [logaddexp(e[0], later[0])])
    return out
