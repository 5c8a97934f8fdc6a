"""RMSprop with PyTorch's update rule (centered variant and momentum included)."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from ember.optim.rule import RuleOptimizer, lerp


class RMSprop(RuleOptimizer):
    """`torch.optim.RMSprop`, step for step.

    `s = alpha * s + (1 - alpha) * g**2`; the denominator is `sqrt(s) + eps`
    (centered: `sqrt(s - mean(g)**2) + eps`), eps outside the sqrt as in torch
    (`optax.rmsprop` adds it inside the sqrt).
    With momentum the buffer accumulates `g / denom` from zero. Weight decay is
    coupled L2. Momentum buffers exist for groups built with `momentum > 0`.

    Example:
        >>> opt = RMSprop(model.parameters(), lr=1e-2, alpha=0.9, centered=True)
    """

    complements = ("alpha",)

    elementwise = True  # a stacked unit updates like its layers, without vmap

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        maximize: bool = False,
    ):
        if min(lr, alpha, eps, weight_decay, momentum) < 0:
            raise ValueError("RMSprop: lr, alpha, eps, weight_decay and momentum must be >= 0")
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _structure(self, group):
        return {"momentum_buffer": group["momentum"] > 0}

    def _init_slots(self, param, group):
        return {
            "square_avg": jnp.zeros_like(param),
            "grad_avg": jnp.zeros_like(param) if group["centered"] else (),
            "momentum_buffer": jnp.zeros_like(param) if group["momentum"] > 0 else (),
        }

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        alpha = hp["alpha"]
        square_avg = slots["square_avg"] * alpha + hp["one_minus_alpha"] * g * g
        new = dict(slots, square_avg=square_avg)
        if group["centered"]:
            grad_avg = lerp(slots["grad_avg"], g, hp["one_minus_alpha"])
            new["grad_avg"] = grad_avg
            avg = jnp.sqrt(square_avg + (-1 * grad_avg) * grad_avg)
        else:
            avg = jnp.sqrt(square_avg)
        avg = avg + hp["eps"]
        if group["momentum"] > 0:
            buf = slots["momentum_buffer"] * hp["momentum"] + g / avg
            new["momentum_buffer"] = buf
            return param - hp["lr"] * buf, new
        return param + (-hp["lr"]) * g / avg, new
