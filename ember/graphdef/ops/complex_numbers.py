"""Complex numbers: building them from real tensors, taking them apart, conjugates.

What rotary position embeddings written against `torch.polar` / `view_as_complex` need
(Meta's LLaMA): a complex tensor is `complex64` (`complex128` with float64 parts), made
from float tensors and turned back into them; arithmetic on it is the ordinary binary
ops, whose operands the tracer promotes to complex. Gradients flow through to the real
tensors it came from.
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef import dtypes
from ember.graphdef.ops.common import broadcast_shapes, require_float, same_dtype
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _require_complex(op: str, t: TensorType) -> None:
    if not dtypes.is_complex(t.dtype):
        raise DTypeError(
            f"{op}: expects a complex tensor, got {t.dtype} with shape {t.shape}; fix: "
            "make one with view_as_complex, polar or complex"
        )


def _view_as_complex(types, **attrs):
    (t,) = types
    require_float("view_as_complex", t)
    if t.dtype not in ("float32", "float64") or not t.shape or t.shape[-1] != 2:
        raise ShapeError(
            f"view_as_complex: expects a float32/float64 tensor whose last dimension is 2 "
            f"(real, imaginary), got {t.dtype} with shape {t.shape}; fix: "
            "x.float().reshape(*x.shape[:-1], -1, 2)"
        )
    return [TensorType(t.shape[:-1], dtypes.complex_of(t.dtype))]


def _view_as_real(types, **attrs):
    (t,) = types
    _require_complex("view_as_real", t)
    return [TensorType((*t.shape, 2), dtypes.real_part(t.dtype))]


def _from_parts(op: str):
    """`complex(real, imag)` and `polar(abs, angle)`: two float tensors of one dtype."""

    def infer(types, **attrs):
        dtype = same_dtype(op, types)
        if dtype not in ("float32", "float64"):
            raise DTypeError(
                f"{op}: expects float32 or float64 tensors, got {dtype} with shapes "
                f"{types[0].shape} and {types[1].shape}; fix: cast with .float()"
            )
        shape = broadcast_shapes(types[0].shape, types[1].shape)
        return [TensorType(shape, dtypes.complex_of(dtype))]

    return infer


def _part(op: str):
    """`real`, `imag`: the float parts of a complex tensor."""

    def infer(types, **attrs):
        _require_complex(op, types[0])
        return [TensorType(types[0].shape, dtypes.real_part(types[0].dtype))]

    return infer


def _angle(types, **attrs):
    (t,) = types
    if t.dtype == "bool" or dtypes.is_integer(t.dtype):
        raise DTypeError(f"angle: expects a float or complex tensor, got {t.dtype}; fix: .float()")
    return [TensorType(t.shape, dtypes.real_part(t.dtype))]


def _conj(types, **attrs):
    _require_complex("conj", types[0])
    return [types[0]]


register_op("view_as_complex", _view_as_complex)
register_op("view_as_real", _view_as_real)
register_op("complex", _from_parts("complex"), num_inputs=2)
register_op("polar", _from_parts("polar"), num_inputs=2)
register_op("real", _part("real"))
register_op("imag", _part("imag"))
register_op("angle", _angle)
register_op("conj", _conj)
