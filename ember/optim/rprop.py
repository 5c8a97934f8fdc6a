"""Rprop (resilient backpropagation) with PyTorch's update rule."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from ember.optim.rule import RuleOptimizer


class Rprop(RuleOptimizer):
    """`torch.optim.Rprop`, step for step.

    Each element keeps its own step size, started at `lr`. Per step, with
    `s = sign(g * prev)`: where the gradient kept its sign (`s > 0`) the step
    size grows by `etas[1]`, where it flipped (`s < 0`) it shrinks by `etas[0]`
    and that element does not move this step (its gradient counts as 0, and
    `prev` becomes 0); the step size is clamped to `step_sizes = (min, max)`.
    Then `p -= sign(g) * step_size` and `prev = g`. Only the gradient's sign is
    used, so Rprop suits full-batch training. `lr` is read once, when the state
    is created (as torch does): changing it later has no effect.

    torch's state names: `step`, `prev`, `step_size` (`optimizer.state[p]`).

    Example:
        >>> opt = Rprop(model.parameters(), lr=1e-2)
        >>> opt = Rprop(model.parameters(), lr=1e-2, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0))
    """

    elementwise = True  # a stacked unit updates like its layers, without vmap

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        maximize: bool = False,
    ):
        if not lr >= 0:
            raise ValueError(f"Rprop: invalid learning rate {lr} (must be >= 0)")
        etas, step_sizes = tuple(etas), tuple(step_sizes)
        if len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(
                f"Rprop: invalid etas {etas}: need (etaminus, etaplus) with "
                "0 < etaminus < 1 < etaplus"
            )
        if len(step_sizes) != 2 or not 0.0 <= step_sizes[0] <= step_sizes[1]:
            raise ValueError(
                f"Rprop: invalid step_sizes {step_sizes}: need (min, max) with 0 <= min <= max"
            )
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize)
        super().__init__(params, defaults)

    def slot_names(self, group):
        return ("prev", "step_size")

    def _init_slots(self, param, group):
        # The step size starts at the lr the group has when the state is created (both
        # parts of a complex one: they are two independent reals, as in PyTorch).
        lr = complex(group["lr"], group["lr"]) if jnp.iscomplexobj(param) else group["lr"]
        return (jnp.zeros_like(param), jnp.full_like(param, lr))

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        prev, step_size = slots
        sign = jnp.sign(g * prev)
        etaminus, etaplus = hp["etas0"], hp["etas1"]
        # torch overwrites sign's entries: > 0 -> etaplus, < 0 -> etaminus, == 0 -> 1
        # (a NaN stays NaN).
        one = jnp.ones_like(sign)
        factor = jnp.where(
            sign > 0, etaplus, jnp.where(sign < 0, etaminus, jnp.where(sign == 0, one, sign))
        )
        step_size = jnp.minimum(
            jnp.maximum(step_size * factor, hp["step_sizes0"]), hp["step_sizes1"]
        )
        # Where the sign flipped the element rests this step and forgets its gradient.
        g = jnp.where(sign < 0, jnp.zeros_like(g), g)
        return param - jnp.sign(g) * step_size, (g, step_size)
