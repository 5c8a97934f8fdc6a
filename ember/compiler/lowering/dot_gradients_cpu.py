"""CPU lowering of `linear` whose weight gradient XLA:CPU would run on its slow path
(`linear_transposed_cotangent`).

XLA:CPU hands a dot to its fast matmul kernels (YNNPACK, the `ynn_fusion` kernels of a
profile) when the left operand contracts its last dim; a dot whose left operand
contracts its *leading* dim (`lhs_contracting_dims={0}`) runs in Eigen's generic
contraction instead: for a (2048, 128) x (2048, 512) weight gradient 2.05 ms, against
1.32 ms for an explicit transpose (0.14 ms) and the fast kernel (PyTorch 0.84 ms).
JAX's reverse mode writes exactly such a dot for a linear layer's weight gradient
(`dW = dyᵀ x`, contracting the batch).

The rule is a custom JVP whose weight tangent is written as `(tW xᵀ)ᵀ` with the inner
product held by `lax.optimization_barrier` (XLA would otherwise fold the transpose back
into the dot's dimension numbers). The barrier is linear and transposes to itself, so
reverse mode (JAX's transpose of the tangent) materializes `dyᵀ` and multiplies in the
fast form. Values, gradients, forward mode and Hessians are JAX's own arithmetic and
equal the default rule's in float64 (tests/test_backend_rules.py). The same treatment of
`conv_im2col`'s input gradient (`wᵀ dy`) measured 3-10 % slower on the CNN of
bench/bench_vs_pytorch.py and no faster on ResNet-18, so convs keep XLA's form.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from ember.graphdef import Node


def _contract_last(x, w, precision):
    """`x @ wᵀ` for x (..., K) and w (O, K), as the default `linear` rule writes it."""
    return lax.dot_general(x, w, (((x.ndim - 1,), (1,)), ((), ())), precision=precision)


def _tangent_sum(*terms):
    """The sum of the tangent terms that are not symbolic zeros (None when all are)."""
    present = [t for t in terms if t is not None]
    return sum(present[1:], present[0]) if present else None


# Smaller weight gradients keep the default rule: the extra transpose kernel costs more
# than Eigen's slow path saves (measured alone, a 10x128 layer's gradient took 1.1-1.6x
# the default's time, a 128x784 one 0.76-0.95x); and so do small batches (the seed MLP's
# step, `bench/bench_mlp.py`, against the default rule: batch 64 ~10 % slower, 128-256
# even, 512 3 % and 1024 8 % faster).
MIN_WEIGHT_SIZE = 1 << 14
MIN_ROWS = 256


def cotangent_no_wider_than_input(node: Node) -> bool:
    """`linear` with out_features <= in_features (the cotangent this rule transposes,
    rows x out, is no larger than the layer's input), a weight of at least
    `MIN_WEIGHT_SIZE` elements and at least `MIN_ROWS` rows (the batch dims' product)."""
    out_features, in_features = node.inputs[1].type.shape
    rows = math.prod(node.inputs[0].type.shape[:-1])
    return (
        out_features <= in_features
        and out_features * in_features >= MIN_WEIGHT_SIZE
        and rows >= MIN_ROWS
    )


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def _linear(x, w, precision):
    return _contract_last(x, w, precision)


def _linear_jvp(precision, primals, tangents):
    x, w = primals
    tx, tw = tangents
    y = _contract_last(x, w, precision)
    from_x = None if isinstance(tx, SymbolicZero) else _contract_last(tx, w, precision)
    from_w = None
    if not isinstance(tw, SymbolicZero):
        # (tW xᵀ)ᵀ through a barrier: its transpose is `barrier(dyᵀ) @ x`, the fast form
        rows = x.reshape(-1, x.shape[-1])
        wide = lax.dot_general(tw, rows, (((1,), (1,)), ((), ())), precision=precision)
        from_w = lax.optimization_barrier(wide).T.reshape(y.shape)
    ty = _tangent_sum(from_x, from_w)
    return y, jnp.zeros_like(y) if ty is None else ty


_linear.defjvp(_linear_jvp, symbolic_zeros=True)


def linear_transposed_cotangent(ctx, x, w, b=None):
    y = _linear(x, w, ctx.precision)
    return y if b is None else y + b
