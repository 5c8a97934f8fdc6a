"""CPU lowering of `max_pool` with non-overlapping windows (`max_pool_slices`).

XLA lowers max pooling's gradient to `select_and_scatter`, which XLA:CPU runs slowly:
for 2x2 pooling of a (64, 64, 24, 24) map, 2 ms forward and ~55 ms for the gradient.
When the windows tile the input (stride = kernel, no padding or dilation, the usual
`max_pool2d(x, 2)`), this rule takes the k window positions as k strided slices,
keeps the first argmax of each window (where PyTorch sends the gradient, ties
included) and, backward, routes the output gradient to that position and interleaves
the k slices back into place: ~3x faster. (Overlapping windows, as in ResNet's 3x3
stride-2 pool, gain nothing this way and keep the default.) Values and gradients
equal the default rule (tests/test_backend_rules.py). The gradient is a custom VJP:
plain autodiff of the same slices (which would keep forward mode, `jax.jvp`) measured
33 ms against 10 ms, so forward-mode differentiation through this pool is not
supported on CPU.
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ember.graphdef import Node

from .pooling import _geometry


def tiling_windows(node: Node) -> bool:
    """Windows that tile the input: stride = kernel, no padding, dilation or indices."""
    a = node.attrs
    return (
        not a["return_indices"]
        and list(a["stride"]) == list(a["kernel_size"])
        and not any(a["padding"])
        and all(d == 1 for d in a["dilation"])
        and not a["ceil_mode"]
    )


def _slices(x, kernel, out):
    """(k, *lead, *out): each window position's strided slice of `x`."""
    lead = x.ndim - len(kernel)
    slabs = []
    for offsets in itertools.product(*(range(k) for k in kernel)):
        starts = [0] * lead + list(offsets)
        limits = list(x.shape[:lead]) + [
            o + (n - 1) * k + 1 for o, n, k in zip(offsets, out, kernel, strict=True)
        ]
        slabs.append(lax.slice(x, starts, limits, (1,) * lead + tuple(kernel)))
    return jnp.stack(slabs)


@partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _max_pool_slices(x, kernel, out):
    return _slices(x, kernel, out).max(axis=0)


def _forward(x, kernel, out):
    windows = _slices(x, kernel, out)
    first = jnp.argmax(windows, axis=0).astype(jnp.int32)
    return windows.max(axis=0), (first, x.shape)


def _backward(kernel, out, residuals, dy):
    first, shape = residuals
    d, lead = len(kernel), len(shape) - len(kernel)
    positions = jnp.arange(math.prod(kernel), dtype=first.dtype)
    chosen = positions.reshape((-1,) + (1,) * first.ndim) == first
    cot = jnp.where(chosen, dy, jnp.zeros((), dy.dtype)).reshape(*kernel, *dy.shape)
    # (k1..kd, *lead, o1..od) -> (*lead, o1, k1, ..., od, kd): the windows back in place
    order = list(range(d, d + lead))
    for i in range(d):
        order += [d + lead + i, i]
    dx = cot.transpose(order).reshape(
        *shape[:lead], *(o * k for o, k in zip(out, kernel, strict=True))
    )
    # positions past the last full window (floor mode) get no gradient
    tail = [(0, 0)] * lead + [
        (0, s - o * k) for s, o, k in zip(shape[lead:], out, kernel, strict=True)
    ]
    return (jnp.pad(dx, tail),)


_max_pool_slices.defvjp(_forward, _backward)


def max_pool_slices(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _, out, _ = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool_slices(x, tuple(kernel_size), tuple(out))
