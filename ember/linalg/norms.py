"""`vector_norm`, `matrix_norm` and `norm` (which picks one of them), as in `torch.linalg`.

Vector norms are the `norm` reduction op; matrix norms combine it with sums and
maxima of absolute values, or with singular values ('nuc', 2, -2).
"""

from __future__ import annotations

import math

from ember.errors import ShapeError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import normalize_dim
from ember.linalg._inputs import matrix_input
from ember.linalg.factorizations import svdvals
from ember.nn.functional._core import as_tensor, to_float
from ember.nn.functional.reduction import norm as _norm_reduction
from ember.nn.functional.shape import movedim, reshape

__all__ = ["vector_norm", "matrix_norm", "norm"]

_MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def vector_norm(x, ord: float = 2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """`torch.linalg.vector_norm`: (sum |x|^ord)^(1/ord) over `dim` (all dims by default);
    `ord` may be inf, -inf (max/min |x|) or 0 (the count of non-zeros).

    >>> em.linalg.vector_norm(grads, ord=math.inf)
    """
    t = as_tensor(x)
    if isinstance(ord, str):
        raise t.builder.error(
            UnsupportedOpError(
                f"linalg.vector_norm: ord must be a number, got {ord!r}; fix: use "
                "em.linalg.matrix_norm for 'fro' and 'nuc'"
            )
        )
    return _norm_reduction(t, float(ord), dim, keepdim, dtype)


def _plane(op: str, a: Tensor, dim) -> tuple[int, int]:
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if len(dims) != 2:
        raise a.builder.error(ShapeError(f"linalg.{op}: dim must be a pair of dims, got {dim!r}"))
    try:
        d0, d1 = (normalize_dim(d, a.ndim) for d in dims)
    except ShapeError as e:
        raise a.builder.error(ShapeError(f"linalg.{op}: {e} (input {a.shape})")) from None
    if d0 == d1:
        raise a.builder.error(
            ShapeError(f"linalg.{op}: dim must name two different dims, got {dim!r}")
        )
    return d0, d1


def _drop(x: Tensor, dims: tuple[int, int]) -> Tensor:
    """Remove the two size-1 dims a keepdim reduction left."""
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in dims))


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """`torch.linalg.matrix_norm` over the matrices in dims `dim`.

    `ord`: 'fro' (Frobenius), 'nuc' (sum of singular values), inf / -inf (max / min
    absolute row sum), 1 / -1 (max / min absolute column sum), 2 / -2 (largest /
    smallest singular value).

    >>> em.linalg.matrix_norm(W, ord=2)     # spectral norm
    """
    a = as_tensor(A)
    a = to_float(a if dtype is None else a.to(dtype))
    if ord not in _MATRIX_ORDS:
        raise a.builder.error(
            UnsupportedOpError(
                f"linalg.matrix_norm: ord must be one of 'fro', 'nuc', inf, -inf, 1, -1, 2, "
                f"-2, got {ord!r}"
            )
        )
    if a.ndim < 2:
        raise a.builder.error(
            ShapeError(
                f"linalg.matrix_norm: expects at least 2 dims, got shape {a.shape}; "
                "fix: use em.linalg.vector_norm for vectors"
            )
        )
    rows, cols = _plane("matrix_norm", a, dim)
    if ord == "fro":
        return _norm_reduction(a, 2.0, (rows, cols), keepdim)
    if ord in ("nuc", 2, -2):
        matrices = movedim(a, (rows, cols), (-2, -1))
        values = svdvals(matrix_input("matrix_norm", matrices))
        if ord == "nuc":
            out = values.sum(-1)
        else:
            out = values.amax(-1) if ord == 2 else values.amin(-1)
        if keepdim:
            for d in sorted((rows, cols)):
                out = out.unsqueeze(d)
        return out
    # inf: the largest row sum (sum over columns, then max over rows); 1: the transpose
    summed, reduced = (cols, rows) if ord in (math.inf, -math.inf) else (rows, cols)
    sums = a.abs().sum(summed, keepdim=True)
    out = sums.amax(reduced, keepdim=True) if ord > 0 else sums.amin(reduced, keepdim=True)
    return out if keepdim else _drop(out, (rows, cols))


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """`torch.linalg.norm`: a vector norm for one `dim` (or a 1-D input), a matrix norm
    for a pair of dims (or a 2-D input); with `ord=None` and no `dim`, the 2-norm of
    all elements.

    >>> em.linalg.norm(x, dim=-1)          # per-row Euclidean length
    """
    a = as_tensor(A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1:
            return vector_norm(a, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(a, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise a.builder.error(
            ShapeError(f"linalg.norm: dim must be one dim or a pair of dims, got {dim!r}")
        )
    if ord is None:
        return vector_norm(a, 2, None, keepdim, dtype=dtype)
    if a.ndim == 1:
        return vector_norm(a, ord, None, keepdim, dtype=dtype)
    if a.ndim == 2:
        return matrix_norm(a, ord, (-2, -1), keepdim, dtype=dtype)
    raise a.builder.error(
        ShapeError(
            f"linalg.norm: ord={ord!r} without dim needs a 1-D or 2-D input, got shape "
            f"{a.shape}; fix: pass dim= (one dim for vector norms, two for matrix norms)"
        )
    )
