"""Callbacks that steer a run: `TerminateOnNaN` and `LambdaCallback`."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import numpy as np

from ember.errors import NonFiniteError
from ember.runtime.callbacks import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as a logged loss is NaN or infinite.

    Checks the batch logs whose name is `loss` or ends with `loss` (all logs if none
    does) after every dispatch. That is a device-to-host read per dispatch, which
    waits for the step to finish: it removes the overlap of host and device work that
    `fit` otherwise has (use `steps_per_execution=K` to check every K steps).
    `terminated_at` is the batch index that stopped training (None otherwise).

    Example::

        model.fit(x, y, epochs=10, callbacks=[TerminateOnNaN()])
    """

    def __init__(self) -> None:
        self.terminated_at: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.terminated_at = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not logs:
            return
        names = [k for k in logs if k.endswith("loss")] or list(logs)
        try:
            self.model.check_guard()  # this batch's verdict (this callback syncs anyway)
            values = jax.device_get([logs[k] for k in names])
        except NonFiniteError as error:  # guard="raise" saw it first and skipped the update
            self._stop(batch, str(error).split(";")[0])
            return
        for name, value in zip(names, values, strict=True):
            if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
                self._stop(batch, f"{name} is {value}")
                return

    def _stop(self, batch: int, what: str) -> None:
        warnings.warn(f"TerminateOnNaN: {what} at batch {batch}; stopping", stacklevel=3)
        self.terminated_at = batch
        self.model.stop_training = True


_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
)


class LambdaCallback(Callback):
    """A callback from plain functions, one per hook you need.

    Hooks and their arguments: `on_train_begin(logs)`, `on_train_end(logs)`,
    `on_epoch_begin(epoch, logs)`, `on_epoch_end(epoch, logs)`,
    `on_train_batch_begin(batch, logs)`, `on_train_batch_end(batch, logs)`.

    Example::

        lrs = []
        log_lr = LambdaCallback(
            on_epoch_end=lambda epoch, logs: lrs.append(opt.param_groups[0]["lr"])
        )
        model.fit(x, y, epochs=5, callbacks=[log_lr])
    """

    def __init__(self, **hooks: Callable | None):
        unknown = sorted(set(hooks) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {unknown}; known: {list(_HOOKS)}")
        for name, fn in hooks.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {fn!r}")
        self.hooks = {k: v for k, v in hooks.items() if v is not None}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if "on_train_begin" in self.hooks:
            self.hooks["on_train_begin"](logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        if "on_train_end" in self.hooks:
            self.hooks["on_train_end"](logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if "on_epoch_begin" in self.hooks:
            self.hooks["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if "on_epoch_end" in self.hooks:
            self.hooks["on_epoch_end"](epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if "on_train_batch_begin" in self.hooks:
            self.hooks["on_train_batch_begin"](batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if "on_train_batch_end" in self.hooks:
            self.hooks["on_train_batch_end"](batch, logs)
