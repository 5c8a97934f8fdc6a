"""JAX rules for shape ops."""

from __future__ import annotations

import jax
import jax.numpy as jnp

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(ctx, x, pads, mode, value):
    # negative padding crops first; the positive part is then padded in `mode`
    crop = tuple(
        slice(max(0, -pads[2 * i]), x.shape[i] - max(0, -pads[2 * i + 1])) for i in range(x.ndim)
    )
    x = x[crop]
    widths = [(max(0, pads[2 * i]), max(0, pads[2 * i + 1])) for i in range(x.ndim)]
    if mode == "constant":
        return jnp.pad(x, widths, mode="constant", constant_values=jnp.asarray(value, x.dtype))
    return jnp.pad(x, widths, mode=_PAD_MODES[mode])


def _tri(fn):
    return lambda ctx, x, diagonal: fn(x, k=diagonal)


RULES = {
    "reshape": lambda ctx, x, shape: jnp.reshape(x, shape),
    "transpose": lambda ctx, x, perm: jnp.transpose(x, perm),
    "broadcast_to": lambda ctx, x, shape: jnp.broadcast_to(x, shape),
    "slice": lambda ctx, x, starts, stops, steps: jax.lax.slice(x, starts, stops, steps),
    # lax.split, not one slice per piece: its transpose is one concatenate, while the
    # pieces' slices transpose to zero-padded copies that XLA then adds up
    "split": lambda ctx, x, sizes, dim: tuple(jax.lax.split(x, sizes, axis=dim % x.ndim)),
    "concatenate": lambda ctx, *xs, dim: jnp.concatenate(xs, axis=dim),
    "stack": lambda ctx, *xs, dim: jnp.stack(xs, axis=dim),
    "pad": _pad,
    "flip": lambda ctx, x, dims: jnp.flip(x, axis=dims),
    "roll": lambda ctx, x, shifts, dims: jnp.roll(x, shifts, axis=dims),
    "tril": _tri(jnp.tril),
    "triu": _tri(jnp.triu),
}
