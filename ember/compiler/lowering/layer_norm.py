"""JAX rules for layer_norm and rms_norm (half-precision inputs are computed in float32)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

_HALF = (jnp.float16, jnp.bfloat16)


def _axes(x, normalized_shape):
    return tuple(range(x.ndim - len(normalized_shape), x.ndim))


def _upcast(x):
    # PyTorch accumulates half-precision statistics in float32 (its "opmath" type)
    return x.astype(jnp.float32) if x.dtype in _HALF else x


def _layer_norm(ctx, x, normalized_shape, eps):
    axes = _axes(x, normalized_shape)
    h = _upcast(x)
    mean = jnp.mean(h, axis=axes, keepdims=True)
    centered = h - mean
    var = jnp.mean(centered * centered, axis=axes, keepdims=True)
    return (centered * lax.rsqrt(var + eps)).astype(x.dtype)


def _rms_norm(ctx, x, normalized_shape, eps):
    h = _upcast(x)
    ms = jnp.mean(h * h, axis=_axes(x, normalized_shape), keepdims=True)
    return (h * lax.rsqrt(ms + eps)).astype(x.dtype)


RULES = {
    "layer_norm": _layer_norm,
    "rms_norm": _rms_norm,
}
