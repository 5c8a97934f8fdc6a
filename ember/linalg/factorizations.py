"""Matrix factorizations: `cholesky`, `qr`, `svd`, `svdvals`, `eigh`, `eigvalsh`.

Each is one IR op (see `ember/graphdef/ops/matrix_factorizations.py`) on the last
two dims, batched over the leading ones, with PyTorch's result tuples. Values
PyTorch checks at run time (positive definiteness) cannot be checked inside a
compiled program: a Cholesky factor of a matrix that is not positive definite is NaN.
"""

from __future__ import annotations

from collections import namedtuple

from ember.errors import UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.linalg._inputs import matrix_input
from ember.nn.functional._core import constant, emit
from ember.nn.functional.shape import broadcast_to

__all__ = ["cholesky", "qr", "svd", "svdvals", "eigh", "eigvalsh"]

QRResult = namedtuple("QRResult", ["Q", "R"])  # torch.return_types.linalg_qr
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])  # torch.return_types.linalg_svd
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])


def _triangle(op: str, uplo: str, A) -> bool:
    if uplo not in ("L", "U"):
        raise matrix_input(op, A).builder.error(
            UnsupportedOpError(f"linalg.{op}: UPLO must be 'L' or 'U', got {uplo!r}")
        )
    return uplo == "U"


def cholesky(A, *, upper: bool = False) -> Tensor:
    """`torch.linalg.cholesky`: L with A = L @ L.mT for symmetric positive-definite A.

    Reads only the lower triangle of A (the upper one with `upper=True`, which returns
    U = L.mT).

    >>> L = em.linalg.cholesky(cov)        # then sample as mean + L @ z
    """
    a = matrix_input("cholesky", A, square=True)
    return emit("cholesky", [a], upper=bool(upper))


def qr(A, mode: str = "reduced") -> QRResult:
    """`torch.linalg.qr`: A = Q @ R, Q with orthonormal columns, R upper triangular.

    `mode='reduced'` gives Q (m, k), R (k, n) with k = min(m, n); 'complete' Q (m, m);
    'r' only R (Q is an empty tensor, as in PyTorch).

    >>> Q, R = em.linalg.qr(A)
    """
    a = matrix_input("qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise a.builder.error(
            UnsupportedOpError(
                f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}"
            )
        )
    q, r = emit("qr", [a], mode="reduced" if mode == "r" else mode)
    if mode == "r":
        q = broadcast_to(constant(a.builder, 0, a.dtype), (0,))
    return QRResult(q, r)


def svd(A, full_matrices: bool = True, *, driver: str | None = None) -> SVDResult:
    """`torch.linalg.svd`: A = U @ diag(S) @ Vh with S descending.

    `full_matrices=True` (PyTorch's default) completes U and Vh to square orthonormal
    matrices; as in PyTorch, gradients ignore those extra columns, so pass
    `full_matrices=False` when differentiating. `driver` (a cuSOLVER choice) is ignored.

    >>> U, S, Vh = em.linalg.svd(A, full_matrices=False)
    """
    a = matrix_input("svd", A)
    u, s, vh = emit("svd", [a], full_matrices=bool(full_matrices), compute_uv=True)
    return SVDResult(u, s, vh)


def svdvals(A, *, driver: str | None = None) -> Tensor:
    """`torch.linalg.svdvals`: the singular values of A, descending.

    >>> sigma_max = em.linalg.svdvals(W)[..., 0]
    """
    a = matrix_input("svdvals", A)
    return emit("svd", [a], full_matrices=False, compute_uv=False)


def eigh(A, UPLO: str = "L") -> EighResult:
    """`torch.linalg.eigh`: ascending eigenvalues and orthonormal eigenvectors (columns)
    of the symmetric matrix given by A's lower (`UPLO='L'`) or upper triangle.

    >>> w, V = em.linalg.eigh(cov)         # cov = V @ diag(w) @ V.mT
    """
    upper = _triangle("eigh", UPLO, A)
    a = matrix_input("eigh", A, square=True)
    values, vectors = emit("eigh", [a], upper=upper)
    return EighResult(values, vectors)


def eigvalsh(A, UPLO: str = "L") -> Tensor:
    """`torch.linalg.eigvalsh`: the ascending eigenvalues of a symmetric matrix.

    >>> em.linalg.eigvalsh(hessian)[..., 0]    # the smallest eigenvalue
    """
    return eigh(A, UPLO).eigenvalues
