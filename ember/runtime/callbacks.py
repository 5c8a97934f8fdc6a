"""The callback protocol of `fit` (Keras's hooks, PyTorch-minded names).

A callback may define any of `on_train_begin(logs)`, `on_train_end(logs)`,
`on_epoch_begin(epoch, logs)`, `on_epoch_end(epoch, logs)`,
`on_train_batch_begin(batch, logs)`, `on_train_batch_end(batch, logs)`; `fit`
calls `set_model(model)` first. Batch hooks run once per dispatch (with
`steps_per_execution=K`, once per K steps, with the logs of the last one). A
callback stops training with `self.model.stop_training = True`. Callbacks with
progress to keep (schedulers, early stopping) define `state_dict()` /
`load_state_dict()`: checkpoints saved by `fit` carry them, so a resumed run
continues them. Concrete callbacks live in `ember.callbacks`.
"""

from __future__ import annotations

from typing import Any


class Callback:
    """Base class: override the hooks you need; `self.model` is the compiled model."""

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class CallbackList:
    """Calls each hook on every callback that has it (plain objects with some hooks work)."""

    def __init__(self, callbacks: list | None, model: Any):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            else:
                cb.model = model

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)

    def state_dict(self) -> list:
        return [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in self.callbacks]

    def load_state_dict(self, states: list) -> None:
        for cb, state in zip(self.callbacks, states or [], strict=False):
            if state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(state)
