"""Gradient transforms applied inside the fused step (PyTorch's clipping semantics)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ember.optim.base import stack_entries, unstack_entries


def clip_grad_norm(max_norm: float, norm_type: float = 2.0) -> Callable:
    """Like `torch.nn.utils.clip_grad_norm_`: scale by min(1, max_norm / (total_norm + 1e-6))."""

    def apply(grads):
        leaves = jax.tree_util.tree_leaves(grads)
        if norm_type == float("inf"):
            total = jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves]))
        else:
            total = sum(jnp.sum(_modulus(g) ** norm_type) for g in leaves) ** (1.0 / norm_type)
        coef = jnp.minimum(max_norm / (total + 1e-6), 1.0)
        return jax.tree_util.tree_map(lambda g: (g * coef).astype(g.dtype), grads)

    apply.any_grouping = True  # a global norm: the same on stacked gradients
    return apply


def _modulus(g) -> jax.Array:
    return jnp.abs(g) if jnp.iscomplexobj(g) else jnp.abs(g.astype(jnp.float32))


def clip_grad_value(clip_value: float) -> Callable:
    """Like `torch.nn.utils.clip_grad_value_`: clamp every gradient to [-v, v]."""

    def apply(grads):
        return jax.tree_util.tree_map(lambda g: jnp.clip(g, -clip_value, clip_value), grads)

    apply.any_grouping = True  # elementwise
    return apply


def chain(*transforms: Callable | None) -> Callable | None:
    """The transforms in order, as one `apply(grads, entries=None)`. `entries`: the
    optimizer's stored units (stacked storage hands the step one gradient per unit); a
    user's transform still gets one gradient per parameter (the slicing and restacking
    fold away in XLA), the built-in clipping works on either."""
    active = [t for t in transforms if t is not None]
    if not active:
        return None

    def apply(grads, entries: tuple | None = None):
        for t in active:
            if entries is None or getattr(t, "any_grouping", False):
                grads = t(grads)
            else:
                grads = stack_entries(list(t(unstack_entries(grads, entries))), entries)
        return grads

    return apply
