"""JAX rules for `call` (inline the body), `grad` (`jax.grad` of the body) and
`value_and_grad` (`jax.value_and_grad`: the gradients, then the body's value)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _call(ctx, *operands, name):
    from ..lower import lower  # lower.py imports this package: import at use

    return tuple(lower(ctx.node.subgraphs[0], ctx.precision).run(*operands))


def _grad(ctx, *operands, num_wrt):
    from ..lower import lower

    run = lower(ctx.node.subgraphs[0], ctx.precision).run
    wrt, rest = tuple(operands[:num_wrt]), operands[num_wrt:]
    return torch_convention(jax.grad(lambda w: run(*w, *rest)[0])(wrt))


def _value_and_grad(ctx, *operands, num_wrt):
    from ..lower import lower

    run = lower(ctx.node.subgraphs[0], ctx.precision).run
    wrt, rest = tuple(operands[:num_wrt]), operands[num_wrt:]
    value, grads = jax.value_and_grad(lambda w: run(*w, *rest)[0])(wrt)
    return (*torch_convention(grads), value)


def torch_convention(grads) -> tuple:
    """Gradients of a real loss in PyTorch's convention: for a complex tensor z = x + iy,
    dL/dx + i dL/dy (JAX returns its conjugate), so `p - lr * grad` descends."""
    return tuple(jax.tree_util.tree_map(torch_gradient, tuple(grads)))


def torch_gradient(g):
    """One gradient in PyTorch's convention (see `torch_convention`)."""
    return jnp.conj(g) if jnp.iscomplexobj(g) else g


RULES = {"call": _call, "grad": _grad, "value_and_grad": _value_and_grad}
