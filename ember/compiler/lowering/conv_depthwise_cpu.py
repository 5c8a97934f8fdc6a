"""CPU lowering of depthwise `conv` (groups == input channels): a sum over kernel taps.

XLA:CPU runs a depthwise conv (`feature_group_count` = channels) as a generic grouped
convolution, 10-40x slower than the same work written out: a 3x3 depthwise conv of
(32, 96, 56, 56) takes 225-253 ms forward and 813-833 ms forward+backward, PyTorch 5-7
and 39 ms (bench/bench_grouped_convs.py, bench/RESULTS.md). MobileNet, EfficientNet
and ShuffleNet are mostly such convs.

`conv_depthwise_taps` writes the conv as what it is: for each kernel position, a window
of the padded input times that position's per-channel weight, summed in one fused
elementwise loop. Its derivative is a custom JVP whose two linear parts transpose into
the same kind of loop: the weight's part (`_window_sum` of the input times the weight's
tangent) into one reduction per tap, and the input's part, written as the transpose of
`_input_gradient`, back into that function: the output gradient dilated by the stride
and padded once, its windows times the flipped weights. (Plain autodiff of the windows
pads every tap's gradient to the input's size: 20 ms against 0.4 ms for the forward of
a (4, 96, 32, 32) conv.) Forward mode (`jvp`, `jacfwd`, `hessian`) works too, the
input's tangent going through that transpose. A channel multiplier (out = m * in
channels), strides, padding, dilation and 1-3 spatial dims; values and gradients equal
the default rule to 1e-10 in float64 (tests/test_backend_rules.py).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ember.graphdef import Node

from .conv import RULES as CONV_RULES
from .conv import _add_bias
from .conv_cpu import _pad, _windows, output_size, pad_pairs


def depthwise_conv(node: Node) -> bool:
    """Each input channel convolved on its own: groups == input channels > 1."""
    groups = node.attrs["groups"]
    x, w = node.inputs[0].type.shape, node.inputs[1].type.shape
    return groups > 1 and len(x) >= 3 and x[1] == groups and w[1] == 1


def _window_sum(src, w, stride, dilation, out):
    """sum over taps of src's window times the tap's weight: src (b, C, M, *s) with M 1 or
    m, w (C, m, *kernel) -> (b, C, m, *out)."""
    kernel = w.shape[2:]
    flat = w.reshape(*w.shape[:2], -1)
    total = None
    for tap, window in enumerate(_windows(kernel, stride, dilation, out)):
        weight = flat[:, :, tap].reshape(w.shape[:2] + (1,) * len(out))
        term = src[(slice(None), slice(None), slice(None), *window)] * weight
        total = term if total is None else total + term
    return total


@partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _depthwise(x, w, stride, pads, dilation, out):
    """(b, C, *s), (C, m, *kernel) -> (b, C, m, *out)."""
    return _window_sum(_pad(x, pads)[:, :, None], w, stride, dilation, out)


def _input_gradient(dy, w, stride, pads, dilation, spatial):
    """The input's gradient from the output's, dy (b, C, m, *out) -> (b, C, *spatial): dy
    dilated by the stride and padded so that tap a's window starts at a * dilation, times
    the weights flipped, summed over taps and the multiplier."""
    kernel = w.shape[2:]
    config = [(0, 0, 0)] * 3
    geometry = zip(kernel, dilation, pads, stride, spatial, dy.shape[3:], strict=True)
    for k, d, (lo, _), s, n, o in geometry:
        config.append(((k - 1) * d - lo, n + lo - (o - 1) * s - 1, s - 1))
    dilated = lax.pad(dy, jnp.zeros((), dy.dtype), config)
    flipped = w[(Ellipsis, *(slice(None, None, -1) for _ in kernel))]
    ones = (1,) * len(kernel)
    return jnp.sum(_window_sum(dilated, flipped, ones, dilation, spatial), axis=2)


@_depthwise.defjvp
def _tangent(stride, pads, dilation, out, primals, tangents):
    (x, w), (dx, dw) = primals, tangents
    spatial = x.shape[2:]
    dy_spec = jax.ShapeDtypeStruct((x.shape[0], *w.shape[:2], *out), x.dtype)
    # the input's part: linear in dx, written as the transpose of `_input_gradient`, so
    # that reverse mode transposes it back into that function
    along_x = jax.linear_transpose(
        lambda dy: _input_gradient(dy, w, stride, pads, dilation, spatial), dy_spec
    )
    (t_x,) = along_x(dx)
    t_w = _window_sum(_pad(x, pads)[:, :, None], dw, stride, dilation, out)
    return _depthwise(x, w, stride, pads, dilation, out), t_x + t_w


def conv_depthwise_taps(ctx, x, w, b=None, *, stride, padding, dilation, groups):
    if x.size == 0 or w.size == 0:
        return CONV_RULES["conv"](
            ctx, x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups
        )
    pads = pad_pairs(padding, len(stride))
    kernel = w.shape[2:]
    out = output_size(x.shape[2:], kernel, stride, pads, dilation)
    # 16-bit floats compute in float32, as PyTorch's CPU convs do
    wide = jnp.promote_types(x.dtype, jnp.float32)
    ww = w.astype(wide).reshape(groups, w.shape[0] // groups, *kernel)
    y = _depthwise(x.astype(wide), ww, tuple(stride), pads, tuple(dilation), out)
    return _add_bias(y.reshape(x.shape[0], w.shape[0], *out).astype(x.dtype), b)
