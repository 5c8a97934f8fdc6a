"""JAX rules for softmax, nll_loss, dropout, constants and state writes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .random import fold_key


def _nll_loss(ctx, logp, target, weight=None, *, reduction, ignore_index):
    class_dim = 1 if logp.ndim >= 2 else 0
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0).astype(jnp.int32)
    picked = jnp.take_along_axis(logp, jnp.expand_dims(safe, class_dim), axis=class_dim)
    picked = jnp.squeeze(picked, class_dim)
    w = jnp.ones_like(picked) if weight is None else weight[safe]
    w = jnp.where(valid, w, 0.0).astype(logp.dtype)
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    return jnp.sum(loss) / jnp.sum(w)  # PyTorch: weighted mean; NaN when all are ignored


def _dropout(ctx, x, key, p, salt, mode):
    if p == 1.0:
        return jnp.zeros_like(x)
    key = fold_key(key, salt)
    if mode == "alpha":
        alpha = -1.7580993408473766  # -scale * alpha of SELU
        keep = jax.random.bernoulli(key, 1.0 - p, x.shape)
        a = 1.0 / np.sqrt((1 - p) * (1 + p * alpha**2))
        b = -a * alpha * p
        return (a * jnp.where(keep, x, alpha) + b).astype(x.dtype)
    if mode == "element":
        shape = x.shape
    elif x.ndim == 2:  # an unbatched (C, L) input: one draw per channel
        shape = (x.shape[0], 1)
    else:  # (N, C, *spatial): one draw per sample and channel
        shape = x.shape[:2] + (1,) * (x.ndim - 2)
    keep = jax.random.bernoulli(key, 1.0 - p, shape)
    return jnp.where(keep, x / (1.0 - p), 0.0).astype(x.dtype)


def _flat(value) -> list:
    return [x for v in value for x in _flat(v)] if isinstance(value, tuple) else [value]


def _constant(ctx, value, shape, dtype):
    if isinstance(value, tuple):  # flattened first: a nested literal need not be rectangular
        return jnp.asarray(np.asarray(_flat(value), dtype=dtype).reshape(shape))
    return jnp.full(shape, value, dtype=dtype)


RULES = {
    # a 0-d input is one class: probability 1 (PyTorch), with a zero gradient
    "softmax": lambda ctx, x, dim: jax.nn.softmax(x, axis=dim) if jnp.ndim(x) else x - x + 1,
    "log_softmax": lambda ctx, x, dim: jax.nn.log_softmax(x, axis=dim) if jnp.ndim(x) else x - x,
    "nll_loss": _nll_loss,
    "dropout": _dropout,
    "constant": _constant,
    "iota": lambda ctx, start, step, size, dtype: (start + step * jnp.arange(size)).astype(dtype),
    "buffer_write": lambda ctx, x, name: x,
}
