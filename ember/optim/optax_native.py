"""Optimizers without a PyTorch counterpart, taken from optax as they are.

Each group runs its own `optax.inject_hyperparams(...)` instance; before every
update the group's numeric hyperparameters are copied from
`OptimizerState.hyperparams` into it, so changing `group["lr"]` still only
needs a state refresh. Their math is optax's; the constructor arguments use
PyTorch-style names (`lr`, `betas`, `weight_decay`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax.numpy as jnp
import optax

from ember.optim.base import Optimizer, OptimizerState, _as_list, _like


class OptaxOptimizer(Optimizer):
    """Base for wrappers of an optax alias; subclasses set `_factory`, `_kwargs`."""

    _factory: Callable[..., optax.GradientTransformation]

    def _kwargs(self, hp: dict[str, Any], group: dict) -> dict[str, Any]:
        """The alias's keyword arguments: traced ones from `hp`, static from `group`."""
        raise NotImplementedError

    def build(self, named_params: list[tuple[str, Any]]) -> optax.GradientTransformation:
        labels = self.group_labels(named_params)
        groups = self._mark_built()
        members = [[i for i, lb in enumerate(labels) if lb == gi] for gi in range(len(groups))]
        txs = []
        for hp, group in zip(self.hyperparams(), groups, strict=True):
            kwargs = self._kwargs(hp, group)
            static = tuple(k for k, v in kwargs.items() if not isinstance(v, float))
            txs.append(optax.inject_hyperparams(self._factory, static_args=static)(**kwargs))

        def init(params):
            params = _as_list(params, len(labels))
            inner = tuple(
                tx.init([params[i] for i in idx]) if idx else None
                for tx, idx in zip(txs, members, strict=True)
            )
            return OptimizerState(self.hyperparams_state(), inner)

        def update(grads, state, params=None):
            if params is None:
                raise ValueError(f"{type(self).__name__} needs the current params")
            grads_in = grads
            grads, params = _as_list(grads, len(labels)), _as_list(params, len(labels))
            updates = [jnp.zeros_like(p) for p in params]  # parameters in no group stay
            inner = list(state.inner)
            for gi, (tx, idx) in enumerate(zip(txs, members, strict=True)):
                if not idx:
                    continue
                maximize = groups[gi].get("maximize", False)
                sub_g = [-grads[i] if maximize else grads[i] for i in idx]
                traced = self._kwargs(state.hyperparams[gi], groups[gi])
                # Numeric alias arguments ember does not expose keep their defaults.
                hps = {k: traced.get(k, v) for k, v in inner[gi].hyperparams.items()}
                sub_state = inner[gi]._replace(hyperparams=hps)
                sub_u, inner[gi] = tx.update(sub_g, sub_state, [params[i] for i in idx])
                for i, u in zip(idx, sub_u, strict=True):
                    updates[i] = u
            return _like(grads_in, updates), OptimizerState(state.hyperparams, tuple(inner))

        return optax.GradientTransformation(init, update)


class Lion(OptaxOptimizer):
    """Lion (Chen et al. 2023), as `optax.lion`.

    `u = sign(b1 * m + (1 - b1) * g)`, then `m = b2 * m + (1 - b2) * g`, and
    `p -= lr * (u + weight_decay * p)` (decoupled decay, scaled by lr). Defaults
    follow the paper's PyTorch code: weight_decay 0 (optax's default is 1e-3).

    Example:
        >>> opt = Lion(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)
    """

    _factory = staticmethod(optax.lion)

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _kwargs(self, hp, group):
        return dict(
            learning_rate=hp["lr"],
            b1=hp["betas0"],
            b2=hp["betas1"],
            weight_decay=hp["weight_decay"],
        )


class LAMB(OptaxOptimizer):
    """LAMB (You et al. 2020), as `optax.lamb`.

    The Adam direction `m_hat / (sqrt(v_hat) + eps)` plus `weight_decay * p` is
    rescaled per parameter tensor by the trust ratio `||p|| / ||update||` (1 when
    either norm is 0), then `p -= lr * update`. No trust-ratio clipping.

    Example:
        >>> opt = LAMB(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    _factory = staticmethod(optax.lamb)

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _kwargs(self, hp, group):
        return dict(
            learning_rate=hp["lr"],
            b1=hp["betas0"],
            b2=hp["betas1"],
            eps=hp["eps"],
            weight_decay=hp["weight_decay"],
        )


class OptaxAdafactor(OptaxOptimizer):
    """`optax.adafactor` (for torch's variant use `Adafactor`).

    Factored second moments for dims >= `min_dim_size_to_factor`, decay
    `1 - (t + 1 - decay_offset) ** -decay_rate`, update clipped to RMS
    `clipping_threshold`, scaled by `lr` and by the parameter's RMS
    (`multiply_by_parameter_scale`), optional first moment `momentum`.
    `weight_decay` is optax's `weight_decay_rate`: added after the lr scaling, so
    `p -= weight_decay * p` is *not* multiplied by lr (None: off).
    `min_dim_size_to_factor`, `factored`, `multiply_by_parameter_scale` and the
    None-ness of `clipping_threshold`/`momentum`/`weight_decay` are static.

    Example:
        >>> opt = OptaxAdafactor(model.parameters(), lr=1e-2, momentum=0.9)
    """

    static_keys = ("min_dim_size_to_factor",)
    _factory = staticmethod(optax.adafactor)

    def __init__(
        self,
        params: Iterable | None = None,
        lr: float = 1e-2,
        decay_rate: float = 0.8,
        decay_offset: int = 0,
        clipping_threshold: float | None = 1.0,
        momentum: float | None = None,
        weight_decay: float | None = None,
        eps: float = 1e-30,
        min_dim_size_to_factor: int = 128,
        multiply_by_parameter_scale: bool = True,
        factored: bool = True,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            decay_rate=decay_rate,
            decay_offset=decay_offset,
            clipping_threshold=clipping_threshold,
            momentum=momentum,
            weight_decay=weight_decay,
            eps=eps,
            min_dim_size_to_factor=min_dim_size_to_factor,
            multiply_by_parameter_scale=multiply_by_parameter_scale,
            factored=factored,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _kwargs(self, hp, group):
        return dict(
            learning_rate=hp["lr"],
            decay_rate=hp["decay_rate"],
            decay_offset=hp["decay_offset"],
            clipping_threshold=hp.get("clipping_threshold"),
            momentum=hp.get("momentum"),
            weight_decay_rate=hp.get("weight_decay"),
            eps=hp["eps"],
            min_dim_size_to_factor=group["min_dim_size_to_factor"],
            multiply_by_parameter_scale=group["multiply_by_parameter_scale"],
            factored=group["factored"],
            # Passed explicitly: inject_hyperparams would take the jnp.float32 default,
            # a callable, for a schedule.
            dtype_momentum=jnp.float32,
        )
