"""JAX rules for shape ops."""

from __future__ import annotations

import jax
import jax.numpy as jnp

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(ctx, x, pads, mode, value):
    widths = [(pads[2 * i], pads[2 * i + 1]) for i in range(x.ndim)]
    if any(lo < 0 or hi < 0 for lo, hi in widths):  # negative padding crops
        cfg = [(lo, hi, 0) for lo, hi in widths]
        return jax.lax.pad(x, jnp.asarray(value, x.dtype), cfg)
    if mode == "constant":
        return jnp.pad(x, widths, mode="constant", constant_values=value)
    return jnp.pad(x, widths, mode=_PAD_MODES[mode])


def _scatter(ctx, x, index, src, dim, reduce):
    idx = [jnp.broadcast_to(jnp.arange(s).reshape([-1 if i == d else 1 for i in range(index.ndim)]),
                            index.shape) for d, s in enumerate(index.shape)]
    idx[dim] = index
    src = src[tuple(slice(0, s) for s in index.shape)] if src.ndim else jnp.broadcast_to(src, index.shape)
    at = x.at[tuple(idx)]
    ops = {"none": at.set, "add": at.add, "sum": at.add, "multiply": at.multiply, "prod": at.multiply,
           "amax": at.max, "amin": at.min}
    return ops[reduce](src)


def _tri(fn):
    return lambda ctx, x, diagonal: fn(x, k=diagonal)


RULES = {
    "reshape": lambda ctx, x, shape: jnp.reshape(x, shape),
    "transpose": lambda ctx, x, perm: jnp.transpose(x, perm),
    "broadcast_to": lambda ctx, x, shape: jnp.broadcast_to(x, shape),
    "slice": lambda ctx, x, starts, stops, steps: jax.lax.slice(x, starts, stops, steps),
    "concatenate": lambda ctx, *xs, dim: jnp.concatenate(xs, axis=dim),
    "pad": _pad,
    "take_along_dim": lambda ctx, x, index, dim: jnp.take_along_axis(x, index, axis=dim,
                                                                     mode="clip"),
    "index_select": lambda ctx, x, index, dim: jnp.take(x, index, axis=dim, mode="clip"),
    "flip": lambda ctx, x, dims: jnp.flip(x, axis=dims),
    "roll": lambda ctx, x, shifts, dims: jnp.roll(x, shifts, axis=dims),
    "tril": _tri(jnp.tril),
    "triu": _tri(jnp.triu),
    "scatter": _scatter,
}
