"""torch's top-level linear algebra names on `em.linalg`: `det`, `logdet`, `slogdet`,
`inverse`, `pinverse`, `cholesky`, and `matrix_exp` (scaling and squaring)."""

from __future__ import annotations

import math

from ember.frontend.tensor import Tensor, tensor_method
from ember.nn.functional._core import as_tensor
from ember.nn.functional.control_flow import cond, fori_loop
from ember.nn.functional.creation import eye
from ember.nn.functional.elementwise import ceil, clamp, log2, where
from ember.nn.functional.linalg import matmul
from ember.nn.functional.shape import reshape

__all__ = ["det", "logdet", "slogdet", "inverse", "pinverse", "cholesky", "matrix_exp"]


def _linalg():
    import ember.linalg as linalg  # ember.linalg is built on this package: import late

    return linalg


@tensor_method()
def det(input) -> Tensor:
    """`torch.det`: `em.linalg.det` (determinants of square matrices, batched)."""
    return _linalg().det(input)


@tensor_method()
def slogdet(input):
    """`torch.slogdet`: `em.linalg.slogdet`, the (sign, log|det|) pair."""
    return _linalg().slogdet(input)


@tensor_method()
def logdet(input) -> Tensor:
    """`torch.logdet`: log(det); NaN where det < 0 and -inf where it is 0, as PyTorch."""
    sign, logabs = _linalg().slogdet(input)
    return where(sign < 0, math.nan, where(sign == 0, -math.inf, logabs))


@tensor_method()
def inverse(input) -> Tensor:
    """`torch.inverse`: `em.linalg.inv` (singular matrices give inf/NaN, not an error)."""
    return _linalg().inv(input)


@tensor_method()
def pinverse(input, rcond: float = 1e-15) -> Tensor:
    """`torch.pinverse`: `em.linalg.pinv(input, rtol=rcond)`."""
    return _linalg().pinv(input, rtol=rcond)


@tensor_method()
def cholesky(input, upper: bool = False) -> Tensor:
    """`torch.cholesky` (deprecated there for `torch.linalg.cholesky`): the lower (or
    upper) Cholesky factor of symmetric positive-definite matrices."""
    return _linalg().cholesky(input, upper=upper)


_TAYLOR_DEGREE = 18  # ||A / 2**s||_1 <= 1/2: the remainder is below 1e-22 of the result
_MAX_SQUARINGS = 64  # norms up to 2**63; exp overflows long before unless A is ~negative


@tensor_method()
def matrix_exp(input) -> Tensor:
    """`torch.matrix_exp`: exp of square matrices (batched), by scaling and squaring.

    A is scaled by 2**-s so that its 1-norm is at most 1/2 (one s for the batch, the
    largest; s <= 64), exp of that is a degree-18 Taylor polynomial (Horner), and the
    result is squared s times in a 64-step `em.fori_loop` whose steps past s are skipped
    by `em.cond` (a static length keeps it differentiable; a while_loop is not).

    >>> em.matrix_exp(em.zeros(2, 2))      # identity
    """
    a = _linalg_input(input)
    n = a.shape[-1]
    one_norm = a.abs().sum(-2).amax()  # the largest column sum over the batch
    s = clamp(ceil(log2(one_norm * 2.0)), 0, _MAX_SQUARINGS)
    s = where(one_norm > 0, s, 0.0)  # log2(0) is -inf
    scaled = a / reshape(2.0**s, (1,) * a.ndim)
    identity = eye(n, dtype=a.dtype)
    out = identity + scaled / _TAYLOR_DEGREE
    for k in range(_TAYLOR_DEGREE - 1, 0, -1):
        out = identity + matmul(scaled, out) / k
    steps = s.to("int32")

    def square(i, x):
        return cond(i < steps, lambda y: matmul(y, y), lambda y: y, x)

    return fori_loop(0, _MAX_SQUARINGS, square, out)


def _linalg_input(A) -> Tensor:
    from ember.linalg._inputs import matrix_input

    return matrix_input("matrix_exp", as_tensor(A), square=True)
