"""Pooling: max_pool, avg_pool (windowed) and adaptive_avg_pool, adaptive_max_pool.

Every op pools the trailing d dims of a (C, *spatial) or (N, C, *spatial) input,
d being the length of `kernel_size` / `output_size`. Max-pool indices are int32
flat positions within each input plane (h * W + w), PyTorch's layout.
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import require_float
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

_NUMERIC = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
)


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooling output length; in ceil mode a window must start inside the input."""
    extent = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - extent + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def pool_padding(
    size: int, out: int, kernel: int, stride: int, padding: int, dilation: int
) -> tuple[int, int]:
    """(lo, hi) padding that makes exactly `out` windows; hi covers ceil-mode overhang."""
    hi = (out - 1) * stride + dilation * (kernel - 1) + 1 - size - padding
    return padding, max(hi, 0)


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """Window i of an adaptive pool covers [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-(i + 1) * size // out)) for i in range(out)]


def _check_rank(op: str, x: TensorType, d: int) -> None:
    if x.ndim not in (d + 1, d + 2):
        raise ShapeError(
            f"{op}: expected a {d + 1}-D (unbatched) or {d + 2}-D (batched) input "
            f"(N, C, *spatial) with {d} spatial dims, got shape {x.shape}"
        )
    if any(s == 0 for s in x.shape[-d - 1 :]):
        raise ShapeError(
            f"{op}: expected non-zero channel and spatial sizes (only the batch "
            f"may be empty), got shape {x.shape}"
        )


def _check_spatial(op: str, name: str, values) -> None:
    """The op's spatial rank is len(`values`); zero would pool nothing (and `min` of it fails)."""
    if not values:
        raise ShapeError(
            f"{op}: {name} is empty, so it names no spatial dim to pool; fix: give one "
            f"entry per spatial dim, e.g. {name}=(2, 2) for 2-D pooling"
        )


def _windows(op: str, x: TensorType, kernel_size, stride, padding, dilation, ceil_mode):
    d = len(kernel_size)
    if not len(stride) == len(padding) == len(dilation) == d:
        raise ShapeError(
            f"{op}: kernel_size {kernel_size}, stride {stride}, padding {padding} "
            f"and dilation {dilation} must have one entry per spatial dim"
        )
    if min(kernel_size) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ShapeError(
            f"{op}: kernel_size {kernel_size}, stride {stride} and dilation "
            f"{dilation} must be positive"
        )
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel_size, strict=True)):
        raise ShapeError(
            f"{op}: pad should be at most half of kernel size, got padding={padding} "
            f"and kernel_size={kernel_size}"
        )
    _check_rank(op, x, d)
    spatial = x.shape[-d:]
    out = tuple(
        pool_output_size(*args, ceil_mode)
        for args in zip(spatial, kernel_size, stride, padding, dilation, strict=True)
    )
    if min(out) < 1:
        raise ShapeError(
            f"{op}: input {x.shape} gives output size {out}, which is too small "
            f"(kernel_size={kernel_size}, padding={padding}, dilation={dilation}); "
            "fix: use a smaller kernel or a larger input"
        )
    return x.shape[:-d] + out


def _check_numeric(op: str, x: TensorType) -> None:
    if x.dtype not in _NUMERIC:
        raise DTypeError(f"{op}: expects a numeric tensor, got {x.dtype}; fix: cast with .float()")


def _max_pool(types, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x = types[0]
    _check_spatial("max_pool", "kernel_size", kernel_size)
    op = f"max_pool{len(kernel_size)}d"
    _check_numeric(op, x)
    shape = _windows(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    out = [TensorType(shape, x.dtype)]
    return out + [TensorType(shape, "int32")] if return_indices else out


def _avg_pool(types, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = types[0]
    _check_spatial("avg_pool", "kernel_size", kernel_size)
    op = f"avg_pool{len(kernel_size)}d"
    require_float(op, x)
    if divisor_override is not None and divisor_override == 0:
        raise ShapeError(f"{op}: divisor_override must be non-zero, got 0")
    shape = _windows(op, x, kernel_size, stride, padding, (1,) * len(kernel_size), ceil_mode)
    return [TensorType(shape, x.dtype)]


def _adaptive(op: str, x: TensorType, output_size) -> tuple[int, ...]:
    d = len(output_size)
    _check_rank(op, x, d)
    if min(output_size) < 0:
        raise ShapeError(f"{op}: output_size {output_size} must be non-negative")
    return x.shape[:-d] + tuple(output_size)


def _adaptive_avg_pool(types, output_size):
    _check_spatial("adaptive_avg_pool", "output_size", output_size)
    op = f"adaptive_avg_pool{len(output_size)}d"
    require_float(op, types[0])
    return [TensorType(_adaptive(op, types[0], output_size), types[0].dtype)]


def _adaptive_max_pool(types, output_size, return_indices):
    _check_spatial("adaptive_max_pool", "output_size", output_size)
    op = f"adaptive_max_pool{len(output_size)}d"
    require_float(op, types[0])
    shape = _adaptive(op, types[0], output_size)
    out = [TensorType(shape, types[0].dtype)]
    return out + [TensorType(shape, "int32")] if return_indices else out


_WINDOW = {"kernel_size": "ints", "stride": "ints", "padding": "ints", "ceil_mode": "bool"}

register_op(
    "max_pool",
    _max_pool,
    attrs={**_WINDOW, "dilation": "ints", "return_indices": "bool"},
    doc="max over windows of the trailing dims (padding is -inf); optional int32 indices",
)
register_op(
    "avg_pool",
    _avg_pool,
    attrs={**_WINDOW, "count_include_pad": "bool", "divisor_override": "int?"},
    doc="mean over windows of the trailing dims with PyTorch's divisor rules",
)
register_op(
    "adaptive_avg_pool",
    _adaptive_avg_pool,
    attrs={"output_size": "ints"},
    doc="mean over windows [floor(i*L/out), ceil((i+1)*L/out)) per trailing dim",
)
register_op(
    "adaptive_max_pool",
    _adaptive_max_pool,
    attrs={"output_size": "ints", "return_indices": "bool"},
    doc="max over adaptive windows; optional int32 flat per-plane indices",
)
