"""Small dense linear algebra for MultivariateNormal, composed from ember ops.

ember has no Cholesky or triangular-solve op, so both are written as loops over the
event dimension that unroll into the graph: D steps of a few vectorized ops each
(batch dims stay vectorized). That suits event sizes up to a few dozen; gradients
follow from the ops themselves.
"""

from __future__ import annotations

from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn import functional as F

__all__ = ["cholesky", "diagonal", "solve_lower", "inverse_lower", "matvec"]


def diagonal(matrix: Tensor) -> Tensor:
    """The diagonal of the last two dims: (..., D, D) -> (..., D)."""
    n = matrix.shape[-1]
    return (matrix * F.eye(n, dtype=matrix.dtype)).sum(-1)


def matvec(matrix: Tensor, vector: Tensor) -> Tensor:
    """(..., D, K) @ (..., K) -> (..., D), batch dims broadcast."""
    return (matrix * vector.unsqueeze(-2)).sum(-1)


def solve_lower(lower: Tensor, rhs: Tensor) -> Tensor:
    """x with `lower @ x = rhs` for lower-triangular (..., D, D) and rhs (..., D).

    Forward substitution: x_i = (b_i - L[i, :i] . x[:i]) / L[i, i].
    """
    n = lower.shape[-1]
    batch = broadcast_shapes(lower.shape[:-2], rhs.shape[:-1])
    lower = F.broadcast_to(lower, batch + (n, n))
    rhs = F.broadcast_to(rhs, batch + (n,))
    x = rhs[..., :1] / lower[..., :1, 0]
    for i in range(1, n):
        dot = (lower[..., i, :i] * x).sum(-1, keepdim=True)
        x = F.cat([x, (rhs[..., i : i + 1] - dot) / lower[..., i, i : i + 1]], -1)
    return x


def inverse_lower(lower: Tensor) -> Tensor:
    """The inverse of a lower-triangular (..., D, D) matrix (itself lower-triangular)."""
    n = lower.shape[-1]
    identity_rows = F.eye(n, dtype=lower.dtype)  # row k is e_k: one solve per column
    columns = solve_lower(lower.unsqueeze(-3), identity_rows)  # (..., k, D): column k
    return columns.mT


def cholesky(matrix: Tensor) -> Tensor:
    """Lower Cholesky factor L (L @ L.mT = matrix) of symmetric positive-definite matrices.

    Column by column: v = A[j:, j] - L[j:, :j] @ L[j, :j]; L[j:, j] = v / sqrt(v[0]).
    A matrix that is not positive definite gives NaN (no check inside a compiled program).
    """
    n = matrix.shape[-1]
    batch = matrix.shape[:-2]
    columns: list[Tensor] = []
    for j in range(n):
        v = matrix[..., j:, j]
        if columns:
            done = F.stack(columns, -1)  # (..., D, j)
            v = v - matvec(done[..., j:, :], done[..., j, :])
        column = v / v[..., :1].sqrt()
        if j:
            column = F.cat([F.zeros(batch + (j,), dtype=matrix.dtype), column], -1)
        columns.append(column)
    return F.stack(columns, -1)
