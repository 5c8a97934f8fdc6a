"""JAX rules for max_pool, avg_pool, adaptive_avg_pool and adaptive_max_pool.

Plain max and average pooling are one `lax.reduce_window` each. Max pooling
that needs indices (or has dilation, whose reduce_window VJP JAX lacks) stacks
the k windows' strided slices and takes the first argmax, which is also where
PyTorch sends the gradient. Adaptive pools gather each window (padded to the
longest by repeating its last element) and reduce it.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from ember.graphdef.ops.pooling import adaptive_bounds, pool_output_size, pool_padding


def _lowest(dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    low = -np.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).min
    return np.array(low, dtype=dtype)  # concrete, so lax picks the differentiable max monoid


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    d = len(kernel_size)
    spatial = x.shape[x.ndim - d :]
    out = [
        pool_output_size(*a, ceil_mode)
        for a in zip(spatial, kernel_size, stride, padding, dilation, strict=True)
    ]
    pads = [
        pool_padding(*a)
        for a in zip(spatial, out, kernel_size, stride, padding, dilation, strict=True)
    ]
    return spatial, out, pads


def _reduce_window(x, init, op, kernel_size, stride, pads):
    lead = x.ndim - len(kernel_size)
    window, strides = (1,) * lead + tuple(kernel_size), (1,) * lead + tuple(stride)
    return lax.reduce_window(x, init, op, window, strides, [(0, 0)] * lead + list(pads))


def _first_argmax(windows, table):
    """Values and table entries at the first maximum of each window (last axis)."""
    arg = jnp.argmax(windows, axis=-1, keepdims=True)
    values = jnp.take_along_axis(windows, arg, axis=-1)[..., 0]
    index = jnp.take_along_axis(jnp.broadcast_to(jnp.asarray(table), windows.shape), arg, axis=-1)
    return values, index[..., 0]


def _flat_index(positions, spatial) -> np.ndarray:
    """Row-major flat index of per-dim positions (broadcast numpy int arrays)."""
    flat = np.zeros((), np.int64)
    for pos, size in zip(positions, spatial, strict=True):
        flat = flat * size + pos
    return flat.astype(np.int32)


def _max_pool_windows(x, kernel_size, stride, dilation, spatial, out, pads):
    lead = x.ndim - len(kernel_size)
    xp = jnp.pad(x, [(0, 0)] * lead + list(pads), constant_values=_lowest(x.dtype))
    slabs, offsets = [], list(itertools.product(*(range(k) for k in kernel_size)))
    for offs in offsets:
        starts = [0] * lead + [o * dl for o, dl in zip(offs, dilation, strict=True)]
        limits = list(x.shape[:lead]) + [
            st + (n - 1) * s + 1 for st, n, s in zip(starts[lead:], out, stride, strict=True)
        ]
        slabs.append(lax.slice(xp, starts, limits, (1,) * lead + tuple(stride)))
    windows = jnp.stack(slabs, axis=-1)
    # input position of window element j at output o, per dim: o*s - pad_lo + offs_j*dilation
    grids = np.meshgrid(*(np.arange(n) for n in out), indexing="ij")
    positions = [
        g[..., None] * s - p[0] + np.array([o[i] for o in offsets]) * dl
        for i, (g, s, p, dl) in enumerate(zip(grids, stride, pads, dilation, strict=True))
    ]
    return windows, _flat_index(positions, spatial)


def _max_pool(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    spatial, out, pads = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices and all(dl == 1 for dl in dilation):
        return _reduce_window(x, _lowest(x.dtype), lax.max, kernel_size, stride, pads)
    windows, table = _max_pool_windows(x, kernel_size, stride, dilation, spatial, out, pads)
    values, index = _first_argmax(windows, table)
    return (values, index) if return_indices else values


def _avg_divisor(spatial, out, kernel_size, stride, padding, count_include_pad) -> np.ndarray:
    """PyTorch's per-window divisor: a product of per-dim counts (windows are boxes)."""
    divisor = np.ones((), np.float64)
    for size, n, k, s, p in zip(spatial, out, kernel_size, stride, padding, strict=True):
        start = np.arange(n) * s - p
        end = np.minimum(start + k, size + p)  # the user's padding counts, ceil overhang does not
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        divisor = np.multiply.outer(divisor, end - start)
    return divisor


