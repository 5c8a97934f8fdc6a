"""The scheduler base class and the single-formula schedulers (PyTorch semantics)."""

from __future__ import annotations

import math
import types
import warnings
from bisect import bisect_right
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR"]
__all__ += ["ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR"]
__all__ += ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]

# Plain functions can't be saved as data; torch drops them from the state too.
_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, partial)


def _check_optimizer(optimizer: Any) -> None:
    # Duck-typed on purpose: any ember optimizer (or look-alike) with groups works.
    if not isinstance(getattr(optimizer, "param_groups", None), list):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _per_group(name: str, optimizer: Any, value: Any) -> list:
    """`value` broadcast to one entry per param group (lists must match)."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {n}."
            )
        return list(value)
    return [value] * n


def _encode(value: Any) -> Any:
    """A JSON-able copy of a scheduler attribute."""
    if isinstance(value, LRScheduler):
        return value.state_dict()
    if callable(value):
        return None if isinstance(value, _FUNCTIONS) else dict(vars(value))
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(current: Any, saved: Any) -> Any:
    """The attribute value after loading `saved` into `current` (in place if live)."""
    if isinstance(current, LRScheduler):
        current.load_state_dict(saved)
        return current
    if callable(current):  # a lambda or callable object: keep it, restore its fields
        if saved is not None:
            vars(current).update(saved)
        return current
    if isinstance(current, list) and any(
        callable(c) or isinstance(c, LRScheduler) for c in current
    ):
        return [_decode(c, s) for c, s in zip(current, saved, strict=True)]
    return saved


class LRScheduler:
    """Base class: adjusts `group["lr"]` of an optimizer's param groups each `step()`.

    Subclasses implement `get_lr()` (the chainable form, which may read the current
    `group["lr"]`) and optionally `_get_closed_form_lr()`, used by `step(epoch)`.

    Example::

        class Halve(LRScheduler):
            def get_lr(self):
                return [base / 2**self.last_epoch for base in self.base_lrs]

        sched = Halve(optimizer)
        for epoch in range(10):
            train_one_epoch()
            sched.step()
    """

    _is_initial: bool = False

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] "
                        "when resuming a scheduler with last_epoch >= 0; restore the "
                        "optimizer state first"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        # Some schedulers keep the current lr on this step, so that constructing one
        # with last_epoch >= 0 (resuming) does not advance the schedule twice.
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lrs at `self.last_epoch`; read the current ones with `get_last_lr()`."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` set, one per param group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule one step (an epoch or a batch, as the caller uses it).

        Passing `epoch` is deprecated in torch and kept for compatibility: it jumps to
        that epoch using the closed form where the scheduler has one.
        """
        if epoch is not None:
            warnings.warn(
                "passing an epoch to scheduler.step() is deprecated; call step() "
                "without arguments (the closed form is used where available)",
                UserWarning,
                stacklevel=2,
            )
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        self._apply(values)

    def _apply(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, JSON-able (lambdas become None)."""
        return {k: _encode(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()`: lambdas stay, callable objects get their fields."""
        for key, saved in state_dict.items():
            current = vars(self).get(key)
            setattr(self, key, _decode(current, saved) if key in vars(self) else saved)


class _FactorLR(LRScheduler):
    """A scheduler whose chainable step multiplies the current lr by one factor and
    whose closed form multiplies the base lr by another (most of torch's)."""

    def _factor(self) -> float | None:  # None: keep the current lr unchanged
        raise NotImplementedError

    def _closed_factor(self) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        factor = self._factor()
        if factor is None:
            return self._current_lrs()
        return [lr * factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        factor = self._closed_factor()
        return [base_lr * factor for base_lr in self.base_lrs]


class StepLR(_FactorLR):
    """Multiply the lr by `gamma` every `step_size` epochs.

    Example::

        sched = StepLR(optimizer, step_size=30, gamma=0.1)  # 0.05, then 0.005 at 30
    """

    def __init__(
        self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float | None:
        e = self.last_epoch
        return None if e == 0 or e % self.step_size != 0 else self.gamma

    def _closed_factor(self) -> float:
        return self.gamma ** (self.last_epoch // self.step_size)


class MultiStepLR(_FactorLR):
    """Multiply the lr by `gamma` at each milestone (twice if listed twice).

    Example::

        sched = MultiStepLR(optimizer, milestones=[30, 80], gamma=0.1)
    """

    def __init__(
        self,
        optimizer: Any,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        # A sorted list (torch keeps a Counter) so the state stays JSON-able.
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float | None:
        hits = self.milestones.count(self.last_epoch)
        return self.gamma**hits if hits else None

    def _closed_factor(self) -> float:
        return self.gamma ** bisect_right(self.milestones, self.last_epoch)


class ConstantLR(_FactorLR):
    """Multiply the lr by `factor` for the first `total_iters` epochs.

    Example::

        sched = ConstantLR(optimizer, factor=0.5, total_iters=4)  # 0.025 x4, then 0.05
    """

    def __init__(
        self,
        optimizer: Any,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float | None:
        if self.last_epoch == 0:
            return self.factor
        return 1.0 / self.factor if self.last_epoch == self.total_iters else None

    def _closed_factor(self) -> float:
        return self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)


class LinearLR(_FactorLR):
    """Scale the lr linearly from `start_factor` to `end_factor` over `total_iters`.

    Example::

        sched = LinearLR(optimizer, start_factor=0.1, total_iters=5)  # warm-up
    """

    def __init__(
        self,
        optimizer: Any,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or "
                "equal to 1."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float | None:
        e, delta = self.last_epoch, self.end_factor - self.start_factor
        if e == 0:
            return self.start_factor
        if self._is_initial or e > self.total_iters:
            return None
        return 1.0 + delta / (self.total_iters * self.start_factor + (e - 1) * delta)

    def _closed_factor(self) -> float:
        delta = self.end_factor - self.start_factor
        return self.start_factor + delta * min(self.total_iters, self.last_epoch) / self.total_iters


class ExponentialLR(_FactorLR):
    """Multiply the lr by `gamma` every epoch.

    Example::

        sched = ExponentialLR(optimizer, gamma=0.95)
    """

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float | None:
        return None if self._is_initial else self.gamma

    def _closed_factor(self) -> float:
        return self.gamma**self.last_epoch


class PolynomialLR(_FactorLR):
    """Decay the lr as `base_lr * (1 - epoch / total_iters) ** power`, then hold it.

    Example::

        sched = PolynomialLR(optimizer, total_iters=50, power=0.9)
    """

    def __init__(
        self,
        optimizer: Any,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float | None:
        e, t = self.last_epoch, self.total_iters
        if self._is_initial or e > t:
            return None
        return ((1.0 - e / t) / (1.0 - (e - 1) / t)) ** self.power

    def _closed_factor(self) -> float:
        return (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power


class _LambdaScheduler(LRScheduler):
    def __init__(
        self,
        optimizer: Any,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        fns = _per_group("lr_lambda", optimizer, lr_lambda)
        for fn in fns:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, got {type(fn)}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)


class LambdaLR(_LambdaScheduler):
    """Set the lr to `initial_lr * lr_lambda(epoch)` (one lambda, or one per group).

    Example::

        sched = LambdaLR(optimizer, lr_lambda=lambda epoch: 0.95**epoch)
    """

    def get_lr(self) -> list[float]:
        return [
            base_lr * fn(self.last_epoch)
            for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]


class MultiplicativeLR(_LambdaScheduler):
    """Multiply the lr by `lr_lambda(epoch)` every epoch (one lambda, or one per group).

    Example::

        sched = MultiplicativeLR(optimizer, lr_lambda=lambda epoch: 0.95)
    """

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [
            lr * fn(self.last_epoch)
            for fn, lr in zip(self.lr_lambdas, self._current_lrs(), strict=True)
        ]


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from `initial_lr` to `eta_min` along a half cosine of `T_max`.

    Uses torch's recursive form (each step rescales the *current* lr), so other
    changes to the lr compose with it and values match torch's; past `T_max` the
    cosine continues back up, as in torch.

    Example::

        sched = CosineAnnealingLR(optimizer, T_max=100, eta_min=1e-5)
    """

    def __init__(
        self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e, t, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (e - 1 - t) % (2 * t) == 0:
            # At the bottom of the cosine the ratio below is 0/0: step up additively.
            return [
                lr + (base_lr - eta_min) * (1 - math.cos(math.pi / t)) / 2
                for base_lr, lr in zip(self.base_lrs, self._current_lrs(), strict=True)
            ]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        cos_term = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base_lr - self.eta_min) * cos_term / 2 for base_lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted after `T_0` epochs, then `T_mult` times longer each.

    `step()` advances one epoch; `step(epoch)` accepts a fractional epoch, so it can be
    called every batch with `epoch + batch / batches_per_epoch`.

    Example::

        sched = CosineAnnealingWarmRestarts(optimizer, T_0=10, T_mult=2)
        for epoch in range(70):
            for i, batch in enumerate(loader):
                train_step(batch)
                sched.step(epoch + i / len(loader))
    """

    def __init__(
        self,
        optimizer: Any,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min!r}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cos_term = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base_lr - self.eta_min) * cos_term / 2 for base_lr in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or jump to `epoch` (may be fractional, >= 0)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        elif epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            # n: index of the current period; T_0 * (T_mult**n - 1) / (T_mult - 1)
            # epochs precede it.
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult**n
        self.last_epoch = math.floor(epoch)
        self._apply(self.get_lr())
