"""CPU lowerings of `conv`: formulations XLA:CPU runs much faster than its default.

Two rules, chosen per node by `choose_lowering_rules` (see `backend_rules.py`); both
equal the default `lax.conv_general_dilated` rule in values and gradients.

`conv_matmul_weight_grad` (any plain conv): XLA:CPU lowers a conv's weight gradient as
a convolution whose "kernel" is the whole output map, a form its conv kernels run
3-6x slower than the same FLOPs as matmuls (a 32->64 3x3 conv on 26x26 maps at batch
64: ~1 s against ~0.2 s). The rule keeps XLA's forward and input-gradient convs and
computes the weight gradient, through a custom VJP, as one contraction per kernel
position: `dw[:, :, i, j] = einsum("nchw,nohw->oc", x_padded[..., i::s, j::s], dy)`.

`conv_unswapped` (small maps): when a conv's kernel window has more positions than its
input or output maps (a 3x3 conv on 2x2 maps, as in ResNet-18's last stage at 64x64),
XLA's algebraic simplifier swaps the conv's operands, a form XLA:CPU runs ~10x slower.
Padding explicitly behind an `optimization_barrier` and convolving VALID keeps the
operands in place; its custom VJP does the same for the input-gradient conv. See
docs/concepts/xla-cpu-gradients.md.
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ember.graphdef import Node

from .conv import _add_bias

_LETTERS = "hwd"


def _spatial(node: Node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(input spatial, kernel, output spatial) sizes of a conv node."""
    x, w = node.inputs[0].type.shape, node.inputs[1].type.shape
    return x[2:], w[2:], node.outputs[0].type.shape[2:]


def plain_conv(node: Node) -> bool:
    """One group (the weight gradient's contraction is over all input channels)."""
    return node.attrs["groups"] == 1


def swap_prone_conv(node: Node) -> bool:
    """XLA:CPU would swap this conv's (or its input gradient's) operands: the kernel window
    has more positions than the input or output maps. Plain convs only (groups 1, no
    dilation), which is where ResNet-style nets hit it."""
    attrs = node.attrs
    if attrs["groups"] != 1 or any(d != 1 for d in attrs["dilation"]):
        return False
    x, k, y = _spatial(node)
    window = math.prod(k)
    return window > 1 and (window > math.prod(x) or window > math.prod(y))


def weight_grad(xp, dy, kernel, stride, dilation, precision):
    """The gradient of a VALID conv of the padded input `xp` (N, C, *s) with respect to its
    (O, C, *kernel) weight, given the output cotangent `dy` (N, O, *out): one
    channel-by-channel contraction over batch and output positions per kernel position."""
    letters = _LETTERS[: len(kernel)]
    spec = f"nc{letters},no{letters}->oc"
    parts = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s)
            for o, d, s, n in zip(offset, dilation, stride, dy.shape[2:], strict=True)
        )
        parts.append(
            jnp.einsum(spec, xp[(slice(None), slice(None), *window)], dy, precision=precision)
        )
    return jnp.stack(parts, -1).reshape(dy.shape[1], xp.shape[1], *kernel)


def _pad(x, pads, interior=None, fenced=False):
    """`x` padded in its spatial dims; `fenced`: behind a barrier, so XLA cannot fold the
    padding back into a conv (which is what lets it swap the operands)."""
    interior = interior or (0,) * (x.ndim - 2)
    config = [(0, 0, 0), (0, 0, 0)] + [
        (lo, hi, i) for (lo, hi), i in zip(pads, interior, strict=True)
    ]
    padded = lax.pad(x, jnp.zeros((), x.dtype), config)
    return lax.optimization_barrier(padded) if fenced else padded


def _conv(x, w, stride, pads, dilation, precision):
    return lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation, precision=precision)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_matmul_weight_grad(x, w, stride, pads, dilation, precision):
    return _conv(x, w, stride, pads, dilation, precision)


def _matmul_forward(x, w, stride, pads, dilation, precision):
    return _conv(x, w, stride, pads, dilation, precision), (x, w)


def _matmul_backward(stride, pads, dilation, precision, residuals, dy):
    x, w = residuals
    _, input_vjp = jax.vjp(lambda x: _conv(x, w, stride, pads, dilation, precision), x)
    (dx,) = input_vjp(dy)
    dw = weight_grad(_pad(x, pads), dy, w.shape[2:], stride, dilation, precision)
    return dx, dw


_conv_matmul_weight_grad.defvjp(_matmul_forward, _matmul_backward)


def conv_matmul_weight_grad(ctx, x, w, b=None, *, stride, padding, dilation, groups):
    pads = tuple((padding[2 * i], padding[2 * i + 1]) for i in range(len(stride)))
    y = _conv_matmul_weight_grad(x, w, tuple(stride), pads, tuple(dilation), ctx.precision)
    return _add_bias(y, b)


def _valid(x, w, stride, precision):
    return lax.conv_general_dilated(x, w, stride, "VALID", precision=precision)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_unswapped(x, w, stride, pads, precision):
    return _valid(_pad(x, pads, fenced=True), w, stride, precision)


def _unswapped_forward(x, w, stride, pads, precision):
    xp = _pad(x, pads, fenced=True)
    return _valid(xp, w, stride, precision), (xp, w)


def _unswapped_backward(stride, pads, precision, residuals, dy):
    xp, w = residuals
    d = len(stride)
    kernel = w.shape[2:]
    dw = weight_grad(xp, dy, kernel, stride, (1,) * d, precision)
    # input gradient: full correlation of the stride-dilated dy with the flipped kernel,
    # (O, I) swapped; dilation and padding explicit and fenced like the forward's
    flipped = jnp.swapaxes(jnp.flip(w, tuple(range(2, 2 + d))), 0, 1)
    dy_full = _pad(dy, [(k - 1, k - 1) for k in kernel], [s - 1 for s in stride], fenced=True)
    dxp = _valid(dy_full, flipped, (1,) * d, precision)
    # positions the stride skipped at the end get no gradient; then drop the padding
    tail = [(0, 0), (0, 0)] + [(0, p - n) for p, n in zip(xp.shape[2:], dxp.shape[2:], strict=True)]
    dxp = jnp.pad(dxp, tail)
    crop = (slice(None), slice(None)) + tuple(
        slice(lo, p - hi) for (lo, hi), p in zip(pads, xp.shape[2:], strict=True)
    )
    return dxp[crop], dw


_conv_unswapped.defvjp(_unswapped_forward, _unswapped_backward)


def conv_unswapped(ctx, x, w, b=None, *, stride, padding, dilation, groups):
    pads = tuple((padding[2 * i], padding[2 * i + 1]) for i in range(len(stride)))
    return _add_bias(_conv_unswapped(x, w, tuple(stride), pads, ctx.precision), b)
