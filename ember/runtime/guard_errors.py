"""How the runtime reports a guarded step that was skipped (see `ember.training.guard`)."""

from __future__ import annotations

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
