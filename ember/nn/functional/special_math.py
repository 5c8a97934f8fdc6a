"""Special functions PyTorch also has at the top level (`torch.logit`, `torch.xlogy`,
`torch.sinc`, `torch.mvlgamma`), composed from elementwise ops; `ember.special`
re-exports them with the rest of `torch.special`.

Branches use the "safe where" pattern: the operand of a branch that is not taken is
replaced by a harmless value first, so its inf/NaN cannot leak into the gradient
(0 * inf is NaN in the backward pass of a plain `where`).
"""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.nn.functional._core import as_tensor, promote_pair, to_float
from ember.nn.functional.elementwise import clamp, isnan, lgamma, log, log1p, sin, where

__all__ = ["logit", "xlogy", "sinc", "mvlgamma"]


@tensor_method()
def logit(input, eps: float | None = None) -> Tensor:
    """`torch.logit`: `log(p / (1 - p))`, the inverse of sigmoid; with `eps`, p is first
    clamped to [eps, 1 - eps] (finite results at 0 and 1).

    >>> em.logit(em.tensor([0.25, 0.5]))          # [-1.0986, 0.0]
    """
    p = to_float(as_tensor(input))
    if eps is not None:
        p = clamp(p, eps, 1 - eps)
    return log(p / (1 - p))


def _x_times(fn, input, other) -> Tensor:
    x, y = promote_pair(input, other)
    x, y = to_float(x), to_float(y)
    zero = x == 0
    product = x * fn(where(zero, 1, y))
    # 0 where x == 0 (even for y == 0 or inf), NaN where y is NaN, as in PyTorch
    return where(isnan(y), y, where(zero, 0, product))


@tensor_method()
def xlogy(input, other) -> Tensor:
    """`torch.xlogy`: `input * log(other)`, and 0 where input is 0 (NaN where other is NaN).

    >>> em.xlogy(em.tensor([0.0, 2.0]), em.tensor([0.0, 3.0]))   # [0.0, 2.1972]
    """
    return _x_times(log, input, other)


def xlog1py(input, other) -> Tensor:
    """`torch.special.xlog1py`: `input * log1p(other)`, and 0 where input is 0.

    >>> em.special.xlog1py(em.tensor([0.0, 2.0]), em.tensor([-1.0, 1.0]))   # [0.0, 1.3863]
    """
    return _x_times(log1p, input, other)


@tensor_method()
def sinc(input) -> Tensor:
    """`torch.sinc`: the normalized sinc `sin(pi x) / (pi x)`, 1 at x = 0.

    >>> em.sinc(em.tensor([0.0, 0.5, 1.0]))       # [1.0, 0.6366, 0.0]
    """
    x = to_float(as_tensor(input))
    zero = x == 0
    px = where(zero, 1.0, x) * math.pi
    return where(zero, 1.0, sin(px) / px)


@tensor_method()
def mvlgamma(input, p: int) -> Tensor:
    """`torch.mvlgamma` (`torch.special.multigammaln`): the log of the multivariate gamma
    function of dimension `p`, `sum_j lgamma(x - j/2) + p(p-1)/4 log(pi)` for j < p.

    Elements must exceed (p - 1) / 2 (PyTorch raises otherwise; a compiled program
    cannot, so smaller ones give inf or NaN).

    >>> em.mvlgamma(em.tensor([2.5]), p=2)        # [1.1894]
    """
    x = to_float(as_tensor(input))
    if p < 1:
        raise x.builder.error(ShapeError(f"mvlgamma: p must be >= 1, got {p}"))
    total = lgamma(x)
    for j in range(1, p):
        total = total + lgamma(x - j / 2)
    return total + p * (p - 1) / 4 * math.log(math.pi)
