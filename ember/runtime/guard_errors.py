"""How the runtime reports a guarded step that was skipped (see `ember.training.guard`)."""

from __future__ import annotations

from typing import Any

import jax

from ember.errors import NonFiniteError, TargetRangeError
from ember.training.guard import MESSAGES, TARGET_RANGE


def guard_error(where: str, what: str, report: object = None) -> Exception:
    if what == MESSAGES[TARGET_RANGE]:
        return TargetRangeError(
            f"{where}: {what} (PyTorch raises 'Target ... is out of bounds'); the update was "
            "skipped and the model keeps its last good state. Fix: class targets must be "
            "integers in [0, number of classes) (or the loss's ignore_index); check the "
            "labels of this batch"
        )
    located = (
        f"\n{report}\n"
        if report is not None
        else " model.locate_nonfinite(batch) names the "
        "first IR node (module, file:line) producing NaN/inf."
    )
    return NonFiniteError(
        f"{where}: {what}; the update was skipped and the model keeps its last good state."
        f"{located} Fix: look at that op's inputs in this batch; lower the learning rate or "
        "clip gradients (clip_grad_norm=1.0); or compile with guard='skip' to skip such "
        "batches and count them"
    )


class StepLogs(dict):
    """A train step's logs that check the guard when first read (reading them is the
    sync). `status` is the step's verdict (0: fine); None reads the guard's record."""

    def __init__(self, logs: dict, model: Any, status: Any = None):
        super().__init__(logs)
        self._model = model
        self._status = status
        self._checked = False

    def __getitem__(self, key):
        if not self._checked:
            self._checked = True
            if self._status is None or int(jax.device_get(self._status)) != 0:
                self._model.check_guard()
        return dict.__getitem__(self, key)
