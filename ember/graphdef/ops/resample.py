"""Resampling: `interpolate` (nearest, linear, cubic) and `im2col` / `col2im` (unfold / fold).

`interpolate` resizes the trailing len(size) dims of an (N, C, *spatial) input.
`scales` holds the user's scale factors (0.0 where the size was given), because
PyTorch maps output to input coordinates with 1/scale_factor when it has one.
"""

from __future__ import annotations

import math

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import require_float
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

INTERPOLATE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")


def _interpolate(types, size, mode, align_corners, scales):
    x = types[0]
    d = len(size)
    if d == 0:
        raise ShapeError(
            "interpolate: size is empty, so it names no spatial dim to resize; fix: give "
            "one output size per spatial dim of the (N, C, *spatial) input"
        )
    if mode not in INTERPOLATE_MODES:
        raise ShapeError(f"interpolate: mode {mode!r} is not one of {INTERPOLATE_MODES}")
    if mode.startswith("nearest"):
        if x.dtype == "bool":
            raise DTypeError(
                "interpolate: expects a numeric tensor, got bool; fix: cast with .float()"
            )
    else:
        require_float(f"interpolate ({mode})", x)
    if x.ndim != d + 2 or len(scales) != d:
        raise ShapeError(
            f"interpolate: a {d}-D size {size} needs a {d + 2}-D input "
            f"(N, C, *spatial) and {d} scales, got shape {x.shape} and {scales}"
        )
    if min(size) <= 0 or min(x.shape[2:]) <= 0:
        raise ShapeError(
            f"interpolate: input and output sizes should be greater than 0, but got "
            f"input {x.shape[2:]} and output {tuple(size)}"
        )
    return [TensorType(x.shape[:2] + tuple(size), x.dtype)]


def sliding_blocks(op: str, spatial, kernel_size, dilation, padding, stride) -> tuple[int, ...]:
    """Number of kernel positions per spatial dim (as in unfold/fold), at least one each."""
    if not kernel_size:
        raise ShapeError(
            f"{op}: kernel_size is empty, so it names no spatial dim; fix: give one entry "
            "per spatial dim, e.g. kernel_size=(2, 2)"
        )
    if not len(kernel_size) == len(dilation) == len(padding) == len(stride) == len(spatial):
        raise ShapeError(
            f"{op}: kernel_size, dilation, padding and stride need one entry per "
            f"spatial dim of {tuple(spatial)}"
        )
    if min(kernel_size) < 1 or min(dilation) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ShapeError(
            f"{op}: kernel_size {kernel_size}, dilation {dilation} and stride {stride} "
            f"must be positive and padding {padding} non-negative"
        )
    blocks = tuple(
        (s + 2 * p - dl * (k - 1) - 1) // st + 1
        for s, k, dl, p, st in zip(spatial, kernel_size, dilation, padding, stride, strict=True)
    )
    if min(blocks) < 1:
        raise ShapeError(
            f"{op}: spatial size {tuple(spatial)} with kernel_size={kernel_size}, "
            f"dilation={dilation}, padding={padding}, stride={stride} gives {blocks} sliding "
            "blocks, but each must be at least one; fix: a smaller kernel or more padding"
        )
    return blocks


def _im2col(types, kernel_size, dilation, padding, stride):
    x = types[0]
    if x.ndim != len(kernel_size) + 2:
        raise ShapeError(f"unfold: expected a batched (N, C, H, W) input, got shape {x.shape}")
    blocks = sliding_blocks("unfold", x.shape[2:], kernel_size, dilation, padding, stride)
    k = math.prod(kernel_size)
    return [TensorType((x.shape[0], x.shape[1] * k, math.prod(blocks)), x.dtype)]


def _col2im(types, output_size, kernel_size, dilation, padding, stride):
    x = types[0]
    if x.ndim != 3:
        raise ShapeError(
            f"fold: expected a batched (N, C * prod(kernel_size), L) input, got shape {x.shape}"
        )
    # the window checks first: they reject kernel sizes of 0, which the modulus divides by
    blocks = sliding_blocks("fold", output_size, kernel_size, dilation, padding, stride)
    k = math.prod(kernel_size)
    if x.shape[1] % k:
        raise ShapeError(
            f"fold: expected size of input's dimension 1 ({x.shape[1]}) to be "
            f"divisible by the product of kernel_size {kernel_size} ({k})"
        )
    if x.shape[2] != math.prod(blocks):
        raise ShapeError(
            f"fold: given output_size={output_size}, kernel_size={kernel_size}, "
            f"dilation={dilation}, padding={padding}, stride={stride}, expected size of input's "
            f"dimension 2 to match the number of sliding blocks {' * '.join(map(str, blocks))} = "
            f"{math.prod(blocks)}, but got {x.shape[2]} (input shape {x.shape})"
        )
    return [TensorType((x.shape[0], x.shape[1] // k) + tuple(output_size), x.dtype)]


_BLOCKS = {"kernel_size": "ints", "dilation": "ints", "padding": "ints", "stride": "ints"}

register_op(
    "interpolate",
    _interpolate,
    attrs={"size": "ints", "mode": "str", "align_corners": "bool", "scales": "floats"},
    doc="resize trailing dims to `size` (nearest, nearest-exact, (bi/tri)linear, bicubic)",
)
register_op(
    "im2col",
    _im2col,
    attrs=_BLOCKS,
    doc="sliding blocks (N, C, *s) -> (N, C * prod(k), L), PyTorch's F.unfold",
)
register_op(
    "col2im",
    _col2im,
    attrs={"output_size": "ints", **_BLOCKS},
    doc="sum sliding blocks back (N, C * prod(k), L) -> (N, C, *output_size), F.fold",
)
