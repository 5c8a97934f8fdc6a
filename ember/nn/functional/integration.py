"""The trapezoidal rule: `trapezoid` (`trapz`) and `cumulative_trapezoid`."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import active_builder, as_tensor, to_float
from ember.nn.functional.differences import diff
from ember.nn.functional.shape import narrow, reshape

__all__ = ["trapezoid", "trapz", "cumulative_trapezoid"]


def _areas(name: str, y, x, dx, dim: int) -> tuple[Tensor, int]:
    """Twice the area of each interval along `dim` (n - 1 of them) and the dim."""
    builder = active_builder(y, x)
    t = to_float(as_tensor(y, builder))
    if x is not None and dx is not None:
        raise builder.error(ShapeError(f"{name}: give x or dx, not both"))
    try:
        d = normalize_dim(dim, max(t.ndim, 1))
    except ShapeError as e:
        raise builder.error(ShapeError(f"{name}: {e}")) from None
    n = t.shape[d]
    pairs = narrow(t, d, min(n, 1), max(n - 1, 0)) + narrow(t, d, 0, max(n - 1, 0))
    if x is None:
        return pairs * (1.0 if dx is None else dx), d
    xs = as_tensor(x, builder)
    if xs.ndim == 1:
        if xs.shape[0] != n:
            raise builder.error(
                ShapeError(
                    f"{name}: there must be one x value for each sample point: x has "
                    f"{xs.shape[0]}, y has {n} along dim {d}"
                )
            )
        xs = reshape(xs, tuple(n if k == d else 1 for k in range(t.ndim)))
    elif xs.ndim != t.ndim or xs.shape[d] != n:
        raise builder.error(
            ShapeError(f"{name}: x of shape {xs.shape} does not match y {t.shape} along dim {d}")
        )
    return pairs * to_float(diff(xs, dim=d)), d


def trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """`torch.trapezoid`: integrate `y` along `dim` with the trapezoidal rule, at sample
    points `x` (1-D, or broadcastable to y) or spacing `dx` (default 1).

    >>> em.trapezoid(em.tensor([1.0, 2.0, 4.0]))   # 4.5
    """
    twice, d = _areas("trapezoid", y, x, dx, dim)
    return twice.sum(d) / 2


def trapz(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """`torch.trapz`: an alias of `trapezoid`."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """`torch.cumulative_trapezoid`: the running trapezoidal integral along `dim` (one
    element shorter than y there)."""
    twice, d = _areas("cumulative_trapezoid", y, x, dx, dim)
    return twice.cumsum(d) / 2
