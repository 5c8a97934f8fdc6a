"""JAX rule for `custom_vjp`: `jax.custom_vjp` whose bwd runs the backward sub-graph."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _custom_vjp(ctx, *operands, name, num_residuals, grad_inputs):
    from ..lower import lower  # lower.py imports this package: import at use

    forward_graph, backward_graph = ctx.node.subgraphs
    forward = lower(forward_graph, ctx.precision).run
    backward = lower(backward_graph, ctx.precision).run
    n_out = len(forward_graph.outputs) - num_residuals
    result_types = [v.type for v in forward_graph.outputs[:n_out]]

    @jax.custom_vjp
    def call(*xs):
        return forward(*xs)[:n_out]

    def call_fwd(*xs):
        out = forward(*xs)
        return out[:n_out], out[n_out:]

    def call_bwd(residuals, cotangents):
        # integer results get float0 cotangents; the user's backward sees zeros of their type
        cotangents = [
            jnp.zeros(t.shape, t.dtype) if c.dtype == jax.dtypes.float0 else c
            for c, t in zip(cotangents, result_types, strict=True)
        ]
        grads = backward(*cotangents, *residuals)
        out: list = [None] * len(operands)  # None: no gradient for that operand
        for i, g in zip(grad_inputs, grads, strict=True):
            out[i] = g
        return tuple(out)

    call.defvjp(call_fwd, call_bwd)
    return tuple(call(*operands))


RULES = {"custom_vjp": _custom_vjp}
