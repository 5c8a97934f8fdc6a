"""Shared plumbing for functional ops: operand conversion, promotion, emission."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.errors import TraceError
from ember.frontend import stored_tensors
from ember.frontend.lazy import RECORDER, LazyValue, as_lazy
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import GraphBuilder, current_builder
from ember.graphdef import dtypes
from ember.nn.parameter import Parameter

_MAX_LITERAL = 4096  # larger arrays belong in a registered buffer, not in the IR text


def active_builder(*args: Any) -> GraphBuilder:
    """Where an op is recorded: the innermost active trace, else the lazy graph."""
    builder = current_builder()
    return builder if builder is not None else RECORDER


# numpy's 64-bit defaults in a literal array are ember's default precision
_LITERAL_PRECISION = {
    "float64": dtypes.DEFAULT_FLOAT,
    "int64": dtypes.DEFAULT_INT,
    "complex128": "complex64",
}


def is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, complex)) or (isinstance(x, np.generic) and x.ndim == 0)


def constant(builder: GraphBuilder, value: Any, dtype: str, shape: tuple = ()) -> Tensor:
    if isinstance(value, np.generic):
        value = value.item()
    if dtypes.is_complex(dtype):  # attrs stay JSON: a complex constant is built from parts
        value, part = complex(value), dtypes.real_part(dtype)
        parts = [constant(builder, v, part, shape) for v in (value.real, value.imag)]
        return builder.emit("complex", parts, {})[0]
    if dtypes.is_floating(dtype):
        value = float(value)
    elif dtype == "bool":
        value = bool(value)
    else:
        value = int(value)
    (out,) = builder.emit("constant", [], {"value": value, "shape": tuple(shape), "dtype": dtype})
    return out


def as_tensor(x: Any, builder: GraphBuilder | None = None, dtype: str | None = None) -> Tensor:
    """Turn an operand (Tensor, Parameter, scalar, array) into a tensor of `builder`.

    Inside a trace, a lazy tensor (made outside it) is materialized and embedded as a
    constant; outside, arrays (numpy, JAX, torch) become concrete lazy leaves.
    """
    builder = builder or active_builder()
    if isinstance(x, Parameter):
        return builder.param_tensor(x)
    if isinstance(x, Tensor):
        if builder is RECORDER or not isinstance(x.value, LazyValue):
            return x
        if RECORDER in getattr(builder, "enclosing", ()):  # a body traced over lazy tensors
            return builder.capture(x)
        problem = stored_tensors.note_embedded(x)
        if problem is not None:
            raise builder.error(TraceError(problem))
        arr = np.asarray(x._array())
        return as_tensor(arr, builder, dtype or x.dtype)
    if is_scalar(x):
        return constant(builder, x, dtype or dtypes.scalar_dtype(x))
    if builder is RECORDER:
        if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
            x = x.detach().cpu().numpy()
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            x = np.asarray(x)
        lazy = as_lazy(x)
        return lazy if dtype is None or lazy.dtype == dtype else cast(lazy, dtype)
    if isinstance(x, (list, tuple, np.ndarray)) or (hasattr(x, "shape") and hasattr(x, "dtype")):
        arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
        if arr.size > _MAX_LITERAL:
            raise builder.error(
                TraceError(
                    f"a numpy array of shape {arr.shape} is used in forward; arrays larger "
                    f"than {_MAX_LITERAL} elements are not embedded in the IR; fix: "
                    "self.register_buffer('name', array) in __init__ and use self.name"
                )
            )
        dt = dtype or dtypes.canonical(arr.dtype)
        dt = _LITERAL_PRECISION.get(dt, dt)
        if dtypes.is_complex(dt):  # from its parts, as `constant` does
            part = dtypes.real_part(dt)
            parts = [as_tensor(np.asarray(p), builder, part) for p in (arr.real, arr.imag)]
            return builder.emit("complex", parts, {})[0]
        value = tuple(arr.astype(dt).ravel().tolist())
        (out,) = builder.emit("constant", [], {"value": value, "shape": arr.shape, "dtype": dt})
        return out
    raise builder.error(TraceError(f"cannot use a {type(x).__name__} as a tensor operand"))


def cast(x: Tensor, dtype: str) -> Tensor:
    dtype = dtypes.requested(dtype)
    if x.dtype == dtype:
        return x
    builder = active_builder()
    (out,) = builder.emit("convert", [as_tensor(x, builder)], {"dtype": dtype})
    return out


def emit(op: str, inputs: list, **attrs: Any):
    """Emit `op`; one result comes back as a Tensor, several as a tuple."""
    builder = active_builder(*inputs)
    outs = builder.emit(op, [as_tensor(t, builder) for t in inputs], attrs)
    return outs[0] if len(outs) == 1 else tuple(outs)


def promote_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """PyTorch promotion for binary ops; Python scalars and 0-d tensors are weaker."""
    a, b = promote_all(a, b)
    return a, b


def promote_all(*operands: Any) -> list[Tensor]:
    """Cast all operands to PyTorch's `result_type` of them (see `dtypes.result_type`)."""
    builder = active_builder(*operands)
    keyed = []
    for x in operands:
        if isinstance(x, Parameter):
            x = builder.param_tensor(x)
        if not (isinstance(x, Tensor) or is_scalar(x)):
            x = as_tensor(x, builder)
        keyed.append(x)
    dt = dtypes.result_type(
        *(
            (x.dtype, 2 if x.ndim else 1) if isinstance(x, Tensor) else (dtypes.scalar_dtype(x), 0)
            for x in keyed
        )
    )
    return [cast(x, dt) if isinstance(x, Tensor) else constant(builder, x, dt) for x in keyed]


def to_float(x: Tensor) -> Tensor:
    """Integer/bool inputs of float-valued ops are computed in the default float dtype."""
    if dtypes.is_floating(x.dtype) or dtypes.is_complex(x.dtype):  # complex: the op decides
        return x
    return cast(x, dtypes.DEFAULT_FLOAT)


def dims_arg(dim) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if isinstance(dim, int):
        return (dim,)
    return tuple(int(d) for d in dim)


def in_place(input, out: Tensor, inplace: bool) -> Tensor:
    """`out`, or, for `inplace=True` (`nn.ReLU(inplace=True)`, `F.dropout(x, inplace=True)`),
    `input` rebound to `out`: PyTorch overwrites the input, and code may read it after."""
    if inplace and isinstance(input, Tensor) and input is not out:
        return input._assign(out)
    return out
