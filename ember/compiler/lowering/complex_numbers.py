"""JAX rules for complex numbers (see `ember/graphdef/ops/complex_numbers.py`)."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax


def _angle(ctx, z):
    if jnp.iscomplexobj(z):
        return jnp.angle(z)
    # PyTorch's real angle: pi below zero, 0 elsewhere (-0.0 too), NaN kept
    pi = jnp.asarray(math.pi, z.dtype)
    return jnp.where(jnp.isnan(z), z, jnp.where(z < 0, pi, jnp.zeros_like(z)))


RULES = {
    "view_as_complex": lambda ctx, x: lax.complex(x[..., 0], x[..., 1]),
    "view_as_real": lambda ctx, z: jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1),
    "complex": lambda ctx, re, im: lax.complex(*jnp.broadcast_arrays(re, im)),
    "polar": lambda ctx, r, theta: lax.complex(r * jnp.cos(theta), r * jnp.sin(theta)),
    "real": lambda ctx, z: jnp.real(z),
    "imag": lambda ctx, z: jnp.imag(z),
    "angle": _angle,
    "conj": lambda ctx, z: jnp.conj(z),
}
