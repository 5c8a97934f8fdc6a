"""JAX rules for layer_norm and rms_norm.

Statistics and the affine part are computed in float32 for half-precision
inputs (PyTorch's "opmath" type) and the result is cast back to the input dtype.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def _compute_dtype(x):
    return jnp.float32 if x.dtype in (jnp.float16, jnp.bfloat16) else x.dtype


def _axes(x, normalized_shape):
    return tuple(range(x.ndim - len(normalized_shape), x.ndim))


def _affine(y, x, weight, bias):
    if weight is not None:
        y = y * weight.astype(y.dtype)
    if bias is not None:
        y = y + bias.astype(y.dtype)
    return y.astype(x.dtype)


def _layer_norm(ctx, x, weight=None, bias=None, *, normalized_shape, eps):
    axes = _axes(x, normalized_shape)
    h = x.astype(_compute_dtype(x))
    centered = h - jnp.mean(h, axis=axes, keepdims=True)
    var = jnp.mean(centered * centered, axis=axes, keepdims=True)
    return _affine(centered * lax.rsqrt(var + eps), x, weight, bias)


def _rms_norm(ctx, x, weight=None, *, normalized_shape, eps):
    h = x.astype(_compute_dtype(x))
    ms = jnp.mean(h * h, axis=_axes(x, normalized_shape), keepdims=True)
    return _affine(h * lax.rsqrt(ms + eps), x, weight, None)


RULES = {
    "layer_norm": _layer_norm,
    "rms_norm": _rms_norm,
}
