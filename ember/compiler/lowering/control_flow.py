"""JAX rules for cond, scan, fori_loop, while_loop (jax.lax) and remat (jax.checkpoint).

A sub-graph's inputs are its arguments, then the captured tensors (which keep
their kind: data, param, buffer or rng); a lowered body is called positionally.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def _body(ctx, graph) -> Callable:
    from ember.compiler.lower import lower  # lower.py imports this package: import at use

    return lower(graph, ctx.precision).run


def _cond(ctx, pred, *operands):
    true_g, false_g = ctx.node.subgraphs
    return tuple(jax.lax.cond(pred, _body(ctx, true_g), _body(ctx, false_g), *operands))


def _scan(ctx, *operands, num_carry, num_xs, length, reverse):
    body = _body(ctx, ctx.node.subgraphs[0])
    carry = operands[:num_carry]
    xs = operands[num_carry : num_carry + num_xs]
    consts = operands[num_carry + num_xs :]

    def step(c, x):
        out = body(*c, *x, *consts)
        return out[:num_carry], out[num_carry:]

    carry, ys = jax.lax.scan(step, tuple(carry), tuple(xs), length=length, reverse=reverse)
    return (*carry, *ys)


def _fori_loop(ctx, *operands, lower, upper, num_carry):
    body = _body(ctx, ctx.node.subgraphs[0])
    consts = operands[num_carry:]

    def step(i, c):
        # static bounds: jax lowers this to a scan, so it is reverse-differentiable
        return body(jnp.asarray(i, jnp.int32), *c, *consts)

    return tuple(jax.lax.fori_loop(lower, upper, step, tuple(operands[:num_carry])))


def _while_loop(ctx, *operands, num_carry):
    cond_g, body_g = ctx.node.subgraphs
    cond, body = _body(ctx, cond_g), _body(ctx, body_g)
    consts = operands[num_carry:]
    return tuple(
        jax.lax.while_loop(
            lambda c: cond(*c, *consts)[0], lambda c: body(*c, *consts), tuple(operands[:num_carry])
        )
    )


def _remat(ctx, *operands, policy):
    body = _body(ctx, ctx.node.subgraphs[0])
    saved = getattr(jax.checkpoint_policies, policy)
    return tuple(jax.checkpoint(body, policy=saved)(*operands))


RULES = {
    "cond": _cond,
    "scan": _scan,
    "fori_loop": _fori_loop,
    "while_loop": _while_loop,
    "remat": _remat,
}
