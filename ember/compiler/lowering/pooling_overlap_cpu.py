"""CPU lowering of `max_pool` with overlapping windows (`max_pool_strided`).

ResNet's stem pool (3x3, stride 2, padding 1) has windows that overlap, so the tiling
rule (`pooling_cpu.py`) does not apply. JAX differentiates `reduce_window` max with a
variadic window reduction that carries one full-size index array per spatial dim:
on XLA:CPU a (32, 64, 32, 32) pool's gradient built four 9 MB iota arrays (18 ms) and a
five-output `reduce_window` (~10 ms) per step. This rule takes the k window positions as
k strided slices of the padded input, keeps the first argmax of each window (where
PyTorch sends the gradient, ties included) and, backward, places each position's share
of the output gradient with an interior-padded `pad` and sums the k of them (one fused
loop: overlapping windows add up, as a scatter-add would). Values and gradients equal
the default rule (tests/test_backend_rules.py); as for the tiling rule, the gradient is
a custom VJP, so forward-mode differentiation through this pool is not supported on CPU.
"""

from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ember.graphdef import Node

from .conv_cpu import stack_windows
from .pooling import _geometry, _lowest


def strided_windows(node: Node) -> bool:
    """Any stride and padding, no dilation or indices (the tiling case matches first)."""
    a = node.attrs
    return not a["return_indices"] and all(d == 1 for d in a["dilation"])


def _offsets(kernel):
    return list(itertools.product(*(range(k) for k in kernel)))


def _windows(x, kernel, stride, pads, out):
    """(k, *lead, *out): each window position's strided slice of the padded `x`."""
    lead = x.ndim - len(kernel)
    low = jnp.asarray(_lowest(x.dtype))
    xp = lax.pad(x, low, [(0, 0, 0)] * lead + [(lo, hi, 0) for lo, hi in pads])
    slabs = []
    for offs in _offsets(kernel):
        starts = [0] * lead + list(offs)
        limits = list(x.shape[:lead]) + [
            o + (n - 1) * s + 1 for o, n, s in zip(offs, out, stride, strict=True)
        ]
        slabs.append(lax.slice(xp, starts, limits, (1,) * lead + tuple(stride)))
    return stack_windows(slabs, kernel, 0).reshape(len(slabs), *slabs[0].shape)


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _max_pool_strided(x, kernel, stride, pads, out):
    return _windows(x, kernel, stride, pads, out).max(axis=0)


def _forward(x, kernel, stride, pads, out):
    windows = _windows(x, kernel, stride, pads, out)
    first = jnp.argmax(windows, axis=0).astype(jnp.int32)
    return windows.max(axis=0), (first, x.shape)


def _backward(kernel, stride, pads, out, residuals, dy):
    first, shape = residuals
    lead = len(shape) - len(kernel)
    padded = [n + lo + hi for n, (lo, hi) in zip(shape[lead:], pads, strict=True)]
    zero = jnp.zeros((), dy.dtype)
    dxp = None
    for k, offs in enumerate(_offsets(kernel)):
        share = jnp.where(first == k, dy, zero)
        # output i of this position reads padded input offs + i * stride
        config = [(0, 0, 0)] * lead + [
            (o, p - (o + (n - 1) * s + 1), s - 1)
            for o, p, n, s in zip(offs, padded, out, stride, strict=True)
        ]
        placed = lax.pad(share, zero, config)
        dxp = placed if dxp is None else dxp + placed
    crop = [slice(None)] * lead + [
        slice(lo, lo + n) for n, (lo, _) in zip(shape[lead:], pads, strict=True)
    ]
    return (dxp[tuple(crop)],)


_max_pool_strided.defvjp(_forward, _backward)


def max_pool_strided(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _, out, pads = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    pads = tuple(tuple(p) for p in pads)
    return _max_pool_strided(x, tuple(kernel_size), tuple(stride), pads, tuple(out))
