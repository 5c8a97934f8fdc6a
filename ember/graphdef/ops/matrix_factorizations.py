"""Ops backed by a matrix factorization (LAPACK on CPU, cuSOLVER on GPU).

These cannot be composed from elementwise ops and matmuls: `cholesky`, `qr`,
`svd`, `eigh`, and the LU-based `solve`, `det` and `slogdet`. Everything else
in `em.linalg` (inverse, pinv, norms, matrix powers) is composed from them.
Each op works on the last two dims and treats the leading ones as a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import broadcast_shapes
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

# LAPACK has no half-precision kernels; PyTorch's CPU linalg rejects them too
_LAPACK_FLOATS = ("float32", "float64")
QR_MODES = ("reduced", "complete")


def _require_lapack_float(op: str, t: TensorType) -> None:
    if t.dtype not in _LAPACK_FLOATS:
        raise DTypeError(
            f"{op}: expects a float32 or float64 tensor, got {t.dtype} with shape {t.shape}; "
            "fix: cast with .float() (.double() under x64)"
        )


def _matrix(op: str, t: TensorType) -> tuple[int, int]:
    _require_lapack_float(op, t)
    if t.ndim < 2:
        raise ShapeError(
            f"{op}: expects a matrix or a batch of matrices (..., m, n), got shape {t.shape}; "
            "fix: reshape the input to at least 2 dims"
        )
    return t.shape[-2], t.shape[-1]


def _square(op: str, t: TensorType) -> int:
    m, n = _matrix(op, t)
    if m != n:
        raise ShapeError(
            f"{op}: expects square matrices (..., n, n), got shape {t.shape}; "
            "fix: pass a square matrix (or use em.linalg.pinv / lstsq-style solves for "
            "rectangular ones)"
        )
    return n


def _cholesky(types: Sequence[TensorType], *, upper: bool):
    (a,) = types
    _square("cholesky", a)
    return [a]


def _qr(types: Sequence[TensorType], *, mode: str):
    (a,) = types
    m, n = _matrix("qr", a)
    if mode not in QR_MODES:
        raise ShapeError(f"qr: mode must be one of {QR_MODES}, got {mode!r}")
    batch, k = a.shape[:-2], min(m, n)
    q_cols = m if mode == "complete" else k
    return [TensorType(batch + (m, q_cols), a.dtype), TensorType(batch + (q_cols, n), a.dtype)]


def _svd(types: Sequence[TensorType], *, full_matrices: bool, compute_uv: bool):
    (a,) = types
    m, n = _matrix("svd", a)
    batch, k = a.shape[:-2], min(m, n)
    s = TensorType(batch + (k,), a.dtype)
    if not compute_uv:
        return [s]
    u_cols, vh_rows = (m, n) if full_matrices else (k, k)
    return [TensorType(batch + (m, u_cols), a.dtype), s, TensorType(batch + (vh_rows, n), a.dtype)]


def _eigh(types: Sequence[TensorType], *, upper: bool):
    (a,) = types
    n = _square("eigh", a)
    return [TensorType(a.shape[:-2] + (n,), a.dtype), a]


def _solve(types: Sequence[TensorType]):
    a, b = types
    n = _square("solve", a)
    _require_lapack_float("solve", b)
    if b.ndim < 2 or b.shape[-2] != n:
        raise ShapeError(
            f"solve: A of shape {a.shape} needs B of shape (..., {n}, k), got {b.shape}; "
            f"fix: give B {n} rows (a vector right-hand side is (..., {n}))"
        )
    if a.dtype != b.dtype:
        raise DTypeError(f"solve: A is {a.dtype} but B is {b.dtype}; fix: cast both to one dtype")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [TensorType(batch + b.shape[-2:], a.dtype)]


def _det(types: Sequence[TensorType]):
    (a,) = types
    _square("det", a)
    return [TensorType(a.shape[:-2], a.dtype)]


def _slogdet(types: Sequence[TensorType]):
    (a,) = types
    _square("slogdet", a)
    out = TensorType(a.shape[:-2], a.dtype)
    return [out, out]


register_op(
    "cholesky",
    _cholesky,
    attrs={"upper": "bool"},
    doc="Cholesky factor of the SPD matrix given by the lower (or upper) triangle",
)
register_op("qr", _qr, attrs={"mode": "str"}, doc="Q, R with Q orthonormal and R upper triangular")
register_op(
    "svd",
    _svd,
    attrs={"full_matrices": "bool", "compute_uv": "bool"},
    doc="U, S, Vh (S descending) or only S",
)
register_op(
    "eigh",
    _eigh,
    attrs={"upper": "bool"},
    doc="ascending eigenvalues and eigenvectors of the symmetric matrix given by one triangle",
)
register_op("solve", _solve, num_inputs=2, doc="X with A @ X = B; batch dims broadcast")
register_op("det", _det, doc="determinant")
register_op("slogdet", _slogdet, doc="sign and log|det|")
