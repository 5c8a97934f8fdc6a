"""`F.conv1d/2d/3d` and `F.conv_transpose1d/2d/3d` (PyTorch arguments and layouts)."""

from __future__ import annotations

from typing import Any

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import active_builder, as_tensor, emit, promote_pair
from ember.nn.functional._spatial import add_batch, drop_batch, ntuple

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _operands(input, weight, bias):
    builder = active_builder(input, weight, bias)
    x, w = promote_pair(input, weight)
    b = None if bias is None else as_tensor(bias, builder).to(x.dtype)
    return x, w, b


def conv_padding(
    x, padding: Any, kernel: tuple, stride: tuple, dilation: tuple, op: str
) -> tuple[int, ...]:
    """Resolve int/tuple/'valid'/'same' padding to (lo, hi) pairs per spatial dim."""
    d = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * d)
        if padding != "same":
            raise x.builder.error(
                ShapeError(
                    f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"
                )
            )
        if any(s != 1 for s in stride):
            raise x.builder.error(
                ShapeError(
                    f"{op}: padding='same' is not supported for strided convolutions "
                    f"(stride={stride})"
                )
            )
        pads = []
        for k, dil in zip(kernel, dilation, strict=True):
            total = dil * (k - 1)
            pads += [total // 2, total - total // 2]  # PyTorch puts the odd extra on the right
        return tuple(pads)
    return tuple(p for v in ntuple(x, padding, d, "padding", op) for p in (v, v))


def _conv(d: int):
    op = f"conv{d}d"

    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
        x, w, b = _operands(input, weight, bias)
        x, unbatched = add_batch(x, d, op, _LAYOUT[d])
        stride_t = ntuple(x, stride, d, "stride", op)
        dilation_t = ntuple(x, dilation, d, "dilation", op)
        kernel = w.shape[2:] if w.ndim == d + 2 else (1,) * d  # a bad weight fails in `conv`
        pads = conv_padding(x, padding, kernel, stride_t, dilation_t, op)
        y = emit(
            "conv",
            [x, w] + ([] if b is None else [b]),
            stride=stride_t,
            padding=pads,
            dilation=dilation_t,
            groups=int(groups),
        )
        return drop_batch(y, unbatched)

    conv.__name__ = conv.__qualname__ = op
    conv.__doc__ = (
        f"{d}-D cross-correlation of {_LAYOUT[d]} with weight (out, in/groups, *k); "
        "padding is an int, a tuple, 'valid' or 'same'."
    )
    return conv


def _conv_transpose(d: int):
    op = f"conv_transpose{d}d"

    def conv_transpose(
        input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1
    ) -> Tensor:
        x, w, b = _operands(input, weight, bias)
        x, unbatched = add_batch(x, d, op, _LAYOUT[d])
        y = emit(
            "conv_transpose",
            [x, w] + ([] if b is None else [b]),
            stride=ntuple(x, stride, d, "stride", op),
            padding=ntuple(x, padding, d, "padding", op),
            output_padding=ntuple(x, output_padding, d, "output_padding", op),
            dilation=ntuple(x, dilation, d, "dilation", op),
            groups=int(groups),
        )
        return drop_batch(y, unbatched)

    conv_transpose.__name__ = conv_transpose.__qualname__ = op
    conv_transpose.__doc__ = (
        f"{d}-D transposed convolution of {_LAYOUT[d]} with weight "
        f"(in, out/groups, *k): the gradient of conv{d}d w.r.t. its input."
    )
    return conv_transpose


conv1d, conv2d, conv3d = _conv(1), _conv(2), _conv(3)
conv_transpose1d, conv_transpose2d, conv_transpose3d = (
    _conv_transpose(1),
    _conv_transpose(2),
    _conv_transpose(3),
)
