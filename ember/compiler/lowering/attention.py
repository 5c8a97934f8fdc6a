"""JAX rules for `dot_product_attention`: the unfused formulation (bit-for-bit the ops the
pattern came from) and, as a GPU alternative, `jax.nn.dot_product_attention`."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _unfused(ctx, q, k, v, mask=None, *, scale, mask_kind, scale_query):
    kt = jnp.swapaxes(k, -1, -2)
    scale = jnp.asarray(scale, q.dtype)
    if scale_query:
        scores = jnp.matmul(q * scale, kt, precision=ctx.precision)
    else:
        scores = jnp.matmul(q, kt, precision=ctx.precision) * scale
    neg_inf = jnp.asarray(-jnp.inf, scores.dtype)
    if mask_kind == "allowed":
        scores = jnp.where(mask, scores, neg_inf)
    elif mask_kind == "disallowed":
        scores = jnp.where(mask, neg_inf, scores)
    elif mask_kind == "additive":
        scores = scores + mask
    return jnp.matmul(jax.nn.softmax(scores, axis=-1), v, precision=ctx.precision)


def fused_attention(ctx, q, k, v, mask=None, *, scale, mask_kind, scale_query):
    """jax.nn.dot_product_attention on (B, N, T, H) operands (it takes (B, T, N, H)); JAX
    picks cuDNN's fused kernel where it supports the shapes and dtype, else XLA's."""
    to_btnh = (0, 2, 1, 3)
    q, k, v = (jnp.transpose(x, to_btnh) for x in (q, k, v))
    bias = mask if mask_kind == "additive" else None
    allowed = mask if mask_kind == "allowed" else ~mask if mask_kind == "disallowed" else None
    out = jax.nn.dot_product_attention(q, k, v, bias=bias, mask=allowed, scale=scale)
    return jnp.transpose(out, to_btnh)


RULES = {"dot_product_attention": _unfused}
