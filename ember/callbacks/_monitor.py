"""What the monitoring callbacks share: the monitored metric's direction, and a step counter
that survives resume."""

from __future__ import annotations

import math

_MAX_NAMES = ("acc", "accuracy", "precision", "recall", "f1", "auc", "fmeasure", "r2")
_MIN_NAMES = ("loss", "error", "mse", "mae", "rmse", "perplexity", "nll")


def _resolve_mode(monitor: str, mode: str, owner: str) -> str:
    """'min' or 'max'; 'auto' infers it from the metric's name (val_ prefix ignored)."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    name = monitor.removeprefix("val_").lower()
    if any(name.endswith(m) for m in _MIN_NAMES):
        return "min"
    if any(m in name for m in _MAX_NAMES):
        return "max"
    raise ValueError(
        f"{owner}: cannot infer whether {monitor!r} should go down or up; "
        "fix: pass mode='min' or mode='max'"
    )


def _finite_or_none(value: float | None) -> float | None:
    """A JSON-safe score (checkpoint metadata is strict JSON)."""
    return None if value is None or not math.isfinite(value) else float(value)


class _StepCounter:
    """Counts train steps on the host (no device read per batch).

    Batch hooks run once per dispatch; a dispatch of `steps_per_execution=K` batches
    gets `on_train_batch_begin(done)` and `on_train_batch_end(done + K - 1)`.
    """

    def __init__(self) -> None:
        self.step = 0
        self._begin: int | None = None

    def begin(self, batch: int) -> None:
        self._begin = batch

    def end(self, batch: int) -> int:
        """Steps in this dispatch (counted onto `self.step`)."""
        n = batch - self._begin + 1 if self._begin is not None else 1
        self._begin = None
        n = max(int(n), 1)
        self.step += n
        return n


# -- checkpoints ----------------------------------------------------------------------------
