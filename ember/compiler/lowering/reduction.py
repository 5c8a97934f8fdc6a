"""JAX rules for reductions."""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import logsumexp


def _axes(x, dims):
    # PyTorch (and the infer rules) accept dim 0 or -1 of a 0-d tensor; JAX has no such axis,
    # and reducing all (no) axes of a 0-d array gives the same result
    return None if dims is None or jnp.ndim(x) == 0 else tuple(dims)


def _sum(ctx, x, dims, keepdim):
    dtype = ctx.out_dtype(0)
    return jnp.sum(x, axis=_axes(x, dims), keepdims=keepdim, dtype=dtype)


def _var(ctx, x, dims, keepdim, correction):
    return jnp.var(x, axis=_axes(x, dims), keepdims=keepdim, ddof=correction)


def _std(ctx, x, dims, keepdim, correction):
    return jnp.std(x, axis=_axes(x, dims), keepdims=keepdim, ddof=correction)


def _safe_root(s, p):
    # d/ds s**(1/p) is infinite at s == 0; PyTorch's norm has gradient 0 there
    zero = s == 0
    return jnp.where(zero, 0.0, jnp.where(zero, 1.0, s) ** (1.0 / p)).astype(s.dtype)


def _norm(ctx, x, dims, keepdim, ord):
    axis = _axes(x, dims)
    a = jnp.abs(x)
    if ord == float("inf"):
        return jnp.max(a, axis=axis, keepdims=keepdim)
    if ord == float("-inf"):
        return jnp.min(a, axis=axis, keepdims=keepdim)
    if ord == 0.0:
        return jnp.sum(x != 0, axis=axis, keepdims=keepdim).astype(x.dtype)
    if ord == 1.0:
        return jnp.sum(a, axis=axis, keepdims=keepdim)
    if ord == 2.0:
        return _safe_root(jnp.sum(x * x, axis=axis, keepdims=keepdim), 2.0)
    return _safe_root(jnp.sum(a**ord, axis=axis, keepdims=keepdim), ord)


def _arg(fn):
    def rule(ctx, x, dim, keepdim):
        if dim is None or x.ndim == 0:  # dim 0 of a 0-d tensor: its only element, index 0
            out = fn(x.reshape(-1)).astype(jnp.int32)
            return out.reshape((1,) * x.ndim) if keepdim else out
        return fn(x, axis=dim, keepdims=keepdim).astype(jnp.int32)

    return rule


def _value_index(value_fn, index_fn):
    def rule(ctx, x, dim, keepdim):
        if x.ndim == 0:  # PyTorch allows dim 0 of a 0-d tensor
            return x, jnp.zeros((), jnp.int32)
        return (
            value_fn(x, axis=dim, keepdims=keepdim),
            index_fn(x, axis=dim, keepdims=keepdim).astype(jnp.int32),
        )

    return rule


def _scan(fn):
    def rule(ctx, x, dim):
        return fn(x, axis=dim, dtype=ctx.out_dtype(0)) if x.ndim else x.astype(ctx.out_dtype(0))

    return rule


RULES = {
    "sum": _sum,
    "prod": lambda ctx, x, dims, keepdim: jnp.prod(
        x, axis=_axes(x, dims), keepdims=keepdim, dtype=ctx.out_dtype(0)
    ),
    "mean": lambda ctx, x, dims, keepdim: jnp.mean(x, axis=_axes(x, dims), keepdims=keepdim),
    "amax": lambda ctx, x, dims, keepdim: jnp.max(x, axis=_axes(x, dims), keepdims=keepdim),
    "amin": lambda ctx, x, dims, keepdim: jnp.min(x, axis=_axes(x, dims), keepdims=keepdim),
    "logsumexp": lambda ctx, x, dims, keepdim: logsumexp(x, axis=_axes(x, dims), keepdims=keepdim),
    "var": _var,
    "std": _std,
    "norm": _norm,
    "all": lambda ctx, x, dims, keepdim: jnp.all(x, axis=_axes(x, dims), keepdims=keepdim),
    "any": lambda ctx, x, dims, keepdim: jnp.any(x, axis=_axes(x, dims), keepdims=keepdim),
    "argmax": _arg(jnp.argmax),
    "argmin": _arg(jnp.argmin),
    "max_dim": _value_index(jnp.max, jnp.argmax),
    "min_dim": _value_index(jnp.min, jnp.argmin),
    "cumsum": _scan(jnp.cumsum),
    "cumprod": _scan(jnp.cumprod),
}