def _avg_pool(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    ones = (1,) * len(kernel_size)
    spatial, out, pads = _geometry(x, kernel_size, stride, padding, ones, ceil_mode)
    total = _reduce_window(x, np.array(0, x.dtype), lax.add, kernel_size, stride, pads)
    if divisor_override is not None:
        return total / np.array(divisor_override, x.dtype)
    divisor = _avg_divisor(spatial, out, kernel_size, stride, padding, count_include_pad)
    return total / divisor.astype(x.dtype)


def _adaptive_table(size: int, out: int):
    """(out, K) gather indices of each window, padded with its last element, and a mask."""
    bounds = np.array(adaptive_bounds(size, out), dtype=np.int64).reshape(out, 2)
    width = int((bounds[:, 1] - bounds[:, 0]).max()) if out else 1
    pos = bounds[:, :1] + np.arange(width)
    return np.minimum(pos, bounds[:, 1:] - 1), pos < bounds[:, 1:], bounds


def _gather_windows(x, axis: int, size: int, out: int):
    index, valid, bounds = _adaptive_table(size, out)
    g = jnp.take(x, index.ravel(), axis=axis)
    return g.reshape(x.shape[:axis] + index.shape + x.shape[axis + 1 :]), index, valid, bounds


def _adaptive_avg_pool(ctx, x, output_size):
    d = len(output_size)
    for i, out in enumerate(output_size):  # a box mean is the product of per-dim means
        axis = x.ndim - d + i
        size = x.shape[axis]
        if out and size % out == 0:  # equal, disjoint windows: a reshape and a mean
            x = jnp.mean(
                x.reshape(x.shape[:axis] + (out, size // out) + x.shape[axis + 1 :]), axis=axis + 1
            )
            continue
        g, _, valid, bounds = _gather_windows(x, axis, size, out)
        weight = valid / np.maximum(bounds[:, 1:] - bounds[:, :1], 1)
        weight = weight.reshape(weight.shape + (1,) * (g.ndim - axis - 2)).astype(x.dtype)
        x = jnp.sum(g * weight, axis=axis + 1)
    return x


def _adaptive_max_pool(ctx, x, output_size, return_indices):
    d = len(output_size)
    lead = x.ndim - d
    spatial = x.shape[lead:]
    divisible = all(o and n % o == 0 for n, o in zip(spatial, output_size, strict=True))
    if divisible and not return_indices:  # equal, disjoint windows: a plain max pool
        kernel = tuple(n // o for n, o in zip(spatial, output_size, strict=True))
        return _reduce_window(x, _lowest(x.dtype), lax.max, kernel, kernel, [(0, 0)] * d)
    indices = [None] * d
    for i in reversed(range(d)):  # last dim first, so earlier axes keep their positions
        x, indices[i], _, _ = _gather_windows(x, lead + i, spatial[i], output_size[i])
    # (..., o0, k0, o1, k1, ...) -> (..., o0, o1, ..., k0 * k1 * ...): row-major window order
    perm = (
        list(range(lead)) + [lead + 2 * i for i in range(d)] + [lead + 2 * i + 1 for i in range(d)]
    )
    x = jnp.transpose(x, perm)
    x = x.reshape(x.shape[: lead + d] + (math.prod(x.shape[lead + d :]),))
    grids = np.meshgrid(
        *(np.arange(n) for n in output_size),
        *(np.arange(ix.shape[1]) for ix in indices),
        indexing="ij",
    )
    positions = [ix[grids[i], grids[d + i]] for i, ix in enumerate(indices)]
    table = _flat_index(positions, spatial).reshape(tuple(output_size) + (x.shape[-1],))
    values, index = _first_argmax(x, table)
    return (values, index) if return_indices else values


RULES = {
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "adaptive_avg_pool": _adaptive_avg_pool,
    "adaptive_max_pool": _adaptive_max_pool,
}
