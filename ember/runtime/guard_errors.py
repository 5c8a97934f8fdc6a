"""How the runtime reports a guarded step that was skipped (see `ember.training.guard`)."""

from __future__ import annotations

from typing import Any

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
    """A train step's logs. Reading them checks the verdicts of steps that have finished,
    without waiting (see `GuardMixin.poll_guard`); a bad step surfaces within a few steps,
    at once through `model.check_guard()`, or where `fit` reads logs."""

    def __init__(self, logs: dict, model: Any):
        super().__init__(logs)
        self._model = model

    def __getitem__(self, key):
        self._model.poll_guard()
        return dict.__getitem__(self, key)
