"""Tensor creation inside `forward`: zeros, ones, full, arange, linspace, eye, *_like, new_*.

PyTorch's signatures and dtype inference, except that integer results are
int32 where PyTorch uses int64 (ember's default integer). `device`,
`requires_grad`, `layout` and `pin_memory` are accepted and ignored. Random
creation (`rand_like`, ...) is not offered: use dropout-style keyed ops.
"""

from __future__ import annotations

import math
from typing import Any

from .. import dtypes
from ..errors import ShapeError
from ..tensor import Tensor, tensor_method
from ._core import active_builder, as_tensor, cast, constant

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "tensor",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
]

_IGNORED = ("device", "requires_grad", "layout", "pin_memory", "memory_format")


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise active_builder().error(ShapeError(f"negative dimension in size {shape}"))
    return shape


def _options(fn: str, kwargs: dict) -> None:
    unknown = set(kwargs) - set(_IGNORED)
    if unknown:
        raise TypeError(f"{fn}() got unexpected keyword arguments {sorted(unknown)}")


def _number(v):
    """A Python number (numpy scalars too); a traced tensor raises a TraceError here."""
    return v.item() if hasattr(v, "item") else v


def _dtype(dtype, default: str) -> str:
    return default if dtype is None else dtypes.canonical(dtype)


def _filled(shape: tuple, value: Any, dtype: str, builder=None) -> Tensor:
    return constant(builder or active_builder(), value, dtype, shape)


def zeros(*size, dtype=None, **kwargs) -> Tensor:
    """`torch.zeros(*size, dtype=None)` inside a traced forward (float32 by default)."""
    _options("zeros", kwargs)
    return _filled(_size(size), 0, _dtype(dtype, dtypes.DEFAULT_FLOAT))


def ones(*size, dtype=None, **kwargs) -> Tensor:
    _options("ones", kwargs)
    return _filled(_size(size), 1, _dtype(dtype, dtypes.DEFAULT_FLOAT))


def empty(*size, dtype=None, **kwargs) -> Tensor:
    """Like `zeros`: an XLA program has no uninitialized memory."""
    _options("empty", kwargs)
    return _filled(_size(size), 0, _dtype(dtype, dtypes.DEFAULT_FLOAT))


def full(size, fill_value, *, dtype=None, **kwargs) -> Tensor:
    """`torch.full`: the dtype follows fill_value (bool, int -> int32, float -> float32)."""
    _options("full", kwargs)
    if isinstance(fill_value, Tensor):  # a 0-d tensor
        return fill_value.to(_dtype(dtype, fill_value.dtype)).reshape(()).expand(*_size((size,)))
    return _filled(_size((size,)), fill_value, _dtype(dtype, dtypes.scalar_dtype(fill_value)))


def arange(start, end=None, step=1, *, dtype=None, **kwargs) -> Tensor:
    """`torch.arange(end)` / `arange(start, end, step=1)`; int32 unless an argument is a float."""
    _options("arange", kwargs)
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v) for v in (start, end, step))
    builder = active_builder()
    if step == 0:
        raise builder.error(ShapeError("arange: step must be nonzero"))
    if (end - start) * step < 0:
        raise builder.error(
            ShapeError(
                f"arange: the range [{start}, {end}) is inconsistent with the sign of step={step}"
            )
        )
    size = max(0, math.ceil((end - start) / step))
    floating = any(isinstance(v, float) for v in (start, end, step))
    dt = _dtype(dtype, dtypes.DEFAULT_FLOAT if floating else dtypes.DEFAULT_INT)
    (out,) = builder.emit("iota", [], {"start": start, "step": step, "size": size, "dtype": dt})
    return out


def linspace(start, end, steps: int, *, dtype=None, **kwargs) -> Tensor:
    """`torch.linspace(start, end, steps)`: float32 by default."""
    _options("linspace", kwargs)
    builder = active_builder()
    if steps < 0:
        raise builder.error(ShapeError(f"linspace: steps must be non-negative, got {steps}"))
    start, end, steps = _number(start), _number(end), int(steps)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    dt = _dtype(dtype, dtypes.DEFAULT_FLOAT)
    (out,) = builder.emit(
        "iota", [], {"start": float(start), "step": float(step), "size": int(steps), "dtype": dt}
    )
    return out


def eye(n: int, m: int | None = None, *, dtype=None, **kwargs) -> Tensor:
    """`torch.eye(n, m=None)`: ones on the diagonal (float32 by default)."""
    _options("eye", kwargs)
    m = n if m is None else m
    rows = arange(n).reshape(n, 1)
    cols = arange(m).reshape(1, m)
    return (rows == cols).to(_dtype(dtype, dtypes.DEFAULT_FLOAT))


def tensor(data, *, dtype=None, **kwargs) -> Tensor:
    """`torch.tensor(data)`: a small literal (ints -> int32, floats -> float32)."""
    _options("tensor", kwargs)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    return as_tensor(data, active_builder(), None if dtype is None else dtypes.canonical(dtype))


def _like(name: str, value):
    def fn(input, *, dtype=None, **kwargs) -> Tensor:
        _options(name, kwargs)
        x = as_tensor(input)
        return _filled(x.shape, value, _dtype(dtype, x.dtype), x.builder)

    fn.__name__ = name
    fn.__doc__ = f"`torch.{name}(input, dtype=None)`: input's shape and (by default) dtype."
    return fn


zeros_like = _like("zeros_like", 0)
ones_like = _like("ones_like", 1)
empty_like = _like("empty_like", 0)


def full_like(input, fill_value, *, dtype=None, **kwargs) -> Tensor:
    """`torch.full_like`: input's shape and (by default) dtype, filled with fill_value."""
    _options("full_like", kwargs)
    x = as_tensor(input)
    return _filled(x.shape, fill_value, _dtype(dtype, x.dtype), x.builder)


def _new(name: str, value):
    def method(self, *size, dtype=None, **kwargs) -> Tensor:
        _options(name, kwargs)
        return _filled(_size(size), value, _dtype(dtype, self.dtype), self.builder)

    method.__name__ = name
    method.__doc__ = f"`Tensor.{name}(size, dtype=None)`: self's dtype by default."
    return tensor_method(name)(method)


_new("new_zeros", 0)
_new("new_ones", 1)
_new("new_empty", 0)


@tensor_method()
def new_full(self, size, fill_value, *, dtype=None, **kwargs) -> Tensor:
    _options("new_full", kwargs)
    return _filled(_size((size,)), fill_value, _dtype(dtype, self.dtype), self.builder)


@tensor_method()
def new_tensor(self, data, *, dtype=None, **kwargs) -> Tensor:
    _options("new_tensor", kwargs)
    dt = _dtype(dtype, self.dtype)
    return cast(as_tensor(data, self.builder, dt), dt)
