"""`ember.linalg` (`em.linalg`): PyTorch's `torch.linalg` functions.

Factorizations (`cholesky`, `qr`, `svd`, `eigh`) and `solve`, `det`, `slogdet`
are IR ops; everything else is composed from them and from the functional ops,
so it traces, lowers and differentiates like any other op. Every function works
on the last two dims and batches over the leading ones.

>>> import ember as em
>>> x = em.linalg.solve(A, b)
"""

from ember.linalg.factorizations import cholesky, eigh, eigvalsh, qr, svd, svdvals
from ember.linalg.norms import matrix_norm, norm, vector_norm
from ember.linalg.products import cross, matrix_power
from ember.linalg.solvers import det, inv, pinv, slogdet, solve

__all__ = [
    "cholesky",
    "cross",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "matrix_norm",
    "matrix_power",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "vector_norm",
]
