"""Composite, cyclic and metric-driven schedulers .

Unlike torch, `OneCycleLR` and `CyclicLR` keep their per-group anchors
(`max_lr`, `min_lr`, `base_momentum`, `max_momentum`) in the scheduler instead of
in the param groups: an ember optimizer turns every numeric group entry into a
hyperparameter of the compiled step, and these are not hyperparameters.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, Literal, SupportsFloat

from ember.optim.lr_scheduler.base import LRScheduler, _check_optimizer, _per_group

__all__ = [
    "SequentialLR",
    "ChainedScheduler",
    "CyclicLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
]


def _check_children(owner: str, optimizer: Any, schedulers: Sequence[LRScheduler]) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{owner} expects at least one scheduler, but got none.")
    for i, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{owner} at index {i} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` (its step() needs a "
                f"metric), but got one at index {i}."
            )
        if scheduler.optimizer is not optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but "
                f"the {type(scheduler).__name__} at index {i} has a different one."
            )


def _momentum_key(optimizer: Any) -> str:
    """'betas' (cycle beta1, Adam-like) or 'momentum' (SGD-like), as torch picks."""
    defaults = getattr(optimizer, "defaults", optimizer.param_groups[0])
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
        )
    return "betas" if "betas" in defaults else "momentum"


def _set_momentum(optimizer: Any, use_beta1: bool, values: list[float]) -> None:
    for group, m in zip(optimizer.param_groups, values, strict=True):
        if use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m


class SequentialLR(LRScheduler):
    """Run `schedulers` one after another, switching at each of `milestones`.

    Example::

        warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
        decay = CosineAnnealingLR(optimizer, T_max=95)
        sched = SequentialLR(optimizer, [warmup, decay], milestones=[5])
    """

    def __init__(
        self,
        optimizer: Any,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        _check_children(type(self).__name__, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "SequentialLR expects one more scheduler than milestones, but got "
                f"{len(schedulers)} schedulers and {len(milestones)} milestones"
            )
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # Each child already made its initial step when it was built: reset the lrs and
        # undo those steps, then redo the initial step of the first scheduler only.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def recursive_undo(self, sched: LRScheduler | None = None) -> None:
        """Step back `last_epoch` of every (nested) child scheduler by one."""
        sched = self if sched is None else sched
        if hasattr(sched, "_schedulers"):
            for child in sched._schedulers:
                self.recursive_undo(child)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Advance one step, handing over to the next scheduler at a milestone."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)  # restart the new scheduler at its epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(LRScheduler):
    """Step several schedulers together, each acting on the lr the previous one left.

    Example::

        constant = ConstantLR(optimizer, factor=0.1, total_iters=2)
        sched = ChainedScheduler([constant, ExponentialLR(optimizer, gamma=0.9)])
    """

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Any | None = None) -> None:
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler, but got none.")
        optimizer = schedulers[0].optimizer if optimizer is None else optimizer
        _check_children(type(self).__name__, optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = self._current_lrs()

    def step(self) -> None:  # type: ignore[override]
        """Step every chained scheduler once, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._current_lrs()


# mode -> (scale function of (gamma, x), what x counts)
_SCALE_FNS: dict[str, tuple[Callable[[float, float], float], str]] = {
    "triangular": (lambda gamma, x: 1.0, "cycle"),
    "triangular2": (lambda gamma, x: 1 / (2.0 ** (x - 1)), "cycle"),
    "exp_range": (lambda gamma, x: gamma**x, "iterations"),
}


class CyclicLR(LRScheduler):
    """Cycle the lr between `base_lr` and `max_lr` (and momentum inversely), per batch.

    `mode` is 'triangular', 'triangular2' or 'exp_range', or give your own
    `scale_fn(x)` with `scale_mode` 'cycle' or 'iterations'.

    Example::

        sched = CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=2000)
        for batch in loader:
            train_step(batch)
            sched.step()
    """

    def __init__(
        self,
        optimizer: Any,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                group["lr"] = lr
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in _SCALE_FNS and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else _SCALE_FNS[mode][1]
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer) == "betas"
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                _set_momentum(optimizer, self.use_beta1, self.max_momentums)
        super().__init__(optimizer, last_epoch)
        # After the initial step, as torch does (it matters only when the groups
        # already had an "initial_lr" from an earlier scheduler).
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The amplitude scale at cycle number or iteration `x`."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return _SCALE_FNS[self.mode][0](self.gamma, x)

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle  # position within the cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [
            base + (top - base) * scale_factor * scale
            for base, top in zip(self.base_lrs, self.max_lrs, strict=True)
        ]
        if self.cycle_momentum:
            momentums = [
                top - (top - base) * scale_factor * scale
                for base, top in zip(self.base_momentums, self.max_momentums, strict=True)
            ]
            _set_momentum(self.optimizer, self.use_beta1, momentums)
        return lrs


