"""The Adam family with PyTorch's update rules: Adam, AdamW, Adamax, NAdam, RAdam."""

from __future__ import annotations

from collections.abc import Iterable

import jax.numpy as jnp

from ember.optim.rule import RuleOptimizer, lerp, one_minus_pow


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
    m = lerp(m, g, hp["one_minus_betas0"])
    v = v * hp["betas1"] + hp["one_minus_betas1"] * g * g
    return m, v


def _rho_t(step, x, terms: int = 24):
    """RAdam's `rho_inf - 2 t b**t / (1 - b**t)` for `b = 1 - x`, accurate in float32.

    Written directly it subtracts two numbers near 2/x to get one near t: in float32
    that is off by ~1e-2 relative for b=0.999 (torch computes it in double). Here
    `rho_t = 2 f / (x s) - 1` with `s = 1 - b**t`, `f = 1 - b**t (1 + t x) = -expm1(h)`,
    `h = t log1p(-x) + log1p(t x)`; h's terms cancel while t x is small, so there h
    comes from its series `sum_{k>=2} ((-1)**(k+1) (t x)**k - t x**k) / k`.
    """
    log_b_t = step * jnp.log1p(-x)
    s = -jnp.expm1(log_b_t)
    tx = step * x
    txc = jnp.minimum(tx, 0.5)  # the series only converges fast below 0.5
    series, tx_k, x_k = jnp.zeros_like(x), txc, x
    for k in range(2, terms + 2):
        tx_k, x_k = tx_k * txc, x_k * x
        series = series + ((1 if k % 2 else -1) * tx_k - step * x_k) / k
    h = jnp.where(tx < 0.5, series, log_b_t + jnp.log1p(tx))
    return 2 * (-jnp.expm1(h)) / (x * s) - 1


class _AdamFamily(RuleOptimizer):
    complements = ("betas0", "betas1")
    elementwise = True  # (NAdam keeps a scalar per parameter: not)

    def slot_names(self, group):
        return (
            ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
            if group.get("amsgrad")
            else (
                "exp_avg",
                "exp_avg_sq",
            )
        )


class Adam(_AdamFamily):
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
        # Distinct arrays, not one shared zeros: the runtime donates state buffers.
        return tuple(jnp.zeros_like(param) for _ in range(3 if group["amsgrad"] else 2))

    def _scalars(self, hp, group, step):
        return {
            "step_size": hp["lr"] / one_minus_pow(hp["one_minus_betas0"], step),
            "bc2_sqrt": jnp.sqrt(one_minus_pow(hp["one_minus_betas1"], step)),
        }

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g, param = _decay(g, param, hp, group["decoupled_weight_decay"])
        m, v = _moments(g, slots[0], slots[1], hp)
        step_size, bc2_sqrt = hp["step_size"], hp["bc2_sqrt"]
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


class Adamax(_AdamFamily):
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

    def slot_names(self, group):
        return ("exp_avg", "exp_inf")

    def _init_slots(self, param, group):
        return (jnp.zeros_like(param), jnp.zeros_like(param))

    def _scalars(self, hp, group, step):
        return {"clr": hp["lr"] / one_minus_pow(hp["one_minus_betas0"], step)}

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g = g + hp["weight_decay"] * param
        m = lerp(slots[0], g, hp["one_minus_betas0"])
        u = jnp.maximum(slots[1] * hp["betas1"], jnp.abs(g) + hp["eps"])
        return param + (-hp["clr"]) * m / u, (m, u)


class NAdam(_AdamFamily):
    """`torch.optim.NAdam`: Adam with Nesterov momentum and a momentum schedule.

    `mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`, with the running
    product of the mu's kept in the state (torch's `mu_product`); `optax.nadam`
    has no such schedule. Weight decay is coupled L2 unless
    `decoupled_weight_decay=True`.

    Example:
        >>> opt = NAdam(model.parameters(), lr=2e-3, momentum_decay=4e-3)
    """

    elementwise = False  # mu_product: one scalar per parameter

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

    def slot_names(self, group):
        return ("exp_avg", "exp_avg_sq", "mu_product")

    def _init_slots(self, param, group):
        # torch keeps mu_product as a float32 (float64 under x64) scalar per param.
        mu_product = jnp.ones([], jnp.promote_types(jnp.finfo(param.dtype).dtype, jnp.float32))
        return (jnp.zeros_like(param), jnp.zeros_like(param), mu_product)

    def _scalars(self, hp, group, step):
        b1, decay = hp["betas0"], hp["momentum_decay"]
        return {
            "bc2": one_minus_pow(hp["one_minus_betas1"], step),
            "mu": b1 * (1.0 - 0.5 * 0.96 ** (step * decay)),
            "mu_next": b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay)),
        }

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g, param = _decay(g, param, hp, group["decoupled_weight_decay"])
        lr, bc2, mu, mu_next = hp["lr"], hp["bc2"], hp["mu"], hp["mu_next"]
        mu_product = slots[2] * mu
        mu_product_next = mu_product * mu_next
        m, v = _moments(g, slots[0], slots[1], hp)
        denom = jnp.sqrt(v / bc2) + hp["eps"]
        param = param + (-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
        param = param + ((-lr * mu_next) / (1.0 - mu_product_next)) * m / denom
        return param, (m, v, mu_product)


class RAdam(_AdamFamily):
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

    def _scalars(self, hp, group, step):
        x = hp["one_minus_betas1"]
        rho_inf = 2 / x - 1
        rho_t = _rho_t(step, x)
        rectified = rho_t > 5.0
        # Select the ratio before the sqrt: it may be negative on the unused branch.
        ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        return {
            "bc1": one_minus_pow(hp["one_minus_betas0"], step),
            "bc2_sqrt": jnp.sqrt(one_minus_pow(x, step)),
            "rectified": rectified,
            "rect": jnp.sqrt(jnp.where(rectified, ratio, 1.0)),
        }

    def _update(self, grad, param, slots, hp, group, step):
        g = -grad if group["maximize"] else grad
        g, param = _decay(g, param, hp, group["decoupled_weight_decay"])
        m, v = _moments(g, slots[0], slots[1], hp)
        corrected = m / hp["bc1"]
        adaptive = hp["bc2_sqrt"] / (jnp.sqrt(v) + hp["eps"])
        rectified = corrected * hp["lr"] * adaptive * hp["rect"]
        return param - jnp.where(hp["rectified"], rectified, corrected * hp["lr"]), (m, v)
