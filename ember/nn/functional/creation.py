"""Tensor creation inside `forward`: zeros, ones, full, arange, linspace, eye, *_like, new_*.

PyTorch's signatures and dtype inference, except that integer results are
int32 where PyTorch uses int64 (ember's default integer). `device`, `layout`
and `pin_memory` are accepted and ignored; `requires_grad=True` makes a lazy
leaf that autograd differentiates (outside a trace). Outside a trace these
build lazy tensors; `em.tensor` / `em.as_tensor` / `em.from_numpy` of host
data are concrete at once. Random creation lives in `random.py`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.errors import ShapeError
from ember.frontend.lazy import RECORDER, leaf
from ember.frontend.tensor import Tensor, _numpy_dtype, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional._core import active_builder, cast, constant, is_scalar
from ember.nn.functional._core import as_tensor as _operand

__all__ = [
    "as_tensor",
    "from_numpy",
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


def finish(t: Tensor, kwargs: dict) -> Tensor:
    """Apply `requires_grad=True` (a lazy leaf outside a trace; ignored inside one)."""
    if kwargs.get("requires_grad") and t._lazy():
        if t.value.data is None:  # a computed creation becomes a leaf once it is known
            t = leaf(t._array())
        t.requires_grad_(True)
    return t


def _number(v):
    """A Python number (numpy scalars too); a traced tensor raises a TraceError here."""
    return v.item() if hasattr(v, "item") else v


def _dtype(dtype, default: str) -> str:
    return default if dtype is None else dtypes.requested(dtype)


def _filled(shape: tuple, value: Any, dtype: str, builder=None) -> Tensor:
    return constant(active_builder(), value, dtype, shape)


def zeros(*size, dtype=None, **kwargs) -> Tensor:
    """`torch.zeros(*size, dtype=None)` inside a traced forward (float32 by default)."""
    _options("zeros", kwargs)
    return finish(_filled(_size(size), 0, _dtype(dtype, dtypes.DEFAULT_FLOAT)), kwargs)


def ones(*size, dtype=None, **kwargs) -> Tensor:
    _options("ones", kwargs)
    return finish(_filled(_size(size), 1, _dtype(dtype, dtypes.DEFAULT_FLOAT)), kwargs)


def empty(*size, dtype=None, **kwargs) -> Tensor:
    """Like `zeros`: an XLA program has no uninitialized memory."""
    _options("empty", kwargs)
    return finish(_filled(_size(size), 0, _dtype(dtype, dtypes.DEFAULT_FLOAT)), kwargs)


def full(size, fill_value, *, dtype=None, **kwargs) -> Tensor:
    """`torch.full`: the dtype follows fill_value (bool, int -> int32, float -> float32)."""
    _options("full", kwargs)
    if isinstance(fill_value, Tensor):  # a 0-d tensor
        return fill_value.to(_dtype(dtype, fill_value.dtype)).reshape(()).expand(*_size((size,)))
    dt = _dtype(dtype, dtypes.scalar_dtype(fill_value))
    if active_builder() is RECORDER:  # the value is data (see `scalar_leaf`)
        return finish(scalar_leaf(fill_value, dt).expand(*_size((size,))), kwargs)
    return finish(_filled(_size((size,)), fill_value, dt), kwargs)


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
    return finish(out, kwargs)


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
    return finish(out, kwargs)


def eye(n: int, m: int | None = None, *, dtype=None, **kwargs) -> Tensor:
    """`torch.eye(n, m=None)`: ones on the diagonal (float32 by default)."""
    _options("eye", kwargs)
    m = n if m is None else m
    rows = arange(n).reshape(n, 1)
    cols = arange(m).reshape(1, m)
    return finish((rows == cols).to(_dtype(dtype, dtypes.DEFAULT_FLOAT)), kwargs)


def tensor(data, *, dtype=None, **kwargs) -> Tensor:
    """`torch.tensor(data)`: a copy of data (ints -> int32, floats -> float32 by default).

    >>> em.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    """
    _options("tensor", kwargs)
    if isinstance(data, Tensor):
        out = data.detach() if data._lazy() else data
        out = out if dtype is None else out.to(dtype)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
            from ember.nn.functional.shape import stack

            return finish(stack([tensor(d, dtype=dtype) for d in data]), kwargs)
        dt = None if dtype is None else dtypes.canonical(dtype)
        builder = active_builder()
        if builder is RECORDER and is_scalar(data):
            out = scalar_leaf(data, dt or dtypes.scalar_dtype(data))
        else:
            out = _operand(data, builder, dt)
    return finish(out, kwargs)


def scalar_leaf(value, dtype: str) -> Tensor:
    """Outside a trace a Python number made into a tensor is data (`em.tensor(v)`,
    `em.full(shape, v)`, `t.fill_(v)`): a sampling loop's `em.tensor(i / n_T)` then keeps
    one program instead of compiling one per value (as a constant of the IR would)."""
    return leaf(np.asarray(value, dtype=_numpy_dtype(dtype)))


def as_tensor(data, dtype=None, device=None) -> Tensor:  # noqa: F811 (torch's public name)
    """`torch.as_tensor(data, dtype=None)`: like `tensor`, sharing nothing (arrays are
    immutable in ember)."""
    return tensor(data, dtype=dtype)


def from_numpy(array) -> Tensor:
    """`torch.from_numpy(array)`: a tensor with the array's dtype (float64 stays float64 only
    when x64 is enabled; see the porting guide)."""
    return tensor(array)


def _like(name: str, value):
    def fn(input, *, dtype=None, **kwargs) -> Tensor:
        _options(name, kwargs)
        x = _operand(input)
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
    x = _operand(input)
    return _filled(x.shape, fill_value, _dtype(dtype, x.dtype), x.builder)


@tensor_method()
def new(self, *args, dtype=None, **kwargs) -> Tensor:
    """`Tensor.new(*size)` (zeros of self's dtype) or `Tensor.new(data)` (legacy PyTorch)."""
    if len(args) == 1 and not isinstance(args[0], int) and not isinstance(args[0], tuple):
        return new_tensor(self, args[0], dtype=dtype)
    return _filled(_size(args), 0, _dtype(dtype, self.dtype))


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
    return cast(_operand(data, active_builder(), dt), dt)