# anneal_strategy -> f(start, end, pct): from start (pct=0) to end (pct=1)
_ANNEAL: dict[str, Callable[[float, float, float], float]] = {
    "cos": lambda start, end, pct: end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1),
    "linear": lambda start, end, pct: (end - start) * pct + start,
}


class OneCycleLR(LRScheduler):
    """The 1cycle policy, per batch: warm up to `max_lr`, then anneal far below.

    Starts at `max_lr / div_factor`, ends at that `/ final_div_factor`; momentum (or
    Adam's beta1) cycles inversely between `max_momentum` and `base_momentum`.
    Give `total_steps`, or `epochs` and `steps_per_epoch`.

    Example::

        sched = OneCycleLR(optimizer, 0.1, epochs=10, steps_per_epoch=len(loader))
        for epoch in range(10):
            for batch in loader:
                train_step(batch)
                sched.step()
    """

    def __init__(
        self,
        optimizer: Any,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, value in (
                ("epochs", epochs),
                ("steps_per_epoch", steps_per_epoch),
            ):
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(f"Expected positive integer {name}, but got {value}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in _ANNEAL:
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy

        # Phases: [end_step, start_lr, end_lr, start_momentum, end_momentum] (anchors).
        warmup_end = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if three_phase:
            peak_end = float(2 * pct_start * self.total_steps) - 2
            self._schedule_phases = [
                [warmup_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [peak_end, "max_lr", "initial_lr", "base_momentum", "max_momentum"],
                [last, "initial_lr", "min_lr", "max_momentum", "max_momentum"],
            ]
        else:
            self._schedule_phases = [
                [warmup_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [last, "max_lr", "min_lr", "base_momentum", "max_momentum"],
            ]

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        initial_lrs = [m / div_factor for m in max_lrs]
        self._anchors: dict[str, list[float]] = {
            "initial_lr": initial_lrs,
            "max_lr": max_lrs,
            "min_lr": [lr / final_div_factor for lr in initial_lrs],
        }
        if last_epoch == -1:
            for group, lr in zip(optimizer.param_groups, initial_lrs, strict=True):
                group["initial_lr"] = lr
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer) == "betas"
            self._anchors["max_momentum"] = _per_group("max_momentum", optimizer, max_momentum)
            self._anchors["base_momentum"] = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                _set_momentum(optimizer, self.use_beta1, self._anchors["max_momentum"])
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        start_step = 0.0
        for i, phase in enumerate(self._schedule_phases):
            end_step = phase[0]
            if step <= end_step or i == len(self._schedule_phases) - 1:
                break
            start_step = end_step
        pct = (step - start_step) / (end_step - start_step)
        anneal, a = _ANNEAL[self._anneal_func_type], self._anchors
        _, lr0, lr1, m0, m1 = phase
        if self.cycle_momentum:
            momentums = [anneal(s, e, pct) for s, e in zip(a[m0], a[m1], strict=True)]
            _set_momentum(self.optimizer, self.use_beta1, momentums)
        return [anneal(s, e, pct) for s, e in zip(a[lr0], a[lr1], strict=True)]


# (mode, threshold_mode) -> is `a` a significant improvement over `best`?
_IS_BETTER: dict[tuple[str, str], Callable[[float, float, float], bool]] = {
    ("min", "rel"): lambda a, best, th: a < best * (1.0 - th),
    ("min", "abs"): lambda a, best, th: a < best - th,
    ("max", "rel"): lambda a, best, th: a > best * (th + 1.0),
    ("max", "abs"): lambda a, best, th: a > best + th,
}


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by `factor` once a metric stops improving for `patience` steps.

    Example::

        sched = ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=3)
        for epoch in range(100):
            train_one_epoch()
            sched.step(validation_loss())
    """

    def __init__(
        self,
        optimizer: Any,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        self.optimizer = optimizer
        self.factor = factor
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        """Whether metric `a` beats `best` by more than the threshold."""
        return _IS_BETTER[self.mode, self.threshold_mode](a, best, self.threshold)

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this step's metric; reduce the lr if it plateaued past `patience`."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown don't count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):  # a param group was added since
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The optimizer now has {len(groups)} param groups but "
                    f"ReduceLROnPlateau got {len(self.min_lrs)} min_lrs; update "
                    "`min_lrs`."
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:  # skip negligible updates
                group["lr"] = new_lr
