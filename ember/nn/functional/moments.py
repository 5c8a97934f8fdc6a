"""`var_mean` and `std_mean`: the spread and the mean over the same dims, in one call."""

from __future__ import annotations

from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, to_float
from ember.nn.functional.reduction import mean, std, var

__all__ = ["var_mean", "std_mean"]


def _moments(spread, input, dim, unbiased, keepdim, correction) -> tuple[Tensor, Tensor]:
    if isinstance(dim, bool):  # the `std_mean(input, unbiased)` overload
        dim, unbiased = None, dim
    x = to_float(as_tensor(input))
    return (
        spread(x, dim, unbiased, keepdim, correction=correction),
        mean(x, dim, keepdim),
    )


def var_mean(
    input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None
) -> tuple[Tensor, Tensor]:
    """`torch.var_mean`: `(var, mean)` over `dim` (all dims by default).

    `correction` (default 1, Bessel's) is subtracted from the element count;
    `unbiased=False` is the older spelling of `correction=0`.

    >>> v, m = em.var_mean(x, dim=0, keepdim=True)
    """
    return _moments(var, input, dim, unbiased, keepdim, correction)


def std_mean(
    input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None
) -> tuple[Tensor, Tensor]:
    """`torch.std_mean`: `(std, mean)` over `dim` (all dims by default).

    >>> s, m = em.std_mean(x, dim=(0, 1), correction=0)
    """
    return _moments(std, input, dim, unbiased, keepdim, correction)
