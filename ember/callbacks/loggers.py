"""Callbacks that write the logs out: `CSVLogger` and `TensorBoard`."""

from __future__ import annotations

import csv
import os
from typing import Any

import jax
import numpy as np

from ember.callbacks._monitor import _StepCounter
from ember.runtime.callbacks import Callback


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
    from ember.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir)  # raises an ImportError naming the fix without tensorboard


class TensorBoard(Callback):
    """Log scalars for TensorBoard (event files written by `ember.utils.tensorboard`).

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
        self._writer("train")  # fail early if tensorboard is missing
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
