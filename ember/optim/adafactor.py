"""Adafactor with PyTorch's update rule (`torch.optim.Adafactor`)."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp
from jax import lax

from ember.optim.rule import RuleOptimizer, lerp


def _rms(x):
    return jnp.sqrt(jnp.sum(x * x)) / jnp.sqrt(float(max(x.size, 1)))


class Adafactor(RuleOptimizer):
    """`torch.optim.Adafactor`, step for step (torch's variant, not optax's).

    Per step t: `beta2_t = 1 - t ** beta2_decay`, relative step
    `rho_t = min(lr, 1 / sqrt(t))`, step size `alpha = max(eps2, rms(p)) * rho_t`.
    Tensors of rank >= 2 keep row and column second-moment factors over the last
    two dims; vectors keep the full second moment. The update `g / sqrt(v)` is
    divided by `max(1, rms(update) / d)`. Weight decay is decoupled
    (`p *= 1 - lr * wd`). `eps=(None, eps2)` uses the dtype's machine epsilon as
    eps1. No first moment, as in torch. For optax's Adafactor (different
    defaults, momentum, parameter-scale options) use `OptaxAdafactor`.

    Example:
        >>> opt = Adafactor(model.parameters(), lr=1e-2)
    """

    takes_complex = False  # its factored moments are over real matrices (as in PyTorch)

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        if lr < 0 or beta2_decay > 0 or d < 1 or weight_decay < 0:
            raise ValueError("Adafactor: need lr >= 0, beta2_decay <= 0, d >= 1, wd >= 0")
        if (eps[0] is not None and eps[0] < 0) or eps[1] < 0:
            raise ValueError(f"Adafactor: eps must be >= 0, got {eps}")
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=tuple(eps),
            d=d,
            weight_decay=weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_slots(self, param, group):
        if param.ndim > 1:
            row = jnp.zeros(param.shape[:-1] + (1,), param.dtype)
            col = jnp.zeros(param.shape[:-2] + (1, param.shape[-1]), param.dtype)
            return {"row_var": row, "col_var": col}
        return {"variance": jnp.zeros_like(param)}

    def _scalars(self, hp, group, step):
        return {
            "beta2_t": step ** hp["beta2_decay"],  # 1 - beta2_t in the paper's terms
            "rho_t": jnp.minimum(hp["lr"], 1 / jnp.sqrt(step)),
        }

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        eps1 = jnp.finfo(group["param_dtype"]).eps if group["eps"][0] is None else hp["eps0"]
        beta2_t = hp["beta2_t"]
        alpha = jnp.maximum(hp["eps1"], _rms(param)) * hp["rho_t"]
        param = param * (1 - hp["lr"] * hp["weight_decay"])
        if param.ndim > 1:
            row_mean = jnp.square(jnp.sqrt(jnp.sum(g * g, axis=-1, keepdims=True))) / g.shape[-1]
            col_mean = jnp.square(jnp.sqrt(jnp.sum(g * g, axis=-2, keepdims=True))) / g.shape[-2]
            row_var = lerp(slots["row_var"], row_mean, beta2_t)
            col_var = lerp(slots["col_var"], col_mean, beta2_t)
            # The outer product as a broadcast: a matmul could run at reduced precision.
            var = row_var * col_var
            var = var / jnp.maximum(jnp.mean(row_var, axis=-2, keepdims=True), eps1)
            new_slots = {"row_var": row_var, "col_var": col_var}
        else:
            var = lerp(slots["variance"], g * g, beta2_t)
            new_slots = {"variance": var}
        update = lax.rsqrt(jnp.maximum(var, eps1 * eps1)) * g
        norm = jnp.sqrt(jnp.sum(update * update))
        denom = jnp.maximum(1.0, norm / (jnp.sqrt(float(max(update.size, 1))) * hp["d"]))
        return param + (-alpha / denom) * update, new_slots
