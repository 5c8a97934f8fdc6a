"""Checks shared by `em.linalg` functions: a float matrix (or batch), square if asked.

The ops check again in their type rules (for graphs built by hand); checking here
first names the function the user called (`inv`, not the `solve` it is built on).
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor


def matrix_input(op: str, A, *, square: bool = False, floating: bool = True) -> Tensor:
    a = as_tensor(A)
    if floating and a.dtype not in ("float32", "float64"):
        raise a.builder.error(
            DTypeError(
                f"linalg.{op}: expects a float32 or float64 tensor, got {a.dtype} with shape "
                f"{a.shape}; fix: cast with .float()"
            )
        )
    if a.ndim < 2:
        raise a.builder.error(
            ShapeError(
                f"linalg.{op}: expects a matrix or a batch of matrices (..., m, n), got shape "
                f"{a.shape}; fix: reshape the input to at least 2 dims"
            )
        )
    if square and a.shape[-1] != a.shape[-2]:
        raise a.builder.error(
            ShapeError(
                f"linalg.{op}: expects square matrices (..., n, n), got shape {a.shape}; "
                "fix: pass square matrices (em.linalg.pinv handles rectangular ones)"
            )
        )
    return a
