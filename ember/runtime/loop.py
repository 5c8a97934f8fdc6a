"""`fit`, `evaluate` and `predict`: the training loop around the compiled steps.

No host synchronisation per step: the progress bar reads the latest logs
every `log_every` steps, and epoch means come from on-device accumulators.
Batches are arrays or pytrees of them sliced together (`fit((x, mask), y)`),
or any iterable of batches (a DataLoader, ember's or PyTorch's).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from ember.graphdef.pytree import tree_flatten, tree_unflatten
from ember.runtime.callbacks import CallbackList
from ember.runtime.data import (
    array_batches,
    batch_count,
    is_array_data,
    num_examples,
    split_item,
)


class History(dict):
    """Per-epoch logs: `history['loss'][epoch]` (and `.history`, as in Keras)."""

    @property
    def history(self) -> dict:
        return self

    def plot(self, path, keys: list[str] | None = None):
        """Write a PNG of the per-epoch curves to `path` and return `path`.

        One subplot per metric, with the training curve and its `val_` counterpart on
        the same axes. `keys` picks metrics by name (`"loss"` or `"val_loss"` both mean
        the loss subplot); default: every logged metric. Needs matplotlib (the optional
        extra `ember[plot]`); draws with the Agg backend, without pyplot's global state.

        >>> history = model.fit(x, y, epochs=10, validation_data=(xv, yv))
        >>> history.plot("curves.png", keys=["loss", "accuracy"])
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError as e:
            raise ImportError(
                "History.plot draws with matplotlib, which is not installed; fix: "
                "pip install 'ember[plot]' (or pip install matplotlib)"
            ) from e
        names: list[str] = []
        for key in keys if keys is not None else list(self):
            base = key[4:] if key.startswith("val_") and key[4:] in self else key
            if base not in self and f"val_{base}" not in self:
                raise KeyError(f"History.plot: no {key!r} in the history; it has {list(self)}")
            if base not in names:
                names.append(base)
        if not names:
            raise ValueError("History.plot: the history is empty (nothing was trained)")
        fig = Figure(figsize=(6.4, 2.8 * len(names)))
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
        for ax, name in zip(axes, names, strict=True):
            for key in (name, f"val_{name}"):
                values = self.get(key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
        return path


class LoopMixin:
    log_every = 25

    def _epoch_batches(
        self, x, y, batch_size, shuffle, seed, drop_last=False, sample_weight=None, skip=0
    ) -> tuple:
        """(iterator of (x, y, sample_weight), number of batches or None)."""
        has_targets = self.objective.batch_has_targets
        if is_array_data(x, y):
            if has_targets and y is None:
                shape = getattr(x, "shape", None)
                raise ValueError(
                    f"x is {'an array of shape ' + str(tuple(shape)) if shape else 'array data'} "
                    "but y is None; fix: pass targets (fit(x, y, ...)) or an iterable of "
                    "(x, y) batches"
                )
            data = (x, y) if (y is not None and not has_targets) else x
            targets = y if has_targets else None
            it = array_batches(
                data,
                targets,
                batch_size,
                shuffle=shuffle,
                seed=seed,
                drop_last=drop_last,
                sample_weight=sample_weight,
                skip=skip,
            )
            return it, batch_count(data, targets, batch_size, drop_last)
        if y is not None:
            raise ValueError(
                "y is given but x is an iterable of batches; fix: put y in the batches"
            )
        items = iter(x)
        if skip and not hasattr(x, "load_state_dict"):  # a resumed epoch: skip what was done
            items = itertools.islice(items, skip, None)
        it = (split_item(item, has_targets) for item in items)
        return it, (len(x) if hasattr(x, "__len__") else None)

    def fit(
        self,
        x: Any,
        y: Any = None,
        batch_size: int = 32,
        epochs: int = 1,
        validation_data: Any = None,
        shuffle: bool = True,
        verbose: int = 1,
        callbacks: list | None = None,
        drop_last: bool = False,
        seed: int = 0,
        sample_weight: Any = None,
        checkpoint: Any = None,
        resume: bool = False,
    ) -> History:
        """Train for `epochs`; returns per-epoch means of the losses, metrics and logs.

        `x, y` are arrays (or tuples/dicts of arrays), or `x` is an iterable of batches
        (e.g. a DataLoader). For a model compiled with `loss=None` or a `training_step`,
        `x` is the whole batch data (`fit((idx, targets), batch_size=64)`).
        `validation_data=(x_val, y_val)` (or an iterable) adds `val_*` entries.
        `callbacks` follow `ember.runtime.callbacks.Callback`. A carried state
        (`training_step(batch, carry)`) starts afresh every epoch.

        `checkpoint=em.CheckpointManager(...)` saves the whole run (parameters, optimizer
        and scheduler states, RNG, metric sums, data position) after steps its interval
        selects, and at each epoch end with the epoch's logs (for `keep_best`);
        `resume=True` first restores its latest checkpoint and continues exactly where it
        was taken: the same batches follow as in a run that never stopped.
        """
        if jax.process_index() != 0:
            verbose = 0  # several hosts: progress and logs come from process 0
        callbacks = CallbackList(callbacks, self)
        history = History()
        start_epoch, skip = 0, 0
        if checkpoint is not None and resume and checkpoint.latest_step() is not None:
            meta = checkpoint.restore(None, self)
            data, extra = meta.get("data") or {}, meta.get("extra") or {}
            start_epoch, skip = int(data.get("epoch", 0)), int(data.get("batches_done", 0))
            seed = int(data.get("seed", seed))
            callbacks.load_state_dict(extra.get("callbacks"))
            history.update({k: list(v) for k, v in (extra.get("history") or {}).items()})
            if hasattr(x, "load_state_dict") and extra.get("loader") is not None:
                x.load_state_dict(extra["loader"])
        self.stop_training = False
        skipped_before = self.check_guard() if self.guard == "skip" else 0
        callbacks.call("on_train_begin", {})
        k = self.steps_per_execution
        for epoch in range(start_epoch, epochs):
            if skip == 0:  # a resumed epoch keeps its restored sums and carry
                self.reset_metrics()
                self.reset_carry()
            callbacks.call("on_epoch_begin", epoch, {})
            batches, total = self._epoch_batches(
                x, y, batch_size, shuffle, seed + epoch, drop_last, sample_weight, skip=skip
            )
            bar = tqdm(
                total=total,
                initial=skip if total else 0,
                desc=f"Epoch {epoch + 1}/{epochs}",
                disable=verbose != 1,
                leave=True,
                dynamic_ncols=True,
            )
            start = time.perf_counter()
            epoch_start_step = self.step - skip
            self._guard_epoch = (epoch_start_step, epoch)  # errors name the batch of the epoch
            done = skip
            for group in _groups(batches, k):
                callbacks.call("on_train_batch_begin", done, {})
                logs = self.train_steps(group) if len(group) > 1 else self.train_step(*group[0])
                done += len(group)
                callbacks.call("on_train_batch_end", done - 1, logs)
                bar.update(len(group))
                if done % self.log_every < len(group):  # the logs are read: check the guard too
                    self.check_guard(epoch_start_step, epoch)
                    if verbose == 1:
                        shown = jax.device_get(dict(logs))
                        bar.set_postfix({k: f"{float(v):.4f}" for k, v in shown.items()})
                if checkpoint is not None:
                    self._checkpoint(checkpoint, epoch, done, seed, callbacks, history, x)
                if self.stop_training:
                    break
            skip = 0
            if done == 0:
                bar.close()
                raise ValueError(
                    f"epoch {epoch + 1} got no batches; a generator is used up after one pass: "
                    "fix: pass arrays, a list of batches or a DataLoader (re-iterable)"
                )
            skipped = self.check_guard(epoch_start_step, epoch)
            epoch_logs = self.metric_results()
            if self.guard == "skip":
                epoch_logs["skipped_steps"] = skipped - skipped_before
                skipped_before = skipped
            if validation_data is not None:
                val = self._evaluate_data(validation_data, batch_size)
                epoch_logs.update({f"val_{k}": v for k, v in val.items()})
            bar.set_postfix({k: f"{v:.4f}" for k, v in epoch_logs.items()})
            bar.close()
            if verbose == 2:
                shown = " - ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - {shown}")
            for name, v in epoch_logs.items():
                history.setdefault(name, []).append(v)
            callbacks.call("on_epoch_end", epoch, epoch_logs)
            if checkpoint is not None:
                self._checkpoint(
                    checkpoint, epoch + 1, 0, seed, callbacks, history, x, metrics=epoch_logs
                )
            if self.stop_training:
                break
        self._guard_epoch = None
        callbacks.call("on_train_end", {})
        if checkpoint is not None:
            checkpoint.wait_until_finished()
        return history

    def _checkpoint(self, mgr, epoch, done, seed, callbacks, history, x, metrics=None) -> None:
        """Save the run if the manager's interval (or an epoch end with metrics) asks."""
        step = self.step
        ranked = getattr(mgr, "keep_best", None) is not None
        if ranked != (metrics is not None):
            return  # a keep_best manager saves at epoch ends (with metrics), others per interval
        if metrics is None and not mgr.should_save(step):
            return
        extra = {
            "callbacks": callbacks.state_dict(),
            "history": {k: list(v) for k, v in history.items()},
            "loader": x.state_dict() if hasattr(x, "state_dict") else None,
        }
        data = {"epoch": epoch, "batches_done": done, "seed": seed}
        mgr.save(step, self, metrics=metrics, data=data, extra=extra, force=metrics is not None)

    def _evaluate_data(self, data: Any, batch_size: int) -> dict:
        if isinstance(data, tuple) and len(data) in (2, 3) and is_array_data(data[0], data[1]):
            return self.evaluate(*data, batch_size=batch_size, verbose=0)
        return self.evaluate(data, batch_size=batch_size, verbose=0)

    def evaluate(
        self, x: Any, y: Any = None, batch_size: int = 32, verbose: int = 1, sample_weight=None
    ) -> dict:
        """Mean loss and metrics over the data, in eval mode: `{'loss': ..., 'accuracy': ...}`."""
        self.reset_metrics()
        self.eval_carry = None
        batches, total = self._epoch_batches(x, y, batch_size, False, 0, False, sample_weight)
        for xb, yb, wb in tqdm(
            batches, total=total, desc="evaluate", disable=verbose != 1 or jax.process_index() != 0
        ):
            self.eval_step(xb, yb, wb)
        return self.metric_results()

    def predict(self, x: Any, batch_size: int = 256, verbose: int = 0):
        """Model outputs for `x` as numpy, in eval mode (numpy in, numpy out).

        `x` is an array, a tuple/dict of arrays (the model's inputs, sliced together) or
        an iterable of input batches. The last batch is padded to `batch_size` so a ragged
        tail does not compile a second program; the padding rows are dropped.
        """
        outs, struct = [], None
        if is_array_data(x):
            n = num_examples(x)
            if n == 0:
                shape = getattr(x, "shape", None)
                raise ValueError(f"predict got no examples (x has shape {tuple(shape or ())})")
            batch_size = min(batch_size, n)
            chunks = (_slice(x, i, i + batch_size) for i in range(0, n, batch_size))
            total = -(-n // batch_size)
        else:
            has_targets = self.objective.batch_has_targets
            chunks = (split_item(item, has_targets)[0] if has_targets else item for item in x)
            total = len(x) if hasattr(x, "__len__") else None
        for xb in tqdm(
            chunks, total=total, desc="predict", disable=verbose != 1 or jax.process_index() != 0
        ):
            rows = num_examples(xb)
            padded = is_array_data(x) and rows < batch_size
            if padded:
                xb = _pad(xb, batch_size)
            args = xb if isinstance(xb, tuple) else (xb,)
            leaves, struct = self.predict_step(*args)
            outs.append([leaf[:rows] for leaf in leaves] if padded else leaves)
        if not outs:
            raise ValueError("predict got no batches from the iterable")
        host = jax.device_get(outs)
        merged = [np.concatenate([o[i] for o in host]) for i in range(len(host[0]))]
        return tree_unflatten(struct, merged)


def _groups(batches, k: int):
    """Consecutive batches in groups of `k` (the last group may be smaller)."""
    group = []
    for b in batches:
        group.append(b)
        if len(group) == k:
            yield group
            group = []
    if group:
        yield group


def _slice(tree: Any, start: int, stop: int) -> Any:
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [leaf[start:stop] for leaf in leaves])


def _pad(tree: Any, size: int) -> Any:
    leaves, treedef = tree_flatten(tree)
    padded = []
    for leaf in leaves:
        leaf = np.asarray(leaf)
        pad = np.zeros((size - len(leaf), *leaf.shape[1:]), leaf.dtype)
        padded.append(np.concatenate([leaf, pad]))
    return tree_unflatten(treedef, padded)
