"""JAX rules for conv and conv_transpose (one `lax.conv_general_dilated` each)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

# dimension_numbers=None means lhs (N, C, *s), rhs (O, I, *k), out (N, C, *s): PyTorch's layout


def _add_bias(y, b):
    return y if b is None else y + b.reshape((1, -1) + (1,) * (y.ndim - 2))


def _conv(ctx, x, w, b=None, *, stride, padding, dilation, groups):
    pads = [(padding[2 * i], padding[2 * i + 1]) for i in range(len(stride))]
    y = lax.conv_general_dilated(
        x,
        w,
        stride,
        pads,
        rhs_dilation=dilation,
        feature_group_count=groups,
        precision=ctx.precision,
    )
    return _add_bias(y, b)


def _conv_transpose(ctx, x, w, b=None, *, stride, padding, output_padding, dilation, groups):
    d = len(stride)
    cin, out_per_group, kernel = w.shape[0], w.shape[1], w.shape[2:]
    # (C, O/g, *k) -> (O, C/g, *k) per group, then flip spatially: the transpose of conv
    w = w.reshape((groups, cin // groups, out_per_group) + kernel)
    w = jnp.swapaxes(w, 1, 2).reshape((groups * out_per_group, cin // groups) + kernel)
    w = jnp.flip(w, axis=tuple(range(2, 2 + d)))
    # a stride-s transposed conv is a stride-1 conv over the input dilated by s; padding
    # below zero crops, which lax accepts
    pads = [
        (
            dilation[i] * (kernel[i] - 1) - padding[i],
            dilation[i] * (kernel[i] - 1) - padding[i] + output_padding[i],
        )
        for i in range(d)
    ]
    y = lax.conv_general_dilated(
        x,
        w,
        (1,) * d,
        pads,
        lhs_dilation=stride,
        rhs_dilation=dilation,
        feature_group_count=groups,
        precision=ctx.precision,
    )
    return _add_bias(y, b)


RULES = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
}
