"""Inverses and determinants: `solve`, `inv`, `pinv`, `det`, `slogdet`.

`solve`, `det` and `slogdet` are IR ops (LU-based); `inv` is `solve(A, I)` and `pinv`
is built from the SVD (or `eigh` for `hermitian=True`). Singular inputs cannot raise
inside a compiled program: `solve` and `inv` then give inf/NaN, as JAX does.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.linalg._inputs import matrix_input
from ember.linalg.factorizations import eigh, svd
from ember.nn.functional._core import as_tensor, emit, promote_pair
from ember.nn.functional.creation import eye
from ember.nn.functional.elementwise import maximum, where
from ember.nn.functional.linalg import matmul
from ember.nn.functional.shape import squeeze, unsqueeze

__all__ = ["solve", "inv", "pinv", "det", "slogdet"]

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])  # torch.return_types


def solve(A, B, *, left: bool = True) -> Tensor:
    """`torch.linalg.solve`: X with A @ X = B (`left=False`: X @ A = B).

    B is (..., n, k), or a batch of vectors (..., n) when it is 1-D or has A's shape
    without the last dim; batch dims broadcast.

    >>> x = em.linalg.solve(A, b)          # A (n, n), b (n,) -> x (n,)
    """
    a, b = promote_pair(matrix_input("solve", A, square=True), as_tensor(B))
    n, given = a.shape[-1], b.shape
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vector:
        b = unsqueeze(b, -1)
    if b.ndim < 2 or (b.shape[-2] if left or vector else b.shape[-1]) != n:
        want = f"(..., {n}, k) or (..., {n})" if left else f"(..., k, {n}) or (..., {n})"
        raise a.builder.error(
            ShapeError(
                f"linalg.solve: A of shape {a.shape} needs B of shape {want}, got {given}; "
                f"fix: give B {n} {'rows' if left else 'columns'}"
            )
        )
    if left or vector:  # x @ A = b for a vector b is A.mT @ x = b
        lhs = a if left else a.mT
        x = emit("solve", [lhs, b])
    else:
        x = emit("solve", [a.mT, b.mT]).mT
    return squeeze(x, -1) if vector else x


def inv(A) -> Tensor:
    """`torch.linalg.inv`: the inverse of square matrices (`solve(A, I)`).

    >>> em.linalg.inv(A) @ A               # ~ identity
    """
    a = matrix_input("inv", A, square=True)
    return emit("solve", [a, eye(a.shape[-1], dtype=a.dtype)])


def det(A) -> Tensor:
    """`torch.linalg.det`: the determinant of square matrices; shape A.shape[:-2].

    >>> em.linalg.det(em.eye(3) * 2)       # 8.0
    """
    return emit("det", [matrix_input("det", A, square=True)])


def slogdet(A) -> SlogdetResult:
    """`torch.linalg.slogdet`: (sign, log|det|), stable where det over- or underflows.

    >>> sign, logabsdet = em.linalg.slogdet(cov)
    """
    sign, logabsdet = emit("slogdet", [matrix_input("slogdet", A, square=True)])
    return SlogdetResult(sign, logabsdet)


def _cutoff(a: Tensor, largest: Tensor, atol, rtol) -> Tensor:
    """PyTorch's threshold max(atol, rtol * largest singular value); by default rtol is
    eps * max(m, n) unless a positive atol is given."""
    if rtol is None:
        atol_given = atol is not None and (isinstance(atol, Tensor) or atol > 0)
        rtol = 0.0 if atol_given else float(np.finfo(a.dtype).eps) * max(a.shape[-2:])
    atol = 0.0 if atol is None else atol
    return maximum(as_tensor(atol, a.builder, dtype=a.dtype), largest * rtol)


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """`torch.linalg.pinv`: the Moore-Penrose pseudo-inverse (n, m) of A (m, n).

    Singular values at or below max(atol, rtol * sigma_max) count as zero. With
    `hermitian=True` A is taken as symmetric (its lower triangle) and `eigh` is used.

    >>> x = em.linalg.pinv(A) @ b          # least-squares solution
    """
    a = matrix_input("pinv", A, square=hermitian)
    if hermitian:
        values, vectors = eigh(a)
        magnitude = values.abs()
        keep = magnitude > _cutoff(a, magnitude.amax(-1, keepdim=True), atol, rtol)
        scale = where(keep, 1 / where(keep, values, 1), 0)
        return matmul(vectors * unsqueeze(scale, -2), vectors.mT)
    u, s, vh = svd(a, full_matrices=False)
    keep = s > _cutoff(a, s.amax(-1, keepdim=True), atol, rtol)
    # where inside and outside: 1/s of a dropped (zero) singular value would poison gradients
    scale = where(keep, 1 / where(keep, s, 1), 0)
    return matmul(vh.mT * unsqueeze(scale, -2), u.mT)
