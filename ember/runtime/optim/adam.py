"""The Adam family with PyTorch's update rules: Adam, AdamW, Adamax, NAdam, RAdam."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from .base import RuleOptimizer, lerp


def _check(name: str, lr: float, betas: tuple[float, float], eps: float, wd: float) -> None:
    if lr < 0 or eps < 0 or wd < 0:
        raise ValueError(f"{name}: lr, eps and weight_decay must be >= 0")
    if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
        raise ValueError(f"{name}: betas must be in [0, 1), got {betas}")


def _decay(g, param, hp, decoupled: bool):
    """Weight decay: torch's coupled L2 (into the gradient) or decoupled (AdamW)."""
    if decoupled:
        return g, param * (1 - hp["lr"] * hp["weight_decay"])
    return g + hp["weight_decay"] * param, param


def _moments(g, m, v, hp):
    m = lerp(m, g, 1 - hp["betas0"])
    v = v * hp["betas1"] + (1 - hp["betas1"]) * g * g
    return m, v


class Adam(RuleOptimizer):
    """`torch.optim.Adam`, step for step.

    eps is added to `sqrt(v) / sqrt(1 - beta2**t)` (after the bias correction of
    v, as torch does; `optax.adam`'s eps placement matches, its `eps_root` is 0).
    Weight decay is coupled L2 (`g += weight_decay * p`) unless
    `decoupled_weight_decay=True` (which is `AdamW`). `amsgrad` normalises by the
    running maximum of v. `optax.adam` has no weight decay or amsgrad option.

    Example:
        >>> opt = Adam(model.parameters(), lr=3e-4, betas=(0.9, 0.98))
    """

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        _check(type(self).__name__, lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _init_slots(self, param, group):
        zeros = jnp.zeros_like(param)
        return (zeros, zeros, zeros) if group["amsgrad"] else (zeros, zeros)

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g, param = _decay(g, param, hp, group["decoupled_weight_decay"])
        m, v = _moments(g, slots[0], slots[1], hp)
        step_size = hp["lr"] / (1 - hp["betas0"] ** step)
        bc2_sqrt = jnp.sqrt(1 - hp["betas1"] ** step)
        if group["amsgrad"]:
            v_max = jnp.maximum(slots[2], v)
            new_slots = (m, v, v_max)
        else:
            v_max = v
            new_slots = (m, v)
        denom = jnp.sqrt(v_max) / bc2_sqrt + hp["eps"]
        return param + (-step_size) * m / denom, new_slots


class AdamW(Adam):
    """`torch.optim.AdamW`: Adam with decoupled weight decay `p *= 1 - lr * wd`.

    Same as `optax.adamw` except the default weight decay (torch's 1e-2 vs
    optax's 1e-4) and the amsgrad option.

    Example:
        >>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, True)


class Adamax(RuleOptimizer):
    """`torch.optim.Adamax`: Adam with an infinity-norm second moment.

    `u = max(beta2 * u, |g| + eps)` (torch adds eps inside the max; `optax.adamax`
    adds it to the denominator instead). Weight decay is coupled L2.

    Example:
        >>> opt = Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        maximize: bool = False,
    ):
        _check("Adamax", lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _init_slots(self, param, group):
        return (jnp.zeros_like(param), jnp.zeros_like(param))

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        m = lerp(slots[0], g, 1 - hp["betas0"])
        u = jnp.maximum(slots[1] * hp["betas1"], jnp.abs(g) + hp["eps"])
        clr = hp["lr"] / (1 - hp["betas0"] ** step)
        return param + (-clr) * m / u, (m, u)


class NAdam(RuleOptimizer):
    """`torch.optim.NAdam`: Adam with Nesterov momentum and a momentum schedule.

    `mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`, with the running
    product of the mu's kept in the state (torch's `mu_product`); `optax.nadam`
    has no such schedule. Weight decay is coupled L2 unless
    `decoupled_weight_decay=True`.

    Example:
        >>> opt = NAdam(model.parameters(), lr=2e-3, momentum_decay=4e-3)
    """

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ):
        _check("NAdam", lr, betas, eps, weight_decay)
        if momentum_decay < 0:
            raise ValueError("NAdam: momentum_decay must be >= 0")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_slots(self, param, group):
        # torch keeps mu_product as a float32 (float64 under x64) scalar per param.
        mu_product = jnp.ones([], jnp.promote_types(param.dtype, jnp.float32))
        return (jnp.zeros_like(param), jnp.zeros_like(param), mu_product)

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g, param = _decay(g, param, hp, group["decoupled_weight_decay"])
        b1, lr = hp["betas0"], hp["lr"]
        bc2 = 1 - hp["betas1"] ** step
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * hp["momentum_decay"]))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * hp["momentum_decay"]))
        mu_product = slots[2] * mu
        mu_product_next = mu_product * mu_next
        m, v = _moments(g, slots[0], slots[1], hp)
        denom = jnp.sqrt(v / bc2) + hp["eps"]
        param = param + (-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
        param = param + ((-lr * mu_next) / (1.0 - mu_product_next)) * m / denom
        return param, (m, v, mu_product)


class RAdam(RuleOptimizer):
    """`torch.optim.RAdam`: Adam with the variance rectification of Liu et al.

    While the approximated SMA length `rho_t <= 5` the step is plain bias-corrected
    momentum SGD; after, the adaptive step is scaled by the rectification term.
    torch adds eps to `sqrt(v)` before the bias correction (`optax.radam` adds it
    after, and switches at `rho_t >= 5` by default). Weight decay is coupled L2
    unless `decoupled_weight_decay=True`.

    Example:
        >>> opt = RAdam(model.parameters(), lr=1e-3, decoupled_weight_decay=True)
    """

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ):
        _check("RAdam", lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_slots(self, param, group):
        return (jnp.zeros_like(param), jnp.zeros_like(param))

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g, param = _decay(g, param, hp, group["decoupled_weight_decay"])
        b2 = hp["betas1"]
        m, v = _moments(g, slots[0], slots[1], hp)
        bc2 = 1 - b2**step
        corrected = m / (1 - hp["betas0"] ** step)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2**step) / bc2
        rectified = rho_t > 5.0
        # Select the ratio before the sqrt: it may be negative on the unused branch.
        ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        rect = jnp.sqrt(jnp.where(rectified, ratio, 1.0))
        adaptive = jnp.sqrt(bc2) / (jnp.sqrt(v) + hp["eps"])
        step_vec = jnp.where(rectified, corrected * hp["lr"] * adaptive * rect, corrected * hp["lr"])
        return param - step_vec, (m, v)
