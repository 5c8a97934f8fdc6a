"""`F.max_pool*`, `F.avg_pool*`, `F.adaptive_avg_pool*`, `F.adaptive_max_pool*`.

Inputs are (C, *spatial) or (N, C, *spatial). Max-pool indices are int32 (ember's
integer default) flat positions within each input plane, as in PyTorch.
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, emit
from ember.nn.functional._spatial import check_rank, ntuple

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]


def _window_args(x, d: int, op: str, kernel_size, stride, padding):
    kernel = ntuple(x, kernel_size, d, "kernel_size", op)
    # stride=None (or an empty list, as PyTorch modules pass it) means stride = kernel_size
    stride = kernel if stride is None or stride in ((), []) else ntuple(x, stride, d, "stride", op)
    return kernel, stride, ntuple(x, padding, d, "padding", op)


def _max_pool(d: int, with_indices: bool = False):
    op = f"max_pool{d}d"

    def max_pool(
        input,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        x = as_tensor(input)
        kernel, stride, padding = _window_args(x, d, op, kernel_size, stride, padding)
        return emit(
            "max_pool",
            [x],
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            dilation=ntuple(x, dilation, d, "dilation", op),
            ceil_mode=bool(ceil_mode),
            return_indices=bool(return_indices or with_indices),
        )

    max_pool.__name__ = max_pool.__qualname__ = op + ("_with_indices" if with_indices else "")
    max_pool.__doc__ = (
        f"{d}-D max pooling (padding counts as -inf); with return_indices also "
        "int32 flat per-plane indices of the maxima."
    )
    return max_pool


def _avg_pool(d: int):
    op = f"avg_pool{d}d"

    def avg_pool(
        input,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> Tensor:
        x = as_tensor(input)
        kernel, stride, padding = _window_args(x, d, op, kernel_size, stride, padding)
        return emit(
            "avg_pool",
            [x],
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            ceil_mode=bool(ceil_mode),
            count_include_pad=bool(count_include_pad),
            divisor_override=None if divisor_override is None else int(divisor_override),
        )

    avg_pool.__name__ = avg_pool.__qualname__ = op
    avg_pool.__doc__ = (
        f"{d}-D average pooling; count_include_pad counts zero padding in the "
        "divisor, divisor_override replaces it."
    )
    return avg_pool


_avg_pool1d = _avg_pool(1)


def avg_pool1d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling (PyTorch's avg_pool1d has no divisor_override)."""
    return _avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def _output_size(x, d: int, output_size, op: str) -> tuple[int, ...]:
    check_rank(x, d, op, "(N, C, *spatial)")
    sizes = output_size if isinstance(output_size, (list, tuple)) else (output_size,) * d
    if len(sizes) == 1:
        sizes = tuple(sizes) * d
    if len(sizes) != d:
        raise x.builder.error(
            ShapeError(
                f"{op}: output_size must be an int or a tuple of {d} ints (None keeps the input "
                f"size), got {output_size!r}"
            )
        )
    # None keeps that dim's input size
    return tuple(int(x.shape[x.ndim - d + i] if s is None else s) for i, s in enumerate(sizes))


def _adaptive_avg_pool(d: int):
    op = f"adaptive_avg_pool{d}d"

    def adaptive_avg_pool(input, output_size) -> Tensor:
        x = as_tensor(input)
        return emit("adaptive_avg_pool", [x], output_size=_output_size(x, d, output_size, op))

    adaptive_avg_pool.__name__ = adaptive_avg_pool.__qualname__ = op
    adaptive_avg_pool.__doc__ = (
        f"{d}-D adaptive average pooling to output_size (an int, or a "
        "tuple where None keeps the input size)."
    )
    return adaptive_avg_pool


def _adaptive_max_pool(d: int):
    op = f"adaptive_max_pool{d}d"

    def adaptive_max_pool(
        input, output_size, return_indices: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        x = as_tensor(input)
        return emit(
            "adaptive_max_pool",
            [x],
            output_size=_output_size(x, d, output_size, op),
            return_indices=bool(return_indices),
        )

    adaptive_max_pool.__name__ = adaptive_max_pool.__qualname__ = op
    adaptive_max_pool.__doc__ = (
        f"{d}-D adaptive max pooling to output_size; with "
        "return_indices also int32 flat per-plane indices."
    )
    return adaptive_max_pool


max_pool1d, max_pool2d, max_pool3d = _max_pool(1), _max_pool(2), _max_pool(3)
max_pool1d_with_indices, max_pool2d_with_indices, max_pool3d_with_indices = (
    _max_pool(1, True),
    _max_pool(2, True),
    _max_pool(3, True),
)
avg_pool2d, avg_pool3d = _avg_pool(2), _avg_pool(3)
adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d = (
    _adaptive_avg_pool(1),
    _adaptive_avg_pool(2),
    _adaptive_avg_pool(3),
)
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = (
    _adaptive_max_pool(1),
    _adaptive_max_pool(2),
    _adaptive_max_pool(3),
)
