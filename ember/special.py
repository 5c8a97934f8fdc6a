"""`ember.special`: PyTorch's `torch.special` functions that ember can express.

Each is composed from ember's elementwise ops and reductions, so it traces,
differentiates and runs eagerly like any other op. Not provided (no op computes
them and no short exact composition exists): the Bessel family (`i0`, `i0e`, `i1`,
`i1e`, `bessel_j0/j1/y0/y1`, `modified_bessel_*`, `scaled_modified_bessel_*`),
`airy_ai`, `erfcx`, `polygamma`, `zeta`, `gammainc` / `gammaincc` and the orthogonal
polynomials (`chebyshev_*`, `hermite_*`, `laguerre_*`, `legendre_*`).

>>> import ember as em
>>> em.special.expit(em.tensor([0.0]))           # sigmoid: [0.5]
"""

from __future__ import annotations

import math

from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, emit, to_float
from ember.nn.functional.activation import log_softmax, softmax
from ember.nn.functional.elementwise import (
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    isnan,
    lgamma,
    log,
    log1p,
    round,
    sigmoid,
    where,
)
from ember.nn.functional.reduction import logsumexp
from ember.nn.functional.special_math import logit, mvlgamma, sinc, xlog1py, xlogy

__all__ = [
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammaln",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "ndtri",
    "psi",
    "round",
    "sinc",
    "softmax",
    "spherical_bessel_j0",
    "xlog1py",
    "xlogy",
]

expit = sigmoid
gammaln = lgamma
psi = digamma
multigammaln = mvlgamma
_SQRT1_2 = math.sqrt(0.5)
_TAIL = -10.0  # below this, log_ndtr uses its asymptotic series (erfc underflows near -13)


def entr(input) -> Tensor:
    """`torch.special.entr`: the elementwise entropy term `-x log x` (0 at 0, -inf for x < 0).

    >>> em.special.entr(em.tensor([0.0, 0.5, -1.0]))   # [0.0, 0.3466, -inf]
    """
    x = to_float(as_tensor(input))
    positive = x > 0
    value = -x * log(where(positive, x, 1.0))
    return where(positive, value, where(x == 0, 0.0, where(isnan(x), x, -math.inf)))


def ndtr(input) -> Tensor:
    """`torch.special.ndtr`: the standard normal CDF, `0.5 * erfc(-x / sqrt(2))`.

    >>> em.special.ndtr(em.tensor([0.0, 1.0]))          # [0.5, 0.8413]
    """
    x = to_float(as_tensor(input))
    return 0.5 * erfc(-x * _SQRT1_2)


def ndtri(input) -> Tensor:
    """`torch.special.ndtri`: the inverse of `ndtr` (the standard normal quantile),
    accurate in both tails; -inf / inf at 0 / 1.

    >>> em.special.ndtri(em.tensor([0.5, 0.975]))       # [0.0, 1.96]
    """
    return emit("ndtri", [to_float(as_tensor(input))])


def log_ndtr(input) -> Tensor:
    """`torch.special.log_ndtr`: `log(ndtr(x))`, accurate in both tails.

    For x > 0, `log1p(-ndtr(-x))`; for x < -10 (where ndtr underflows), the
    asymptotic series `-x^2/2 - log(-x) - log(2 pi)/2 + log(1 - 1/x^2 + 3/x^4 - 15/x^6)`.

    >>> em.special.log_ndtr(em.tensor([0.0, -20.0]))    # [-0.6931, -203.9172]
    """
    x = to_float(as_tensor(input))
    right = x > 0
    tail = x < _TAIL
    # each branch sees only inputs of its own range (no inf/NaN in unused gradients)
    xr = where(right, x, 1.0)
    xm = where(right | tail, -1.0, x)
    xt = where(tail, x, _TAIL)
    upper = log1p(-0.5 * erfc(xr * _SQRT1_2))
    middle = log(0.5 * erfc(-xm * _SQRT1_2))
    z = 1 / (xt * xt)
    series = log1p(z * (-1 + z * (3 - 15 * z)))
    lower = -0.5 * xt * xt - log(-xt) - 0.5 * math.log(2 * math.pi) + series
    return where(right, upper, where(tail, lower, middle))


def spherical_bessel_j0(input) -> Tensor:
    """`torch.special.spherical_bessel_j0`: `sin(x) / x`, 1 at 0.

    >>> em.special.spherical_bessel_j0(em.tensor([0.0, 3.0]))   # [1.0, 0.0470]
    """
    x = to_float(as_tensor(input))
    zero = x == 0
    safe = where(zero, 1.0, x)
    return where(zero, 1.0, safe.sin() / safe)
