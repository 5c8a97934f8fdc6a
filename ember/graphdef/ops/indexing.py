"""Indexing ops with PyTorch semantics: gather, index_select and scatter-reduce.

Indices are checked statically for dtype and shape only; at run time an
out-of-range index is clamped into range (XLA has no exceptions).
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef.dtypes import INTS
from ember.graphdef.ops.common import normalize_dim
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

SCATTER_REDUCES = ("none", "sum", "prod", "mean", "amax", "amin")


def _index_check(op: str, index: TensorType) -> None:
    if index.dtype not in INTS:
        raise DTypeError(
            f"{op}: index must be an integer tensor, got {index.dtype} with shape "
            f"{index.shape}; fix: cast with .long()"
        )


def _fits(op: str, index: TensorType, x: TensorType, dim: int, what: str) -> None:
    """PyTorch's rule: index.size(d) <= x.size(d) for every d except `dim`."""
    if index.ndim != x.ndim:
        raise ShapeError(
            f"{op}: index {index.shape} and {what} {x.shape} must have the same "
            "number of dimensions"
        )
    for d, (i, s) in enumerate(zip(index.shape, x.shape, strict=True)):
        if d != dim and i > s:
            raise ShapeError(
                f"{op}: index {index.shape} is larger than {what} {x.shape} in dim "
                f"{d} ({i} > {s}); fix: slice the index or expand the {what}"
            )


def _gather(types, dim):
    x, index = types
    _index_check("gather", index)
    d = normalize_dim(dim, max(x.ndim, 1))
    if x.ndim:
        _fits("gather", index, x, d, "input")
        if x.shape[d] == 0 and index.size:
            raise ShapeError(
                f"gather: cannot take indices from dim {d} of size 0 (input {x.shape})"
            )
    return [TensorType(index.shape, x.dtype)]


def _index_select(types, dim):
    x, index = types
    _index_check("index_select", index)
    if index.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {index.shape}")
    d = normalize_dim(dim, max(x.ndim, 1))
    if x.ndim == 0:
        return [TensorType(index.shape, x.dtype)]
    if x.shape[d] == 0 and index.size:
        raise ShapeError(f"index_select: cannot select from dim {d} of size 0 (input {x.shape})")
    n = index.shape if index.ndim else (1,)
    return [TensorType(x.shape[:d] + n + x.shape[d + 1 :], x.dtype)]


def _scatter(types, dim, reduce, include_self):
    x, index, src = types
    _index_check("scatter", index)
    if reduce not in SCATTER_REDUCES:
        raise ShapeError(f"scatter: reduce must be one of {SCATTER_REDUCES[1:]}, got {reduce!r}")
    d = normalize_dim(dim, max(x.ndim, 1))
    if src.dtype != x.dtype:
        raise DTypeError(
            f"scatter: src dtype {src.dtype} differs from input dtype {x.dtype}; "
            "fix: cast src with .to(input.dtype)"
        )
    if x.ndim:
        _fits("scatter", index, x, d, "input")
    if src.ndim:
        _fits("scatter", index, src, -1, "src")
    return [x]


register_op(
    "take_along_dim",
    _gather,
    attrs={"dim": "int"},
    num_inputs=2,
    doc="torch.gather: out[i][j] = x[index[i][j]][j] (dim 0); out has index's shape",
)
register_op("index_select", _index_select, attrs={"dim": "int"}, num_inputs=2)
register_op(
    "scatter",
    _scatter,
    attrs={"dim": "int", "reduce": "str", "include_self": "bool"},
    num_inputs=3,
    doc="torch.scatter / scatter_reduce: reduce src into x at index along dim",
)
