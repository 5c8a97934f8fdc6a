"""CPU lowering of `max_pool` with overlapping windows (`max_pool_strided`).

ResNet's stem pool (3x3, stride 2, padding 1) has windows that overlap, so the tiling
rule (`pooling_cpu.py`) does not apply. JAX differentiates `reduce_window` max with a
variadic window reduction that carries one full-size index array per spatial dim:
on XLA:CPU a (32, 64, 32, 32) pool's gradient built four 9 MB iota arrays (18 ms) and a
five-output `reduce_window` (~10 ms) per step. This rule takes the k window positions as
k strided slices of the padded input and keeps the first argmax of each window (where
PyTorch sends the gradient, ties included). Its derivative is a custom JVP (the tangent
at that argmax), so forward mode (`jacfwd`, `hessian`) works too; JAX's transpose of it,
the reverse mode, places each position's share of the output gradient with an
interior-padded `pad` and sums the k of them. Values and gradients equal the default
rule (tests/test_backend_rules.py).
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


def _slices(x, kernel, stride, pads, out, fill) -> list:
    """Each window position's strided slice of `x` padded with `fill`."""
    lead = x.ndim - len(kernel)
    xp = (
        x
        if not any(map(any, pads))
        else lax.pad(x, fill, [(0, 0, 0)] * lead + [(lo, hi, 0) for lo, hi in pads])
    )
    slabs = []
    for offs in _offsets(kernel):
        starts = [0] * lead + list(offs)
        limits = list(x.shape[:lead]) + [
            o + (n - 1) * s + 1 for o, n, s in zip(offs, out, stride, strict=True)
        ]
        slabs.append(lax.slice(xp, starts, limits, (1,) * lead + tuple(stride)))
    return slabs


def _windows(x, kernel, stride, pads, out):
    """(k, *lead, *out): the window positions' slices of `x` padded with its lowest value."""
    slabs = _slices(x, kernel, stride, pads, out, jnp.asarray(_lowest(x.dtype)))
    if len(slabs) <= 8:  # XLA:CPU fuses this stack as it is (a 2x2 pool measured faster flat)
        return jnp.stack(slabs)
    return stack_windows(slabs, kernel, 0).reshape(len(slabs), *slabs[0].shape)


def max_and_first(x, kernel, stride, pads, out) -> tuple:
    """Each window's maximum and the position of its first maximum (int32, row-major
    over the kernel), where PyTorch sends the gradient, ties included."""
    windows = _windows(x, kernel, stride, pads, out)
    return windows.max(axis=0), jnp.argmax(windows, axis=0).astype(jnp.int32)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4))
def _max_pool_strided(x, kernel, stride, pads, out):
    return _windows(x, kernel, stride, pads, out).max(axis=0)


@_max_pool_strided.defjvp
def _tangent(kernel, stride, pads, out, primals, tangents):
    """The tangent at each window's first argmax, as a sum of selects of the tangent's
    window slices. Linear in the tangent, so JAX transposes it for reverse mode into the
    output gradient's shares placed by interior-padded `pad`s and summed in one fused
    loop (overlapping windows add up, as a scatter-add would)."""
    (x,), (t,) = primals, tangents
    top, first = max_and_first(x, kernel, stride, pads, out)
    zero = jnp.zeros((), t.dtype)
    tangent_out = None
    for k, share in enumerate(_slices(t, kernel, stride, pads, out, zero)):
        term = jnp.where(first == k, share, zero)
        tangent_out = term if tangent_out is None else tangent_out + term
    return top, tangent_out


def max_pool_strided(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _, out, pads = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    pads = tuple(tuple(p) for p in pads)
    return _max_pool_strided(x, tuple(kernel_size), tuple(stride), pads, tuple(out))
