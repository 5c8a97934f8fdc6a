"""Callbacks that keep the best state: `ModelCheckpoint` and `EarlyStopping`."""

from __future__ import annotations

import math
import os
import warnings

from ember.callbacks._monitor import _finite_or_none, _resolve_mode, _StepCounter
from ember.runtime.callbacks import Callback


class ModelCheckpoint(Callback):
    """Save the run with `em.CheckpointManager`: the best epochs, every N steps, the last.

    All checkpoints go to one `directory` (one sub-directory per step, as
    `em.CheckpointManager` writes them); restore one with
    `model.restore_checkpoint(directory, cb.best_step)` or
    `em.CheckpointManager(directory).restore(step, model)`.

    - At each epoch end the monitored metric (`monitor`; `mode` "min", "max" or "auto"
      as in `EarlyStopping`; `monitor=None` ranks nothing) is read from the epoch logs.
      `save_best_only=True` writes a checkpoint only when it improves; otherwise every
      epoch end is written and the `max_to_keep` best are kept.
    - `every_n_steps=N` also writes a checkpoint every N train steps (the newest
      `max_to_keep` of those are kept).
    - `save_last=True` always keeps the newest checkpoint too (written at every epoch
      end), so `fit(..., checkpoint=em.CheckpointManager(directory), resume=True)` picks
      it up. Such a resume restores parameters, optimizer and run state and the data
      position; other callbacks' states and the history travel only with fit's own
      `checkpoint=` argument (use a different directory for that).
    - `max_to_keep=None` keeps every checkpoint written.

    `best_step` / `best_score` name the best epoch-end checkpoint so far (None until a
    monitored value was seen). Step numbers are `model.step` (train steps so far).

    Example::

        ckpt = ModelCheckpoint("ckpts", monitor="val_loss", save_best_only=True)
        model.fit(x, y, epochs=20, validation_data=(xv, yv), callbacks=[ckpt])
        model.restore_checkpoint("ckpts", ckpt.best_step)
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        monitor: str | None = "val_loss",
        mode: str = "min",
        save_best_only: bool = False,
        save_last: bool = True,
        every_n_steps: int | None = None,
        max_to_keep: int | None = None,
    ):
        from ember.runtime.checkpoint import CheckpointManager

        if save_best_only and monitor is None:
            raise ValueError("ModelCheckpoint: save_best_only=True needs a monitor")
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"ModelCheckpoint: every_n_steps must be >= 1, got {every_n_steps}")
        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"ModelCheckpoint: max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.monitor = monitor
        self.mode = _resolve_mode(monitor, mode, "ModelCheckpoint") if monitor else mode
        self.save_best_only = bool(save_best_only)
        self.save_last = bool(save_last)
        self.every_n_steps = every_n_steps
        self.max_to_keep = max_to_keep
        self.manager = CheckpointManager(self.directory)
        self.best_step: int | None = None
        self.best_score: float | None = None
        self._epoch_saves: list[list] = []  # [step, score or None] per epoch-end checkpoint
        self._step_saves: list[int] = []
        self._last: int | None = None
        self._saved: list[int] = []  # every step this callback wrote and has not deleted
        self._counter = _StepCounter()
        self._epoch = 0
        self._warned = False

    # -- hooks --------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._counter.step = self.model.step  # one host read per fit

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._counter.begin(batch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        before = self._counter.step
        self._counter.end(batch)
        n = self.every_n_steps
        if n is None or self._counter.step // n == before // n:
            return
        step = self._counter.step
        self._save(step, None, {"epoch": self._epoch, "batches_done": batch + 1})
        self._step_saves.append(step)
        self._retain()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        step = self._counter.step
        score = None
        if self.monitor is not None:
            if self.monitor in logs:
                score = float(logs[self.monitor])
            elif not self._warned:
                self._warned = True
                warnings.warn(
                    f"ModelCheckpoint monitors {self.monitor!r} but the epoch logs have only "
                    f"{sorted(logs)}; fix: pass validation_data or a logged name",
                    stacklevel=2,
                )
        improved = score is not None and self._better(score, self.best_score)
        if improved:
            self.best_step, self.best_score = step, score
        if improved or not self.save_best_only:
            metrics = {k: float(v) for k, v in logs.items()}
            self._save(step, metrics, {"epoch": epoch + 1, "batches_done": 0})
            self._epoch_saves.append([step, _finite_or_none(score)])
        elif self.save_last:
            self._save(step, None, {"epoch": epoch + 1, "batches_done": 0})
        self._retain()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.manager.wait_until_finished()

    # -- saving -------------------------------------------------------------------------
    def _better(self, score: float, best: float | None) -> bool:
        if math.isnan(score):
            return False
        if best is None:
            return True
        return score < best if self.mode == "min" else score > best

    def _save(self, step: int, metrics: dict | None, data: dict) -> None:
        mgr = self.manager
        if step in self._saved or step in mgr.all_steps():
            # e.g. an every_n_steps save at the epoch's last step: rewrite it with the
            # epoch's metrics and position (after any write of it still in flight)
            mgr.wait_until_finished()
            if step in mgr.all_steps():
                self._delete(step)
        mgr.save(step, self.model, metrics=metrics, data=data, force=True)
        self._last = step
        if step not in self._saved:
            self._saved.append(step)

    def _delete(self, step: int) -> None:
        # em.CheckpointManager has no public delete yet; orbax's manager does.
        self.manager.delete(step)

    def _kept(self) -> set[int]:
        k = self.max_to_keep
        epoch_saves = list(self._epoch_saves)
        if self.monitor is not None:
            sign = 1.0 if self.mode == "min" else -1.0
            ranked = sorted(
                epoch_saves,
                key=lambda s: (s[1] is None, sign * s[1] if s[1] is not None else 0.0, -s[0]),
            )
        else:
            ranked = sorted(epoch_saves, key=lambda s: -s[0])
        keep = {s[0] for s in (ranked if k is None else ranked[:k])}
        keep |= set(self._step_saves if k is None else sorted(self._step_saves)[-k:])
        if self.save_last and self._last is not None:
            keep.add(self._last)
        return keep

    def _retain(self) -> None:
        keep = self._kept()
        present = set(self.manager.all_steps())
        stale = [s for s in self._saved if s not in keep and s in present]
        if stale:
            self.manager.wait_until_finished()
            for step in stale:
                self._delete(step)
        self._saved = [s for s in self._saved if s in keep]
        self._epoch_saves = [s for s in self._epoch_saves if s[0] in keep]
        self._step_saves = [s for s in self._step_saves if s in keep]

    # -- resume -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "best_step": self.best_step,
            "best_score": _finite_or_none(self.best_score),
            "epoch_saves": [list(s) for s in self._epoch_saves],
            "step_saves": list(self._step_saves),
            "last": self._last,
            "saved": list(self._saved),
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_step = state.get("best_step")
        self.best_score = state.get("best_score")
        self._epoch_saves = [list(s) for s in state.get("epoch_saves", [])]
        self._step_saves = list(state.get("step_saves", []))
        self._last = state.get("last")
        self._saved = list(state.get("saved", []))


# -- early stopping -------------------------------------------------------------------------


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving (Keras semantics).

    Each epoch end reads `logs[monitor]`; it improves when it beats the best so far
    by more than `min_delta` (in the direction of `mode`; "auto" infers it from the
    name: losses go down, accuracies up). Training stops once `patience` epochs
    in a row did not improve (never after the first epoch). With `baseline`, an
    epoch resets the wait only if it also beats the baseline.

    `restore_best_weights=True` keeps a host copy of the module's `state_dict()`
    (parameters and buffers) from the best epoch and loads it back at the end of
    training, whether or not training stopped early; the optimizer state is not
    restored. `stopped_epoch`, `best`, `best_epoch` and `wait` are readable after fit.

    `state_dict()` holds the wait count and the best score, not the weights: a
    resumed run continues the patience count, and its best-weights copy restarts
    with the first epoch after the resume.

    Example::

        stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        model.fit(x, y, epochs=100, validation_data=(xv, yv), callbacks=[stop])
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        baseline: float | None = None,
    ):
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = _resolve_mode(monitor, mode, "EarlyStopping")
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline = baseline
        self.best_weights: dict | None = None
        self._restored = False
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights = None

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return not math.isnan(value)
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _weights(self) -> dict:
        return dict(self.model.module._state_arrays())  # numpy copies (one device read)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self._restored:  # a fresh fit re-uses the instance; a resumed one continues
            self._reset()
        self._restored = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"EarlyStopping monitors {self.monitor!r} but the epoch logs have only "
                f"{sorted(logs or {})}; fix: pass validation_data or a logged name",
                stacklevel=2,
            )
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._weights()  # until something improves, this epoch's
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.module.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": _finite_or_none(self.best),
            "best_epoch": self.best_epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self._reset()
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        self.best = state.get("best")
        self.best_epoch = int(state.get("best_epoch", 0))
        self._restored = True


# -- learning-rate schedules ----------------------------------------------------------------
