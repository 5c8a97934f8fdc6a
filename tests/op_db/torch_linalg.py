"""OpInfo entries: the matrix-factorization ops (cholesky, qr, svd, eigh, solve, det,
slogdet) and the `em.linalg` functions composed from them, against `torch.linalg`.

Singular and eigenvectors are unique only up to sign: samples fix each vector's sign
(the sign of its sum) on both sides before comparing, which leaves the gradients
unchanged almost everywhere. Inputs are well conditioned with distinct
eigen/singular values, where these decompositions are differentiable.
"""

import math

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op
from opinfo_inputs import randint, randn, reseed, t

import ember as em
from ember.errors import DTypeError, ShapeError, UnsupportedOpError

reseed(61)
L = em.linalg
TOL = dict(rtol=1e-4, atol=1e-5)


def spd(*shape):
    """Symmetric positive definite (..., n, n) with well separated eigenvalues."""
    a = randn(*shape)
    n = shape[-1]
    spread = np.diag(np.arange(1, n + 1, dtype=np.float32))
    return (a @ np.swapaxes(a, -1, -2) / n + spread).astype(np.float32)


def well_conditioned(*shape):
    n = shape[-1]
    return (randn(*shape) * 0.3 + 2 * np.eye(n, dtype=np.float32)).astype(np.float32)


def fix_signs(vectors, partner=None):
    """Flip each column of `vectors` (and the matching row of `partner`) so it sums >= 0."""
    lib = torch if isinstance(vectors, torch.Tensor) else em
    sign = lib.sign(vectors.sum(-2, keepdim=True))
    fixed = vectors * sign
    return fixed if partner is None else (fixed, partner * sign.mT)


def torch_qr_fixed(a, mode):
    q, r = torch.linalg.qr(t(a), mode)
    d = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    k = d.shape[-1]
    return q[..., :k] * d.unsqueeze(-2), r[..., :k, :] * d.unsqueeze(-1)


def ember_qr_fixed(a, mode):
    q, r = L.qr(a, mode)
    d = em.sign(em.diagonal(r, dim1=-2, dim2=-1))
    k = d.shape[-1]
    return q[..., :k] * d.unsqueeze(-2), r[..., :k, :] * d.unsqueeze(-1)


