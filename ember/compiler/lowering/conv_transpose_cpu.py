"""CPU lowering of `conv_transpose` as the transpose of `conv_im2col` (`conv_transpose_im2col`).

The default rule is one `lax.conv_general_dilated` over the input dilated by the
stride (`lhs_dilation`). XLA:CPU runs that form very slowly: a 256->128 4x4 stride-2
transposed conv at batch 16 on 16x16 maps took 2.26 s forward+backward (PyTorch
0.05 s), a depthwise one at 32x32 as long. A transposed conv is, by definition, the
adjoint of the conv that maps its output back to its input (same weight, stride,
padding, dilation, groups). This rule builds that conv with `conv_im2col` and takes
its transpose with `jax.linear_transpose`: one matmul of the weight by the input (the
patch columns), then the columns added back into the output map (the patch gather's
transpose), per batch chunk. Its own derivatives are JAX's: the input gradient is that
conv's im2col forward, the weight gradient a matmul, and forward mode works (no custom
VJP). The same conv: 0.07 s (`python bench/bench_transposed_convs.py`). Values and
gradients equal the default rule to 1e-10 in float64 (tests/test_backend_rules.py).

It applies when every output padding is below its stride: then the conv of an output
map gives back the input's size exactly (the extra rows fall to its floor division).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ember.graphdef import Node

from .conv import RULES as CONV_RULES
from .conv import _add_bias
from .conv_cpu import _im2col


def output_padding_below_stride(node: Node) -> bool:
    """The transposed conv is the exact adjoint of a conv of its output (see above)."""
    a = node.attrs
    return all(p < s for p, s in zip(a["output_padding"], a["stride"], strict=True))


def _output_shape(x, w, stride, padding, output_padding, dilation, groups) -> tuple:
    kernel = w.shape[2:]
    spatial = (
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(
            x.shape[2:], stride, padding, dilation, kernel, output_padding, strict=True
        )
    )
    return (x.shape[0], w.shape[1] * groups, *spatial)


def conv_transpose_im2col(ctx, x, w, b=None, *, stride, padding, output_padding, dilation, groups):
    attrs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    if x.size == 0 or w.size == 0:  # no columns to add (an empty batch or channel dim)
        return CONV_RULES["conv_transpose"](ctx, x, w, b, **attrs, groups=groups)
    # 16-bit floats compute in float32, as conv_im2col does
    wide = jnp.promote_types(x.dtype, jnp.float32)
    xw, ww = x.astype(wide), w.astype(wide)
    # (C, O/g, *k) is the layout of the weight of a conv from O channels to C
    output = jax.ShapeDtypeStruct(_output_shape(xw, ww, **attrs, groups=groups), wide)
    pads = tuple((p, p) for p in padding)

    def conv(z):
        return _im2col(z, ww, tuple(stride), pads, tuple(dilation), groups, ctx.precision)

    (y,) = jax.linear_transpose(conv, output)(xw)
    return _add_bias(y.astype(x.dtype), b)
