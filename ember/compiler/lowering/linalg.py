"""JAX rules for matmul, linear and einsum."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def _linear(ctx, x, w, b=None):
    # contract x's last dim with w's dim 1: no explicit transpose in the program
    y = lax.dot_general(x, w, (((x.ndim - 1,), (1,)), ((), ())), precision=ctx.precision)
    return y if b is None else y + b


RULES = {
    "matmul": lambda ctx, a, b: jnp.matmul(a, b, precision=ctx.precision),
    "linear": _linear,
    "einsum": lambda ctx, *xs, equation: jnp.einsum(equation, *xs, precision=ctx.precision),
}
