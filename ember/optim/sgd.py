"""Stochastic gradient descent with PyTorch's momentum, dampening and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from ember.optim.rule import RuleOptimizer


class SGD(RuleOptimizer):
    """`torch.optim.SGD`, step for step.

    Weight decay is coupled (`g += weight_decay * p`). The momentum buffer starts
    as the first gradient (no dampening on step 1), then
    `buf = momentum * buf + (1 - dampening) * g`; Nesterov steps along
    `g + momentum * buf`. `optax.sgd` instead starts the buffer at zero and has no
    dampening. Momentum buffers exist for groups built with `momentum != 0`;
    turning momentum on later needs a rebuild.

    Example:
        >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    """

    elementwise = True  # a stacked unit updates like its layers, without vmap
    torch_step_count = False  # torch's SGD state is the momentum buffer alone

    def slot_names(self, group):
        return "momentum_buffer"

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("SGD: lr, momentum and weight_decay must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _structure(self, group):
        return {"momentum_buffer": group["momentum"] != 0}

    def _init_slots(self, param, group):
        return jnp.zeros_like(param) if group["momentum"] != 0 else ()

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        if group["momentum"] != 0:
            mom = hp["momentum"]
            buf = jnp.where(step == 1, g, slots * mom + (1 - hp["dampening"]) * g)
            g = g + mom * buf if group["nesterov"] else buf
            slots = buf
        return param - hp["lr"] * g, slots
