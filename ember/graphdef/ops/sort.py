"""Sorting: `sort` (values and indices along a dim) and `topk`."""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import ShapeError
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _sort(types: Sequence[TensorType], *, dim: int, descending: bool, stable: bool):
    (x,) = types
    normalize_dim(dim, x.ndim)
    return [x, TensorType(x.shape, dtypes.DEFAULT_INT)]


def _topk(types: Sequence[TensorType], *, k: int, dim: int, largest: bool, sorted: bool):
    (x,) = types
    d = normalize_dim(dim, x.ndim)
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise ShapeError(f"topk: k={k} is out of range for dimension {dim} of size {size}")
    shape = x.shape[:d] + (k,) + x.shape[d + 1 :] if x.ndim else ()
    return [TensorType(shape, x.dtype), TensorType(shape, dtypes.DEFAULT_INT)]


register_op(
    "sort",
    _sort,
    attrs={"dim": "int", "descending": "bool", "stable": "bool"},
    doc="sorted values and their indices along dim",
)
register_op(
    "topk",
    _topk,
    attrs={"k": "int", "dim": "int", "largest": "bool", "sorted": "bool"},
    doc="the k largest (or smallest) values along dim and their indices",
)
