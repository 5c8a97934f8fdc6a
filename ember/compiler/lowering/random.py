"""JAX rules for random sampling and sorting."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def fold_key(key, salt: int | None):
    """The typed key a sampling node draws from; `salt=None`: `key` is already folded."""
    key = jax.random.wrap_key_data(key, impl="threefry2x32")
    return key if salt is None else jax.random.fold_in(key, salt)


_key = fold_key


def _fold_in(ctx, key, salt):
    return jax.random.key_data(fold_key(key, salt))


def _uniform(ctx, key, shape, dtype, salt, low, high):
    return jax.random.uniform(_key(key, salt), shape, dtype, minval=low, maxval=high)


def _normal(ctx, key, shape, dtype, salt):
    return jax.random.normal(_key(key, salt), shape, dtype)


def _integers(ctx, key, shape, dtype, salt, low, high):
    return jax.random.randint(_key(key, salt), shape, low, high, dtype=dtype)


def _permutation(ctx, key, n, dtype, salt):
    return jax.random.permutation(_key(key, salt), n).astype(dtype)


def _multinomial(ctx, probs, key, num_samples, replacement, salt):
    k = _key(key, salt)
    logits = jnp.log(probs.astype(jnp.float32))
    if replacement:
        shape = (num_samples, *probs.shape[:-1])
        draws = jax.random.categorical(k, logits, axis=-1, shape=shape)
        return jnp.moveaxis(draws, 0, -1).astype(jnp.int32)
    # without replacement: the Gumbel top-k trick (distinct categories, torch's distribution)
    gumbel = jax.random.gumbel(k, probs.shape, jnp.float32)
    return jax.lax.top_k(logits + gumbel, num_samples)[1].astype(jnp.int32)


def _sort(ctx, x, dim, descending, stable):
    if x.ndim == 0:
        return x, jnp.zeros((), jnp.int32)
    order = jnp.argsort(x, axis=dim, stable=True, descending=descending)
    return jnp.take_along_axis(x, order, axis=dim), order.astype(jnp.int32)


def _topk(ctx, x, k, dim, largest, sorted):
    if x.ndim == 0:
        return x, jnp.zeros((), jnp.int32)
    moved = jnp.moveaxis(x, dim, -1)
    values, idx = jax.lax.top_k(moved if largest else -moved, k)
    values = values if largest else -values
    return jnp.moveaxis(values, -1, dim), jnp.moveaxis(idx, -1, dim).astype(jnp.int32)


RULES = {
    "random_uniform": _uniform,
    "random_normal": _normal,
    "random_integers": _integers,
    "random_permutation": _permutation,
    "random_fold_in": _fold_in,
    "multinomial": _multinomial,
    "sort": _sort,
    "topk": _topk,
}
