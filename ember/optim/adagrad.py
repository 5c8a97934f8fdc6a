"""Adagrad and Adadelta with PyTorch's update rules."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from ember.optim.rule import RuleOptimizer


class Adagrad(RuleOptimizer):
    """`torch.optim.Adagrad`, step for step.

    `sum += g**2`; `p -= clr * g / (sqrt(sum) + eps)` with the decayed rate
    `clr = lr / (1 + (t - 1) * lr_decay)`. The accumulator starts at
    `initial_accumulator_value` (read when the state is created; torch's default 0,
    optax's 0.1) and eps sits outside the sqrt (optax: 1e-7 inside). Weight decay
    is coupled L2.

    Example:
        >>> opt = Adagrad(model.parameters(), lr=1e-2, lr_decay=1e-4)
    """

    elementwise = True  # a stacked unit updates like its layers, without vmap

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        maximize: bool = False,
    ):
        if min(lr, lr_decay, weight_decay, initial_accumulator_value, eps) < 0:
            raise ValueError("Adagrad: all numeric options must be >= 0")
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def slot_names(self, group):
        return "sum"

    def _init_slots(self, param, group):
        return jnp.full_like(param, group["initial_accumulator_value"])

    def _scalars(self, hp, group, step):
        return {"clr": hp["lr"] / (1 + (step - 1) * hp["lr_decay"])}

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        state_sum = slots + g * g
        std = jnp.sqrt(state_sum) + hp["eps"]
        return param + (-hp["clr"]) * g / std, state_sum


class Adadelta(RuleOptimizer):
    """`torch.optim.Adadelta`, step for step.

    `s = rho * s + (1 - rho) * g**2`;
    `delta = sqrt(acc + eps) / sqrt(s + eps) * g`;
    `acc = rho * acc + (1 - rho) * delta**2`; `p -= lr * delta`.
    Defaults are torch's (lr=1.0, rho=0.9, eps=1e-6); weight decay is coupled L2.

    Example:
        >>> opt = Adadelta(model.parameters(), lr=1.0, rho=0.95)
    """

    complements = ("rho",)

    elementwise = True  # a stacked unit updates like its layers, without vmap

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        maximize: bool = False,
    ):
        if min(lr, eps, weight_decay) < 0 or not 0 <= rho <= 1:
            raise ValueError("Adadelta: lr, eps, weight_decay must be >= 0, rho in [0, 1]")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def slot_names(self, group):
        return ("square_avg", "acc_delta")

    def _init_slots(self, param, group):
        return (jnp.zeros_like(param), jnp.zeros_like(param))

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        rho, one_minus_rho, eps = hp["rho"], hp["one_minus_rho"], hp["eps"]
        square_avg = slots[0] * rho + one_minus_rho * g * g
        std = jnp.sqrt(square_avg + eps)
        delta = jnp.sqrt(slots[1] + eps) / std * g
        acc_delta = slots[1] * rho + one_minus_rho * delta * delta
        return param + (-hp["lr"]) * delta, (square_avg, acc_delta)
