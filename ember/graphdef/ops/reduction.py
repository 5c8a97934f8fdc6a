"""Reductions over `dims` with `keepdim`, arg-reductions and scans."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim, normalize_dims, require_float
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def reduced_shape(shape, dims, keepdim):
    dims = normalize_dims(dims, len(shape))
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def _check_nonempty(op, shape, dims):
    """max/min-like reductions have no identity: a reduced dim of size 0 is an error."""
    dims = normalize_dims(dims, len(shape))
    if any(shape[d] == 0 for d in dims if d < len(shape)):
        raise ShapeError(
            f"{op}: cannot reduce over a dimension of size 0 (input shape {shape}, "
            f"dims {dims}); fix: reduce over non-empty dims or mask with a fill "
            "value"
        )


def _reduce(result_dtype=None, float_only=False, name=None, complex_ok=False):
    def infer(types, dims, keepdim, **attrs):
        t = types[0]
        if name is not None:
            _check_nonempty(name, t.shape, dims)
        if float_only and not (complex_ok and dtypes.is_complex(t.dtype)):
            require_float("reduction", t)
        dtype = result_dtype or t.dtype
        if dtype == "sum_dtype":  # PyTorch sums bool/int to int64; ember to int32 (JAX default)
            dtype = "int32" if t.dtype in ("bool", "uint8", "int8", "int16", "int32") else t.dtype
        return [TensorType(reduced_shape(t.shape, dims, keepdim), dtype)]

    return infer


def _arg_reduce(types, dim, keepdim):
    t = types[0]
    _check_nonempty("argmax/argmin", t.shape, None if dim is None else (dim,))
    if dim is None:
        return [TensorType((1,) * t.ndim if keepdim else (), "int32")]
    return [TensorType(reduced_shape(t.shape, (dim,), keepdim), "int32")]


def _scan(types, dim):
    normalize_dim(dim, max(types[0].ndim, 1))
    dtype = types[0].dtype
    if dtype == "bool":
        dtype = "int32"
    return [types[0].__class__(types[0].shape, dtype)]


def _value_and_index(types, dim, keepdim):
    t = types[0]
    _check_nonempty("max/min", t.shape, (dim,))
    shape = reduced_shape(t.shape, (dim,), keepdim)
    return [TensorType(shape, t.dtype), TensorType(shape, "int32")]


def _all_any(types, dims, keepdim):
    return [TensorType(reduced_shape(types[0].shape, dims, keepdim), "bool")]


def _var(types, dims, keepdim, correction):
    t = types[0]
    if t.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise DTypeError(f"var/std: expects a floating-point tensor, got {t.dtype}")
    return [TensorType(reduced_shape(t.shape, dims, keepdim), t.dtype)]


_DIMS = {"dims": "ints?", "keepdim": "bool"}
register_op("sum", _reduce("sum_dtype"), attrs=_DIMS)
register_op("prod", _reduce("sum_dtype"), attrs=_DIMS)
register_op("mean", _reduce(float_only=True, complex_ok=True), attrs=_DIMS)
register_op("amax", _reduce(name="amax"), attrs=_DIMS)
register_op("amin", _reduce(name="amin"), attrs=_DIMS)
register_op("logsumexp", _reduce(float_only=True), attrs=_DIMS)
register_op("var", _var, attrs={**_DIMS, "correction": "float"})
register_op("std", _var, attrs={**_DIMS, "correction": "float"})
register_op("norm", _reduce(float_only=True), attrs={**_DIMS, "ord": "float"})
register_op("all", _all_any, attrs=_DIMS, differentiable=False)
register_op("any", _all_any, attrs=_DIMS, differentiable=False)
register_op("argmax", _arg_reduce, attrs={"dim": "int?", "keepdim": "bool"}, differentiable=False)
register_op("argmin", _arg_reduce, attrs={"dim": "int?", "keepdim": "bool"}, differentiable=False)
register_op("max_dim", _value_and_index, attrs={"dim": "int", "keepdim": "bool"})
register_op("min_dim", _value_and_index, attrs={"dim": "int", "keepdim": "bool"})
register_op("cumsum", _scan, attrs={"dim": "int"})
register_op("cumprod", _scan, attrs={"dim": "int"})
