"""Alternative lowering rules per backend, chosen by the `choose_lowering_rules` pass.

The default rule of every op lives in its family file (`RULES`). Some formulations
are much faster on one backend and pointless elsewhere; they live here as data:
`BACKEND_RULES[backend][op]` lists `(rule name, applies(node) -> bool)`, and
`ALTERNATIVE_LOWERING[rule name]` is the JAX rule. The pass records the choice in
the IR (`meta{rule=...}`), so the printed graph shows which lowering a node gets,
and `lower` dispatches on it. Every alternative must equal the default rule in
values and gradients (tests/test_backend_rules.py).

CPU, `conv_unswapped`: when a conv's kernel window has more positions than its input
or output maps (a 3x3 conv on 2x2 maps, as in ResNet-18's last stage at 64x64),
XLA's algebraic simplifier swaps the conv's operands, a form XLA:CPU runs ~10x
slower; the whole ResNet-18 step becomes ~3x slower. Padding explicitly behind an
`optimization_barrier` and convolving VALID keeps the operands in place; a custom
VJP does the same for the input-gradient conv (the weight-gradient conv has the large
padded input as its lhs and is never swapped). See docs/concepts/xla-cpu-gradients.md.

GPU, `fused_attention`: `dot_product_attention` nodes (made by the `fuse_attention`
pass, which runs on GPU only) lower to `jax.nn.dot_product_attention`, cuDNN's fused
kernel where JAX supports the shapes and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ember.graphdef import Node

from .attention import fused_attention
from .conv import _add_bias


def _spatial(node: Node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(input spatial, kernel, output spatial) sizes of a conv node."""
    x, w = node.inputs[0].type.shape, node.inputs[1].type.shape
    return x[2:], w[2:], node.outputs[0].type.shape[2:]


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


def _pad_fenced(x, pads, interior=None):
    """`x` padded in its spatial dims behind a barrier, so XLA cannot fold the padding
    back into the conv (which is what lets it swap the operands)."""
    d = x.ndim - 2
    interior = interior or (0,) * d
    config = [(0, 0, 0), (0, 0, 0)] + [
        (lo, hi, i) for (lo, hi), i in zip(pads, interior, strict=True)
    ]
    return lax.optimization_barrier(lax.pad(x, jnp.zeros((), x.dtype), config))


def _valid(x, w, stride, precision):
    return lax.conv_general_dilated(x, w, stride, "VALID", precision=precision)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_unswapped(x, w, stride, pads, precision):
    return _valid(_pad_fenced(x, pads), w, stride, precision)


def _forward(x, w, stride, pads, precision):
    xp = _pad_fenced(x, pads)
    return _valid(xp, w, stride, precision), (xp, w)


def _backward(stride, pads, precision, residuals, dy):
    xp, w = residuals
    _, weight_vjp = jax.vjp(lambda w: _valid(xp, w, stride, precision), w)
    (dw,) = weight_vjp(dy)
    # input gradient: full correlation of the stride-dilated dy with the flipped kernel,
    # (O, I) swapped; dilation and padding explicit and fenced like the forward's
    d = len(stride)
    kernel = w.shape[2:]
    flipped = jnp.swapaxes(jnp.flip(w, tuple(range(2, 2 + d))), 0, 1)
    dy_full = _pad_fenced(dy, [(k - 1, k - 1) for k in kernel], [s - 1 for s in stride])
    dxp = _valid(dy_full, flipped, (1,) * d, precision)
    # positions the stride skipped at the end get no gradient; then drop the padding
    tail = [(0, 0), (0, 0)] + [(0, p - n) for p, n in zip(xp.shape[2:], dxp.shape[2:], strict=True)]
    dxp = jnp.pad(dxp, tail)
    crop = (slice(None), slice(None)) + tuple(
        slice(lo, p - hi) for (lo, hi), p in zip(pads, xp.shape[2:], strict=True)
    )
    return dxp[crop], dw


_conv_unswapped.defvjp(_forward, _backward)


def _conv_unswapped_rule(ctx, x, w, b=None, *, stride, padding, dilation, groups):
    pads = tuple((padding[2 * i], padding[2 * i + 1]) for i in range(len(stride)))
    return _add_bias(_conv_unswapped(x, w, tuple(stride), pads, ctx.precision), b)


def _heads_layout(node: Node) -> bool:
    """(B, N, T, H) operands: what jax.nn.dot_product_attention takes (transposed)."""
    return node.inputs[0].type.ndim == 4


# backend -> op -> [(rule name, applies to this node?)], first match wins
BACKEND_RULES: dict[str, dict[str, list[tuple[str, Callable[[Node], bool]]]]] = {
    "cpu": {"conv": [("conv_unswapped", swap_prone_conv)]},
    "gpu": {"dot_product_attention": [("fused_attention", _heads_layout)]},
}
ALTERNATIVE_LOWERING: dict[str, Callable] = {
    "conv_unswapped": _conv_unswapped_rule,
    "fused_attention": fused_attention,
}
