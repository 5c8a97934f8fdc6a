"""`SWALR`: anneal each group's lr to a constant SWA lr (PyTorch's `swa_utils.SWALR`).

Its public home is `ember.optim.swa_utils`, as in PyTorch. Unlike PyTorch, the
target lrs stay in the scheduler (`swa_lrs`) instead of in the param groups as
`group["swa_lr"]`: an ember optimizer turns every numeric group entry into a
hyperparameter of its compiled step, so adding one after the step was built would
be a structural change (see `compound.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from ember.optim.lr_scheduler.base import LRScheduler, _check_optimizer, _per_group

__all__ = ["SWALR"]


def _linear_anneal(t: float) -> float:
    return t


def _cosine_anneal(t: float) -> float:
    return (1 - math.cos(math.pi * t)) / 2


_ANNEALS = {"cos": _cosine_anneal, "linear": _linear_anneal}


class SWALR(LRScheduler):
    """Move each group's lr from its current value to `swa_lr` over `anneal_epochs`
    steps along a half cosine (`"cos"`) or a line (`"linear"`), then hold it there.

    Like PyTorch's, each step starts from the lr the group has now, so it takes over
    smoothly from whatever schedule ran before.

    Example::

        swa_model = AveragedModel(net)
        swa_scheduler = SWALR(optimizer, swa_lr=0.05, anneal_epochs=5)
        for epoch in range(100):
            train_one_epoch()
            if epoch >= 75:
                swa_model.update_parameters(net)
                swa_scheduler.step()
    """

    def __init__(
        self,
        optimizer: Any,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.swa_lrs = _per_group("swa_lr", optimizer, swa_lr)
        if anneal_strategy not in _ANNEALS:
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        if not isinstance(anneal_epochs, int) or isinstance(anneal_epochs, bool):
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        if anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self._anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        # PyTorch counts calls to step() (the constructor's included), not last_epoch: a
        # scheduler built with last_epoch >= 0 still starts its annealing from step 0.
        self._step_count = 0
        super().__init__(optimizer, last_epoch)

    @property
    def anneal_func(self) -> Callable[[float], float]:
        """The annealing curve: t in [0, 1] -> the weight of `swa_lr`."""
        return _ANNEALS[self._anneal_strategy]

    def step(self, epoch: int | None = None) -> None:
        self._step_count += 1
        super().step(epoch)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self.anneal_func(max(0.0, min(1.0, (step - 1) / span)))
        alpha = self.anneal_func(max(0.0, min(1.0, step / span)))
        out = []
        for lr, swa_lr in zip(self._current_lrs(), self.swa_lrs, strict=True):
            # the lr before annealing began, recovered from the current (partly annealed) one
            start = swa_lr if prev_alpha == 1 else (lr - prev_alpha * swa_lr) / (1 - prev_alpha)
            out.append(swa_lr * alpha + start * (1 - alpha))
        return out
