"""ASGD (averaged stochastic gradient descent) with PyTorch's update rule."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from ember.optim.rule import RuleOptimizer


class ASGD(RuleOptimizer):
    """`torch.optim.ASGD`, step for step.

    Per step t (from 1), with the state's `eta` (started at `lr`) and `mu`
    (started at 1): `g += weight_decay * p` (coupled L2);
    `p = p * (1 - lambd * eta) - eta * g`; the average `ax` becomes `p` while
    `mu == 1`, else `ax += mu * (p - ax)`; then
    `eta = lr / (1 + lambd * lr * t) ** alpha` and `mu = 1 / max(1, t - t0)`,
    for the next step. So averaging starts once `t > t0 + 1` (the default
    `t0=1e6` effectively never). The parameters themselves follow the SGD
    iterate; the average is `optimizer.state[p]["ax"]`.

    torch's state names: `step`, `eta`, `mu` (scalars), `ax` (like the parameter).

    Example:
        >>> opt = ASGD(model.parameters(), lr=1e-2)
        >>> opt = ASGD(model.parameters(), lr=1e-2, t0=100, weight_decay=1e-4)
    """

    elementwise = False  # eta, mu: one scalar each per parameter

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        # foreach, differentiable, capturable: torch's implementation switches, accepted
        # (here also positionally, as torch's signature allows) and ignored.
        if not lr >= 0:
            raise ValueError(f"ASGD: invalid learning rate {lr} (must be >= 0)")
        if not weight_decay >= 0:
            raise ValueError(f"ASGD: invalid weight_decay {weight_decay} (must be >= 0)")
        defaults = dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def slot_names(self, group):
        return ("eta", "mu", "ax")

    def _init_slots(self, param, group):
        # torch keeps eta and mu as float32 (float64 under x64) scalars per parameter.
        dtype = jnp.promote_types(jnp.finfo(param.dtype).dtype, jnp.float32)  # real
        eta = jnp.asarray(group["lr"], dtype)
        return (eta, jnp.ones([], dtype), jnp.zeros_like(param))

    def _scalars(self, hp, group, step):
        lr = hp["lr"]
        # torch: lr / (1 + lambd * lr * t) ** alpha in double, rounded to the state's
        # float32. Written so in float32 it is off by 1 ulp in ~1/3 of the steps; this
        # form (no `1 + x` rounded first; while x is small, lr plus a small correction)
        # agrees bit for bit in all but ~1% of the steps while x < 0.05 (1-3 ulp after).
        x = hp["lambd"] * lr * step
        log_ratio = -hp["alpha"] * jnp.log1p(x)
        eta_small = lr + lr * jnp.expm1(log_ratio)
        return {
            "eta_next": jnp.where(x < 0.05, eta_small, lr * jnp.exp(log_ratio)),
            "mu_next": 1 / jnp.maximum(step - hp["t0"], 1),
        }

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        eta, mu, ax = slots
        param = param * (1 - hp["lambd"] * eta) + (-eta) * g
        ax = jnp.where(mu != 1, ax + (param - ax) * mu, param)
        eta_next = hp["eta_next"].astype(eta.dtype)
        mu_next = hp["mu_next"].astype(mu.dtype)
        return param, (eta_next, mu_next, ax)
