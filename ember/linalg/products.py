"""`linalg.cross` (3-vector cross product, last dim by default) and `matrix_power`."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.linalg._inputs import matrix_input
from ember.linalg.solvers import inv
from ember.nn.functional.creation import eye
from ember.nn.functional.linalg import matmul
from ember.nn.functional.products import cross as _cross
from ember.nn.functional.shape import broadcast_to

__all__ = ["cross", "matrix_power"]


def cross(input, other, *, dim: int = -1) -> Tensor:
    """`torch.linalg.cross`: the cross product of 3-vectors along `dim` (inputs broadcast).

    >>> em.linalg.cross(a, b)              # (N, 3), (N, 3) -> (N, 3)
    """
    return _cross(input, other, dim=dim)


def matrix_power(A, n: int) -> Tensor:
    """`torch.linalg.matrix_power`: A @ A @ ... (n times) by repeated squaring; n = 0
    gives the identity and n < 0 powers of the inverse.

    >>> em.linalg.matrix_power(transition, 10)
    """
    a = matrix_input("matrix_power", A, square=True, floating=n < 0)
    if not isinstance(n, int) or isinstance(n, bool):
        raise a.builder.error(
            ShapeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
        )
    if n == 0:
        return broadcast_to(eye(a.shape[-1], dtype=a.dtype), a.shape)
    base = inv(a) if n < 0 else a
    result, remaining = None, abs(n)
    while remaining:  # binary exponentiation: log2(n) squarings
        if remaining & 1:
            result = base if result is None else matmul(result, base)
        remaining >>= 1
        if remaining:
            base = matmul(base, base)
    return result
