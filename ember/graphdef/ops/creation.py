"""Ops with no tensor inputs (constants, iota) and the state-writing op."""

from __future__ import annotations

from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _constant(types, value, shape, dtype):
    return [TensorType(shape, dtype)]


def _iota(types, start, step, size, dtype):
    return [TensorType((size,), dtype)]


def _identity(types, **attrs):
    return [types[0]]


register_op(
    "constant",
    _constant,
    attrs={"value": "any", "shape": "ints", "dtype": "dtype"},
    num_inputs=0,
    doc="a scalar broadcast to `shape`, or a nested tuple literal",
)
register_op(
    "iota",
    _iota,
    attrs={"start": "float", "step": "float", "size": "int", "dtype": "dtype"},
    num_inputs=0,
    differentiable=False,
    doc="start + step * arange(size)",
)
register_op(
    "buffer_write",
    _identity,
    attrs={"name": "str"},
    doc="forward assigned this value to buffer `name`; removed by functionalize_buffers",
)
