"""JAX rules for interpolate, im2col (unfold) and col2im (fold).

`interpolate` is separable: each resized dim is a few gathers (`jnp.take` with
static index tables) mixed by static weights. The tables follow PyTorch's CPU
kernels in float32 (float64 for float64 inputs), so nearest picks the same pixels and
weights agree to the last bit or so. im2col stacks strided slices; col2im adds each kernel
position's block back with an interior-padded `lax.pad`, the exact adjoint.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
from jax import lax

_F32 = np.float32


def _scale(size: int, out: int, align_corners: bool, scale: float, ft=_F32):
    """PyTorch's area_pixel_compute_scale: output -> input coordinate factor."""
    if align_corners:
        return ft(size - 1) / ft(out - 1) if out > 1 else ft(0)
    return ft(1.0 / scale) if scale > 0 else ft(size) / ft(out)


def _source(dst: np.ndarray, scale, align_corners: bool, ft=_F32) -> np.ndarray:
    if align_corners:
        return scale * dst
    return scale * (dst + ft(0.5)) - ft(0.5)


def _nearest(size, out, align_corners, scale, ft=_F32, exact=False):
    s = _F32(1.0 / scale) if scale > 0 else _F32(size) / _F32(out)  # float32, as PyTorch
    dst = np.arange(out, dtype=_F32)
    src = np.floor((dst + _F32(0.5)) * s if exact else dst * s).astype(np.int64)
    return [(np.minimum(src, size - 1), None)]


def _linear(size, out, align_corners, scale, ft=_F32):
    if size == out:  # PyTorch copies when the size does not change
        return [(np.arange(out), None)]
    src = _source(
        np.arange(out, dtype=ft), _scale(size, out, align_corners, scale, ft), align_corners, ft
    )
    src = np.maximum(src, ft(0))  # linear modes clamp negative coordinates
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    lam = np.clip(src - i0.astype(ft), ft(0), ft(1))
    i1 = np.minimum(i0 + 1, size - 1)
    return [(i0, ft(1) - lam), (i1, lam)]


def _cubic(size, out, align_corners, scale, ft=_F32):
    a = ft(-0.75)  # PyTorch's (and Keys') cubic convolution constant

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    src = _source(
        np.arange(out, dtype=ft), _scale(size, out, align_corners, scale, ft), align_corners, ft
    )
    i = np.floor(src).astype(np.int64)
    t = (src - i.astype(ft)).astype(ft)
    weights = [far(t + ft(1)), near(t), near(ft(1) - t), far(ft(2) - t)]
    return [(np.clip(i - 1 + j, 0, size - 1), w) for j, w in enumerate(weights)]


_TAPS = {
    "nearest": _nearest,
    "nearest-exact": lambda *a: _nearest(*a, exact=True),
    "linear": _linear,
    "bilinear": _linear,
    "trilinear": _linear,
    "bicubic": _cubic,
}


def _interpolate(ctx, x, size, mode, align_corners, scales):
    d = len(size)
    ft = np.float64 if x.dtype == jnp.float64 else _F32  # PyTorch's opmath type
    for i in range(d):
        axis = x.ndim - d + i
        taps = _TAPS[mode](x.shape[axis], size[i], align_corners, scales[i], ft)
        bcast = (-1,) + (1,) * (x.ndim - axis - 1)
        out = None
        for index, weight in taps:
            g = jnp.take(x, jnp.asarray(index, jnp.int32), axis=axis)
            if weight is not None:
                g = g * jnp.asarray(weight.reshape(bcast), x.dtype)
            out = g if out is None else out + g
        x = out
    return x


def _blocks(spatial, kernel_size, dilation, padding, stride):
    return [
        (s + 2 * p - dl * (k - 1) - 1) // st + 1
        for s, k, dl, p, st in zip(spatial, kernel_size, dilation, padding, stride, strict=True)
    ]


def _im2col(ctx, x, kernel_size, dilation, padding, stride):
    n, c = x.shape[0], x.shape[1]
    blocks = _blocks(x.shape[2:], kernel_size, dilation, padding, stride)
    xp = jnp.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    slabs = []
    for offs in itertools.product(*(range(k) for k in kernel_size)):
        starts = [o * dl for o, dl in zip(offs, dilation, strict=True)]
        stops = [st + (b - 1) * s + 1 for st, b, s in zip(starts, blocks, stride, strict=True)]
        slabs.append(lax.slice(xp, [0, 0] + starts, [n, c] + stops, (1, 1) + tuple(stride)))
    # (N, C, K, *blocks): the row index is c * K + kernel position, as in PyTorch
    cols = jnp.stack(slabs, axis=2)
    return cols.reshape(n, c * math.prod(kernel_size), math.prod(blocks))


def _col2im(ctx, cols, output_size, kernel_size, dilation, padding, stride):
    n, k = cols.shape[0], math.prod(kernel_size)
    c = cols.shape[1] // k
    blocks = _blocks(output_size, kernel_size, dilation, padding, stride)
    padded = [s + 2 * p for s, p in zip(output_size, padding, strict=True)]
    cols = cols.reshape((n, c, k) + tuple(blocks))
    zero = jnp.zeros((), cols.dtype)
    out = jnp.zeros((n, c) + tuple(padded), cols.dtype)
    for j, offs in enumerate(itertools.product(*(range(kk) for kk in kernel_size))):
        cfg = [(0, 0, 0), (0, 0, 0)]
        for o, dl, b, s, size in zip(offs, dilation, blocks, stride, padded, strict=True):
            lo = o * dl
            cfg.append((lo, size - lo - (b - 1) * s - 1, s - 1))  # block b lands at lo + b*s
        out = out + lax.pad(cols[:, :, j], zero, cfg)
    crop = tuple(slice(p, p + s) for p, s in zip(padding, output_size, strict=True))
    return out[(slice(None), slice(None)) + crop]


RULES = {
    "interpolate": _interpolate,
    "im2col": _im2col,
    "col2im": _col2im,
}
