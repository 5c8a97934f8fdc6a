"""`LRSchedulerCallback`: steps an `ember.optim.lr_scheduler` per batch or per epoch."""

from __future__ import annotations

import warnings
from typing import Any

import jax

from ember.callbacks._monitor import _StepCounter
from ember.runtime.callbacks import Callback


class LRSchedulerCallback(Callback):
    """Step an `ember.optim.lr_scheduler` scheduler from `fit`: per epoch or per step.

    `interval="epoch"` calls `scheduler.step()` at each epoch end (as a PyTorch loop
    calls it after each epoch); `interval="step"` calls it after every train step (with
    `steps_per_execution=K`, K times after each dispatch: the lr is constant inside a
    dispatch). A `ReduceLROnPlateau` gets `scheduler.step(logs[monitor])` (monitor
    defaults to "val_loss"; with `interval="step"` it reads the batch logs, a host
    read per step). Changing the lr never recompiles. `state_dict()` is the
    scheduler's, so a resumed `fit` continues the schedule.

    Example::

        opt = optim.SGD(net.parameters(), lr=0.1)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
        model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=opt)
        model.fit(x, y, epochs=10, callbacks=[LRSchedulerCallback(sched, interval="step")])
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str | None = None):
        from ember.optim.lr_scheduler import ReduceLROnPlateau

        if interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        if not hasattr(scheduler, "step"):
            raise TypeError(f"{type(scheduler).__name__} is not a learning-rate scheduler")
        self.scheduler = scheduler
        self.interval = interval
        self.plateau = isinstance(scheduler, ReduceLROnPlateau)
        self.monitor = monitor if monitor is not None else ("val_loss" if self.plateau else None)
        self._counter = _StepCounter()
        self._warned = False

    def _step(self, logs: dict | None) -> None:
        if self.monitor is None:
            self.scheduler.step()
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"LRSchedulerCallback monitors {self.monitor!r} but the logs have only "
                    f"{sorted(logs or {})}; the scheduler is not stepped",
                    stacklevel=3,
                )
            return
        self.scheduler.step(float(jax.device_get(value)))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.interval == "step":
            self._counter.begin(batch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.interval == "step":
            for _ in range(self._counter.end(batch)):
                self._step(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.interval == "epoch":
            self._step(logs)

    def get_last_lr(self) -> list[float]:
        return self.scheduler.get_last_lr()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


# -- logging --------------------------------------------------------------------------------
