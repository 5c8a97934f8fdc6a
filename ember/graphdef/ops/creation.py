"""Ops with no tensor inputs (constants, iota) and the state-writing op."""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def literal_size(value) -> int:
    """How many scalars a (nested) tuple literal holds."""
    return sum(literal_size(v) for v in value) if isinstance(value, tuple) else 1


def _constant(types, value, shape, dtype):
    if any(d < 0 for d in shape):
        raise ShapeError(f"constant: shape {tuple(shape)} has a negative size; fix: sizes >= 0")
    if isinstance(value, tuple) and literal_size(value) != math.prod(shape):
        raise ShapeError(
            f"constant: a literal of {literal_size(value)} values cannot fill shape "
            f"{tuple(shape)} ({math.prod(shape)} elements); fix: give one value per element "
            "or a scalar"
        )
    return [TensorType(shape, dtype)]


def _iota(types, start, step, size, dtype):
    if size < 0:
        raise ShapeError(f"iota (arange): size {size} is negative; fix: size >= 0")
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
