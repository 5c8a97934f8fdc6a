"""Linear algebra: matmul (PyTorch's batched broadcasting), linear, einsum."""

from __future__ import annotations

import re

from ember.errors import ShapeError
from ember.graphdef.ops.common import broadcast_shapes, same_dtype
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def matmul_shape(a: tuple, b: tuple) -> tuple:
    if len(a) == 0 or len(b) == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dim, got {a} and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: shapes {a} and {b} do not fit: the last dim of the first ({a2[-1]}) must "
            f"equal the second-to-last dim of the second ({b2[-2]})"
        )
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _matmul(types):
    a, b = types
    return [TensorType(matmul_shape(a.shape, b.shape), same_dtype("matmul", types))]


def _linear(types):
    x, w = types[0], types[1]
    if w.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ShapeError(
            f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} features in "
            f"its last dim, but the weight {w.shape} expects in_features={w.shape[1]}; fix: "
            f"give inputs of shape (..., {w.shape[1]}) or change in_features"
        )
    if len(types) == 3 and types[2].shape != (w.shape[0],):
        raise ShapeError(f"linear: bias shape {types[2].shape} should be ({w.shape[0]},)")
    return [TensorType(x.shape[:-1] + (w.shape[0],), same_dtype("linear", types))]


_EINSUM = re.compile(r"^[a-zA-Z,]*->[a-zA-Z]*$")


def _einsum(types, equation):
    eq = equation.replace(" ", "")
    if not _EINSUM.match(eq):
        raise ShapeError(
            f"einsum: equation {equation!r} must be explicit ('ij,jk->ik'; "
            "the tracer expands implicit and '...' forms)"
        )
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != len(types):
        raise ShapeError(f"einsum: {equation!r} names {len(terms)} operands, got {len(types)}")
    sizes: dict[str, int] = {}
    for term, t in zip(terms, types, strict=True):
        if len(term) != t.ndim:
            raise ShapeError(
                f"einsum: term {term!r} has {len(term)} letters but operand is {t.shape}"
            )
        for letter, size in zip(term, t.shape, strict=True):
            if sizes.setdefault(letter, size) != size and size != 1 and sizes[letter] != 1:
                raise ShapeError(f"einsum: index {letter!r} has sizes {sizes[letter]} and {size}")
            sizes[letter] = max(sizes[letter], size)
    return [TensorType(tuple(sizes[c] for c in out), same_dtype("einsum", types))]


register_op("matmul", _matmul, num_inputs=2)
register_op("linear", _linear, num_inputs=(2, 3), doc="x @ w.T (+ b), weight (out, in)")
register_op("einsum", _einsum, attrs={"equation": "str"}, num_inputs=(1, None))
