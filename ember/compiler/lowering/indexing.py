"""JAX rules for gather, index_select and scatter (PyTorch semantics).

Out-of-range indices are clamped (XLA cannot raise at run time).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _gather(ctx, x, index, dim):
    if x.ndim == 0:
        return x
    if index.size == 0:
        return jnp.zeros(index.shape, x.dtype)
    dim %= x.ndim  # a negative dim must match its axis below, not slice it as a corner
    # PyTorch lets index be smaller than x outside `dim`: only that corner is read
    corner = tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(index.shape))
    return jnp.take_along_axis(x[corner], index, axis=dim, mode="clip")


def _index_select(ctx, x, index, dim):
    if x.ndim == 0:
        return jnp.broadcast_to(x, index.shape)
    return jnp.take(x, index.reshape(-1), axis=dim, mode="clip")


def _coords(index, dim):
    """Full coordinates of each index element: its own position, `index` along `dim`."""
    grids = list(jnp.indices(index.shape, sparse=True))
    grids[dim] = index
    return tuple(jnp.broadcast_to(g, index.shape) for g in grids)


def _identity(reduce, dtype):
    """The start value that leaves a reduction unchanged (slots written with include_self=False)."""
    if reduce in ("sum", "mean", "prod"):
        return jnp.asarray(1 if reduce == "prod" else 0, dtype)
    big = jnp.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).max
    return jnp.asarray(-big if reduce == "amax" else big, dtype)


def _scatter_prod(x, coords, src):
    """x.at[coords].multiply(src) with PyTorch's gradient (JAX has none for repeated indices).

    `coords` is an argument of the custom-VJP function (with a float0 cotangent), not a
    closure: under `jax.jit` it is a tracer, which a custom VJP must not close over.
    """
    return _prod(x, src, coords)


@jax.custom_vjp
def _prod(base, values, coords):
    return base.at[coords].multiply(values)


def _prod_fwd(base, values, coords):
    return _prod(base, values, coords), (base, values, coords)


def _partial_product(e, n_zero, total):
    """The product of the other factors at each factor `e` (see `_prod_bwd`)."""
    safe = jnp.where(e == 0, 1, e)
    return jnp.where(
        e == 0, jnp.where(n_zero == 1, total, 0), jnp.where(n_zero == 0, total / safe, 0)
    )


def _prod_bwd(res, g):
    # d(prod)/d(e) = product of the other factors: the product of the non-zero factors,
    # divided by e when no factor is zero, or itself at the single zero factor
    base, values, coords = res
    zeros = (base == 0).astype(base.dtype).at[coords].add((values == 0).astype(base.dtype))
    nonzero = jnp.where(base == 0, 1, base).at[coords].multiply(jnp.where(values == 0, 1, values))
    no_grad = tuple(np.zeros(c.shape, jax.dtypes.float0) for c in coords)
    return (
        g * _partial_product(base, zeros, nonzero),
        g[coords] * _partial_product(values, zeros[coords], nonzero[coords]),
        no_grad,
    )


_prod.defvjp(_prod_fwd, _prod_bwd)


_REDUCERS = {
    "none": lambda x, coords, src: x.at[coords].set(src),
    "sum": lambda x, coords, src: x.at[coords].add(src),
    "mean": lambda x, coords, src: x.at[coords].add(src),  # divided by the count below
    "prod": _scatter_prod,
    "amax": lambda x, coords, src: x.at[coords].max(src),
    "amin": lambda x, coords, src: x.at[coords].min(src),
}


def _scatter(ctx, x, index, src, dim, reduce, include_self):
    x, index, src = jnp.asarray(x), jnp.asarray(index), jnp.asarray(src)  # `.at` needs jax arrays
    if index.size == 0:
        return x
    if x.ndim == 0:  # a 0-d scatter writes the single element
        x, index, src, squeeze = x.reshape(1), index.reshape(1), src.reshape(1), True
    else:
        squeeze = False
    src = (
        src[tuple(slice(0, s) for s in index.shape)]
        if src.ndim
        else jnp.broadcast_to(src, index.shape)
    )
    coords = _coords(index, dim)
    if reduce != "none" and not include_self:
        x = x.at[coords].set(_identity(reduce, x.dtype))
    out = _REDUCERS[reduce](x, coords, src)
    if reduce == "mean":
        count = jnp.zeros(x.shape, x.dtype).at[coords].add(1) + (1 if include_self else 0)
        count = jnp.maximum(count, 1)  # untouched slots (count 0) keep their value
        floating = jnp.issubdtype(x.dtype, jnp.floating)
        out = out / count if floating else jnp.floor_divide(out, count)
    return out.reshape(()) if squeeze else out


RULES = {
    "take_along_dim": _gather,
    "index_select": _index_select,
    "scatter": _scatter,
}
