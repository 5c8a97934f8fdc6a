"""Convolutions: `conv` (N-d, grouped, dilated, explicit padding) and `conv_transpose`.

Layouts are PyTorch's: input (N, C, *spatial), conv weight (out, in/groups, *k),
transposed-conv weight (in, out/groups, *k). The number of spatial dims is the
length of the `stride` attr, so one op serves conv1d/2d/3d.
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.graphdef.ops.common import require_float, same_dtype
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _check_layout(op: str, types, d: int, groups: int, weight_in_dim: int) -> None:
    x, w = types[0], types[1]
    require_float(op, x)
    same_dtype(op, types)
    if x.ndim != d + 2:
        raise ShapeError(
            f"{op}: expected a {d + 2}-D input (N, C, {_SPATIAL.get(d, '...')}), "
            f"got shape {x.shape}"
        )
    if w.ndim != d + 2:
        raise ShapeError(f"{op}: expected a {d + 2}-D weight, got shape {w.shape}")
    if groups < 1:
        raise ShapeError(f"{op}: groups must be a positive integer, got {groups}")
    if w.shape[weight_in_dim] % groups:
        raise ShapeError(
            f"{op}: given groups={groups}, expected weight {w.shape} to be divisible "
            f"by {groups} at dimension {weight_in_dim}"
        )


def _check_attrs(op: str, d: int, stride, dilation, padding, pads_per_dim: int) -> None:
    if d == 0:  # the spatial rank is len(stride): zero would convolve no dim
        raise ShapeError(
            f"{op[:-2]}: stride is empty, so it names no spatial dim; fix: give one entry "
            "per spatial dim, e.g. stride=(1, 1) for a 2-D convolution"
        )
    if len(dilation) != d or len(padding) != pads_per_dim * d:
        raise ShapeError(
            f"{op}: stride {stride}, dilation {dilation} and padding {padding} do not "
            f"describe {d} spatial dims"
        )
    if min(stride) < 1 or min(dilation) < 1 or min(padding, default=0) < 0:
        raise ShapeError(
            f"{op}: stride {stride} and dilation {dilation} must be positive and "
            f"padding {padding} non-negative"
        )


def _check_bias(op: str, types, channels: int) -> None:
    if len(types) == 3 and types[2].shape != (channels,):
        raise ShapeError(
            f"{op}: bias shape {types[2].shape} should be ({channels},), one value per "
            "output channel"
        )


def _conv(types, stride, padding, dilation, groups):
    d = len(stride)
    op = f"conv{d}d"
    _check_attrs(op, d, stride, dilation, padding, 2)
    _check_layout(op, types, d, groups, 0)
    x, w = types[0], types[1]
    if x.shape[1] != w.shape[1] * groups:
        raise ShapeError(
            f"{op}: given groups={groups}, weight of shape {w.shape} expects an input with "
            f"{w.shape[1] * groups} channels (weight.shape[1] * groups), but input {x.shape} has "
            f"{x.shape[1]}; fix: match in_channels to the input's dim 1"
        )
    _check_bias(op, types, w.shape[0])
    spatial = []
    for i in range(d):
        padded = x.shape[2 + i] + padding[2 * i] + padding[2 * i + 1]
        extent = dilation[i] * (w.shape[2 + i] - 1) + 1
        if padded < extent:
            raise ShapeError(
                f"{op}: padded input size per channel {x.shape[2:]} (padding {padding}) is "
                f"smaller than the dilated kernel {w.shape[2:]} (dilation {dilation}); fix: pad "
                "more or use a smaller kernel"
            )
        spatial.append((padded - extent) // stride[i] + 1)
    return [TensorType((x.shape[0], w.shape[0]) + tuple(spatial), x.dtype)]


def _conv_transpose(types, stride, padding, output_padding, dilation, groups):
    d = len(stride)
    op = f"conv_transpose{d}d"
    _check_attrs(op, d, stride, dilation, padding + output_padding, 2)
    _check_layout(op, types, d, groups, 0)
    x, w = types[0], types[1]
    if x.shape[1] != w.shape[0]:
        raise ShapeError(
            f"{op}: weight of shape {w.shape} (in_channels, out_channels/groups, *kernel) expects "
            f"an input with {w.shape[0]} channels, but input {x.shape} has {x.shape[1]}"
        )
    out_channels = w.shape[1] * groups
    _check_bias(op, types, out_channels)
    spatial = []
    for i in range(d):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ShapeError(
                f"{op}: output padding must be smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
        size = (
            (x.shape[2 + i] - 1) * stride[i]
            - 2 * padding[i]
            + dilation[i] * (w.shape[2 + i] - 1)
            + output_padding[i]
            + 1
        )
        if size <= 0:
            raise ShapeError(
                f"{op}: input {x.shape} with padding {padding} gives a non-positive "
                f"output size {size} in spatial dim {i}; fix: reduce padding"
            )
        spatial.append(size)
    return [TensorType((x.shape[0], out_channels) + tuple(spatial), x.dtype)]


register_op(
    "conv",
    _conv,
    num_inputs=(2, 3),
    attrs={"stride": "ints", "padding": "ints", "dilation": "ints", "groups": "int"},
    doc="cross-correlation (N, C, *s) x (O, C/groups, *k); padding is (lo, hi) per dim",
)
register_op(
    "conv_transpose",
    _conv_transpose,
    num_inputs=(2, 3),
    attrs={
        "stride": "ints",
        "padding": "ints",
        "output_padding": "ints",
        "dilation": "ints",
        "groups": "int",
    },
    doc="gradient of conv w.r.t. its input; weight (C, O/groups, *k)",
)