CHOLESKY = OpInfo(
    "cholesky",
    [
        Sample(L.cholesky, (spd(4, 4),), lambda a: torch.linalg.cholesky(t(a)), "cholesky", **TOL),
        Sample(
            lambda a: L.cholesky(a, upper=True),
            (spd(2, 3, 3),),
            lambda a: torch.linalg.cholesky(t(a), upper=True),
            "cholesky-upper-batched",
            **TOL,
        ),
        # only the lower triangle is read: garbage above the diagonal changes nothing
        Sample(
            lambda a: L.cholesky(a.tril() + a.triu(1) * 7.0),
            (spd(3, 3),),
            lambda a: torch.linalg.cholesky(t(a)),
            "cholesky-reads-lower-triangle",
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(
            L.cholesky, (randn(3, 4),), ShapeError, r"cholesky: expects square .* \(3, 4\)"
        ),
        ErrorSample(
            L.cholesky, (randint(0, 3, 3, 3),), DTypeError, r"cholesky: expects a float32.*int32"
        ),
        ErrorSample(
            lambda a: raw_op(a, "cholesky", upper=False),
            (randn(4),),
            ShapeError,
            r"cholesky: expects a matrix .* got shape \(4,\)",
        ),
    ],
)

QR = OpInfo(
    "qr",
    [
        Sample(
            lambda a: ember_qr_fixed(a, "reduced"),
            (randn(5, 3),),
            lambda a: torch_qr_fixed(a, "reduced"),
            "qr-tall",
            **TOL,
        ),
        Sample(
            lambda a: ember_qr_fixed(a, "reduced"),
            (randn(2, 3, 3),),
            lambda a: torch_qr_fixed(a, "reduced"),
            "qr-batched-square",
            **TOL,
        ),
        Sample(
            lambda a: (L.qr(a, "complete").Q.mT @ L.qr(a, "complete").Q, L.qr(a, "r").R.abs()),
            (randn(4, 2),),
            lambda a: (torch.eye(4), torch.linalg.qr(t(a), "r").R.abs()),
            "qr-complete-orthonormal-and-r",
            grad=False,
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(lambda a: L.qr(a, "full"), (randn(3, 3),), UnsupportedOpError, "mode must be"),
        ErrorSample(
            lambda a: raw_op(a, "qr", mode="full"), (randn(3, 3),), ShapeError, "qr: mode must be"
        ),
    ],
)

SVD = OpInfo(
    "svd",
    [
        Sample(
            lambda a: (*fix_signs(*L.svd(a, full_matrices=False)[::2]), L.svdvals(a)),
            (randn(5, 3),),
            lambda a: (
                *fix_signs(*torch.linalg.svd(t(a), full_matrices=False)[::2]),
                torch.linalg.svdvals(t(a)),
            ),
            "svd-reduced",
            **TOL,
        ),
        Sample(
            L.svdvals,
            (randn(2, 3, 4),),
            lambda a: torch.linalg.svdvals(t(a)),
            "svdvals-batched-wide",
            **TOL,
        ),
        # full_matrices completes U (and Vh) to orthonormal bases; A is still U S Vh
        Sample(
            lambda a: (
                L.svd(a).U.mT @ L.svd(a).U,
                (L.svd(a).U[:, :3] * L.svd(a).S) @ L.svd(a).Vh,
                L.svd(a.mT).Vh @ L.svd(a.mT).Vh.mT,
            ),
            (randn(5, 3),),
            lambda a: (torch.eye(5), t(a), torch.eye(5)),
            "svd-full-matrices",
            grad=False,
            **TOL,
        ),
        Sample(
            lambda a: L.matrix_norm(a, "nuc"),
            (randn(4, 3),),
            lambda a: torch.linalg.matrix_norm(t(a), "nuc"),
            "matrix_norm-nuc",
            **TOL,
        ),
        Sample(
            lambda a: (L.matrix_norm(a, 2), L.matrix_norm(a, -2, dim=(0, 2), keepdim=True)),
            (randn(3, 2, 4),),
            lambda a: (
                torch.linalg.matrix_norm(t(a), 2),
                torch.linalg.matrix_norm(t(a), -2, dim=(0, 2), keepdim=True),
            ),
            "matrix_norm-spectral",
            **TOL,
        ),
        Sample(L.pinv, (randn(5, 3),), lambda a: torch.linalg.pinv(t(a)), "pinv-tall", **TOL),
        Sample(
            lambda a: L.pinv(a, rtol=0.5),
            (randn(2, 3, 4),),
            lambda a: torch.linalg.pinv(t(a), rtol=0.5),
            "pinv-rtol-drops-small-values",
            grad=False,
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(L.svd, (randn(3),), ShapeError, r"linalg.svd: expects a matrix .*\(3,\)"),
    ],
)

EIGH = OpInfo(
    "eigh",
    [
        Sample(
            lambda a: (L.eigh(a).eigenvalues, fix_signs(L.eigh(a).eigenvectors)),
            (spd(4, 4),),
            lambda a: (torch.linalg.eigh(t(a))[0], fix_signs(torch.linalg.eigh(t(a))[1])),
            "eigh",
            **TOL,
        ),
        Sample(
            lambda a: L.eigvalsh(a, UPLO="U"),
            (randn(2, 3, 3),),
            lambda a: torch.linalg.eigvalsh(t(a), UPLO="U"),
            "eigvalsh-upper-nonsymmetric-input",
            **TOL,
        ),
        Sample(
            lambda a: L.pinv(a, hermitian=True),
            (spd(3, 3),),
            lambda a: torch.linalg.pinv(t(a), hermitian=True),
            "pinv-hermitian",
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(lambda a: L.eigh(a, "X"), (randn(3, 3),), UnsupportedOpError, "UPLO"),
        ErrorSample(L.eigvalsh, (randn(2, 3),), ShapeError, r"eigh: expects square"),
    ],
)

SOLVE = OpInfo(
    "solve",
    [
        Sample(
            L.solve,
            (well_conditioned(2, 3, 3), randn(3, 2)),
            lambda a, b: torch.linalg.solve(t(a), t(b)),
            "solve-broadcast-batch",
            **TOL,
        ),
        Sample(
            L.solve,
            (well_conditioned(2, 3, 3), randn(2, 3)),
            lambda a, b: torch.linalg.solve(t(a), t(b)),
            "solve-batched-vector",
            **TOL,
        ),
        Sample(
            lambda a, b: L.solve(a, b, left=False),
            (well_conditioned(3, 3), randn(4, 3)),
            lambda a, b: torch.linalg.solve(t(a), t(b), left=False),
            "solve-right",
            **TOL,
        ),
        Sample(L.inv, (well_conditioned(2, 4, 4),), lambda a: torch.linalg.inv(t(a)), "inv", **TOL),
        Sample(
            lambda a: (L.matrix_power(a, -3), L.matrix_power(a, 5), L.matrix_power(a, 0)),
            (well_conditioned(3, 3) * 0.6,),
            lambda a: tuple(torch.linalg.matrix_power(t(a), n) for n in (-3, 5, 0)),
            "matrix_power",
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(
            L.solve,
            (randn(3, 3), randn(4, 2)),
            ShapeError,
            r"linalg.solve: A of shape \(3, 3\) needs B of shape \(\.\.\., 3, k\)",
        ),
        ErrorSample(L.inv, (randn(2, 3),), ShapeError, r"linalg.inv: expects square .*\(2, 3\)"),
        ErrorSample(
            lambda a, b: raw_op(a, "solve", [a, b]),
            (randn(3, 3), randn(3)),
            ShapeError,
            r"solve: A of shape \(3, 3\) needs B of shape \(\.\.\., 3, k\), got \(3,\)",
        ),
    ],
)

DET = OpInfo(
    "det",
    [
        Sample(L.det, (randn(2, 3, 3),), lambda a: torch.linalg.det(t(a)), "det", **TOL),
        Sample(L.det, (randn(1, 1),), lambda a: torch.linalg.det(t(a)), "det-1x1", **TOL),
    ],
    errors=[
        ErrorSample(L.det, (randn(2, 3),), ShapeError, r"linalg.det: expects square"),
    ],
)

SLOGDET = OpInfo(
    "slogdet",
    [
        Sample(
            lambda a: tuple(L.slogdet(a)),
            (randn(2, 4, 4),),
            lambda a: tuple(torch.linalg.slogdet(t(a))),
            "slogdet",
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(L.slogdet, (randn(4),), ShapeError, r"linalg.slogdet: expects a matrix"),
    ],
)

# composed from existing ops: `norm` (vector/Frobenius norms), `amax` (inf/1 norms)
LINALG_NORMS = OpInfo(
    "norm",
    [
        Sample(
            lambda a: (
                L.vector_norm(a),
                L.vector_norm(a, math.inf, dim=1),
                L.vector_norm(a, 0, dim=(0, 2), keepdim=True),
                L.vector_norm(a, 3.5, dim=-1),
            ),
            (randn(2, 3, 4),),
            lambda a: (
                torch.linalg.vector_norm(t(a)),
                torch.linalg.vector_norm(t(a), math.inf, dim=1),
                torch.linalg.vector_norm(t(a), 0, dim=(0, 2), keepdim=True),
                torch.linalg.vector_norm(t(a), 3.5, dim=-1),
            ),
            "vector_norm",
            **TOL,
        ),
        Sample(
            lambda a: (
                L.norm(a),
                L.norm(a[0], "fro"),
                L.norm(a[0, 0], 1),
                L.norm(a, dim=-1),
                L.norm(a, dim=(0, 1), keepdim=True),
            ),
            (randn(2, 3, 4),),
            lambda a: (
                torch.linalg.norm(t(a)),
                torch.linalg.norm(t(a)[0], "fro"),
                torch.linalg.norm(t(a)[0, 0], 1),
                torch.linalg.norm(t(a), dim=-1),
                torch.linalg.norm(t(a), dim=(0, 1), keepdim=True),
            ),
            "linalg-norm",
            **TOL,
        ),
        Sample(
            lambda a: L.matrix_norm(a),
            (randn(2, 3, 4),),
            lambda a: torch.linalg.matrix_norm(t(a)),
            "matrix_norm-fro",
            **TOL,
        ),
    ],
    errors=[
        ErrorSample(
            lambda a: L.norm(a, 2), (randn(2, 3, 4),), ShapeError, r"needs a 1-D or 2-D input"
        ),
        ErrorSample(
            lambda a: L.matrix_norm(a, 3), (randn(3, 3),), UnsupportedOpError, r"ord must be one"
        ),
        ErrorSample(
            lambda a: L.vector_norm(a, "fro"), (randn(3),), UnsupportedOpError, "matrix_norm"
        ),
    ],
)

LINALG_AMAX = OpInfo(
    "amax",
    [
        Sample(
            lambda a: (
                L.matrix_norm(a, math.inf),
                L.matrix_norm(a, -math.inf, keepdim=True),
                L.matrix_norm(a, 1, dim=(2, 0)),
                L.matrix_norm(a, -1),
            ),
            (randn(2, 3, 4),),
            lambda a: (
                torch.linalg.matrix_norm(t(a), math.inf),
                torch.linalg.matrix_norm(t(a), -math.inf, keepdim=True),
                torch.linalg.matrix_norm(t(a), 1, dim=(2, 0)),
                torch.linalg.matrix_norm(t(a), -1),
            ),
            "matrix_norm-inf-and-1",
            **TOL,
        ),
    ],
)

LINALG_CROSS = OpInfo(
    "concatenate",
    [
        Sample(
            L.cross,
            (randn(1, 4, 3), randn(2, 1, 3)),
            lambda a, b: torch.linalg.cross(t(a), t(b)),
            "linalg-cross-broadcast",
        ),
    ],
    errors=[
        ErrorSample(L.cross, (randn(4, 3), randn(4, 2)), ShapeError, r"cross: shapes \(4, 3\)"),
        ErrorSample(L.cross, (randn(4, 3), randn(3)), ShapeError, "same number of dimensions, got"),
    ],
)

OP_DB = [CHOLESKY, QR, SVD, EIGH, SOLVE, DET, SLOGDET, LINALG_NORMS, LINALG_AMAX, LINALG_CROSS]
