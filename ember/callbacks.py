"""Ready-made callbacks for `CompiledModel.fit` (Keras's set, on ember's protocol).

Every class here subclasses `ember.runtime.callbacks.Callback`: `fit` calls
`set_model(model)`, then the hooks; a callback stops training with
`model.stop_training = True`. Callbacks with progress to keep define
`state_dict()` / `load_state_dict()` (JSON-able), so `fit(..., checkpoint=mgr,
resume=True)` continues them.

Batch hooks run once per dispatch and get the batch logs as device arrays: a
callback that reads them (`TerminateOnNaN`, `TensorBoard(update_freq=N)`) pays a
host read for each one it reads. Epoch logs are Python floats.

>>> from ember import callbacks as cbs
>>> model.fit(x, y, epochs=50, validation_data=(xv, yv), callbacks=[
...     cbs.EarlyStopping(patience=3, restore_best_weights=True),
...     cbs.ModelCheckpoint("ckpts", monitor="val_loss", save_best_only=True),
...     cbs.LRSchedulerCallback(optim.lr_scheduler.ReduceLROnPlateau(opt), monitor="val_loss"),
...     cbs.CSVLogger("log.csv"),
... ])
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ember.errors import NonFiniteError
from ember.runtime.callbacks import Callback, CallbackList

__all__ = [
    "Callback",
    "CallbackList",
    "ModelCheckpoint",
    "EarlyStopping",
    "LRSchedulerCallback",
    "CSVLogger",
    "TensorBoard",
    "TerminateOnNaN",
    "LambdaCallback",
]

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
        return dict(self.model.module.state_dict())  # numpy copies (one device read)

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


class CSVLogger(Callback):
    """Write one CSV row per epoch: `epoch` (0-based) and every epoch log, flushed each epoch.

    The columns are fixed by the first epoch written (or by the header of the file
    when `append=True` continues one); a missing value is written as an empty cell.

    Example::

        model.fit(x, y, epochs=10, callbacks=[CSVLogger("train.csv")])
        # epoch,loss,accuracy,val_loss,val_accuracy
        # 0,0.6931,0.51,0.6902,0.53
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.keys = None
        has_rows = self.append and os.path.exists(self.filename)
        if has_rows:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            if header:
                self.keys = header[1:]
            else:
                has_rows = False
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        if has_rows:
            self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._file is None:  # hooks called outside fit
            self.on_train_begin()
        if self.keys is None:
            self.keys = list(logs)
        if self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.separator)
            self._writer.writerow(["epoch", *self.keys])
        row = [epoch] + [_csv_value(logs.get(k)) for k in self.keys]
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    value = jax.device_get(value)
    return float(value) if np.ndim(value) == 0 else str(np.asarray(value).tolist())


def _summary_writer(log_dir: str):
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise ImportError(
            "the TensorBoard callback writes event files with tensorboardX, which is not "
            "installed; fix: pip install 'ember[tensorboard]' (or pip install tensorboardX)"
        ) from e
    return SummaryWriter(log_dir)


class TensorBoard(Callback):
    """Log scalars for TensorBoard (event files written with tensorboardX).

    Training scalars go to `log_dir/train`, validation ones (the `val_` logs, prefix
    dropped) to `log_dir/validation`, so TensorBoard draws both on one chart. At each
    epoch end: `epoch_<name>` for every epoch log and `epoch_learning_rate` (of each
    optimizer's first param group; `epoch_learning_rate_<name>` with several), at step
    = epoch (0-based). `update_freq=N` also logs `batch_<name>` from the batch logs
    every N train steps (at step = `model.step`), one host read each time.

    Needs the optional dependency: `pip install 'ember[tensorboard]'`.

    Example::

        model.fit(x, y, epochs=10, validation_data=(xv, yv),
                  callbacks=[TensorBoard("runs/exp1", update_freq=100)])
        # tensorboard --logdir runs
    """

    def __init__(self, log_dir: str | os.PathLike, update_freq: str | int = "epoch"):
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq >= 1):
            raise ValueError(f"update_freq must be 'epoch' or an int >= 1, got {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.update_freq = update_freq
        self._writers: dict[str, Any] = {}
        self._counter = _StepCounter()

    def _writer(self, kind: str):
        writer = self._writers.get(kind)
        if writer is None:
            writer = self._writers[kind] = _summary_writer(os.path.join(self.log_dir, kind))
        return writer

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._writer("train")  # fail early if tensorboardX is missing
        if self.update_freq != "epoch":
            self._counter.step = self.model.step

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.update_freq != "epoch":
            self._counter.begin(batch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.update_freq == "epoch":
            return
        before = self._counter.step
        self._counter.end(batch)
        if self._counter.step // self.update_freq == before // self.update_freq or not logs:
            return
        writer = self._writer("train")
        for name, value in jax.device_get(dict(logs)).items():
            if np.ndim(value) == 0:
                writer.add_scalar(f"batch_{name}", float(value), self._counter.step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            kind, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            self._writer(kind).add_scalar(f"epoch_{tag}", float(value), epoch)
        optimizers = getattr(self.model, "optimizers", {}) or {}
        for name, opt in optimizers.items():
            tag = "epoch_learning_rate" if len(optimizers) == 1 else f"epoch_learning_rate_{name}"
            groups = getattr(opt, "param_groups", None)
            if groups and "lr" in groups[0]:
                self._writer("train").add_scalar(tag, float(groups[0]["lr"]), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


# -- control --------------------------------------------------------------------------------


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
