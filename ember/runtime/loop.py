"""`fit`, `evaluate` and `predict`: the training loop around the compiled steps.

No host synchronisation per step: the progress bar reads the latest logs
every `log_every` steps, and epoch means come from on-device accumulators.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from .data import array_batches, is_array, iterable_batches


class History(dict):
    """Per-epoch logs: `history['loss'][epoch]` (and `.history`, as in Keras)."""

    @property
    def history(self) -> dict:
        return self


class LoopMixin:
    log_every = 25

    def _batches(self, x, y, batch_size, shuffle, seed, drop_last=False):
        if is_array(x) and y is None:
            raise ValueError(
                f"x is an array of shape {tuple(x.shape)} but y is None; fix: pass targets "
                "(fit(x, y, ...)) or an iterable of (x, y) batches"
            )
        if is_array(x):
            return array_batches(
                x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
            ), (-(-len(x) // batch_size) if not drop_last else len(x) // batch_size)
        return iterable_batches(x), (len(x) if hasattr(x, "__len__") else None)

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
    ) -> History:
        """Train for `epochs`; returns per-epoch means of loss and metrics.

        `x, y` are numpy arrays, or `x` is an iterable of `(x, y)` batches
        (e.g. a PyTorch DataLoader). `validation_data=(x_val, y_val)` adds
        `val_*` entries. `callbacks` may define `on_epoch_end(epoch, logs)`
        and `on_train_batch_end(step, logs)` (e.g. to step an LR scheduler).
        """
        history = History()
        callbacks = list(callbacks or [])
        for epoch in range(epochs):
            self.reset_metrics()
            batches, total = self._batches(x, y, batch_size, shuffle, seed + epoch, drop_last)
            bar = tqdm(
                total=total,
                desc=f"Epoch {epoch + 1}/{epochs}",
                disable=verbose != 1,
                leave=True,
                dynamic_ncols=True,
            )
            start = time.perf_counter()
            n_batches = 0
            for i, (xb, yb) in enumerate(batches):
                n_batches += 1
                logs = self.train_step(xb, yb)
                for cb in callbacks:
                    if hasattr(cb, "on_train_batch_end"):
                        cb.on_train_batch_end(i, logs)
                bar.update(1)
                if verbose == 1 and (i + 1) % self.log_every == 0:
                    bar.set_postfix({k: f"{float(v):.4f}" for k, v in jax.device_get(logs).items()})
            if n_batches == 0:
                bar.close()
                raise ValueError(
                    f"epoch {epoch + 1} got no batches; a generator is used up after one pass: "
                    "fix: pass arrays, a list of batches or a DataLoader (re-iterable)"
                )
            epoch_logs = self.metric_results()
            if validation_data is not None:
                val = self.evaluate(*validation_data, batch_size=batch_size, verbose=0)
                epoch_logs.update({f"val_{k}": v for k, v in val.items()})
            bar.set_postfix({k: f"{v:.4f}" for k, v in epoch_logs.items()})
            bar.close()
            if verbose == 2:
                shown = " - ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - {shown}")
            for k, v in epoch_logs.items():
                history.setdefault(k, []).append(v)
            for cb in callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(epoch, epoch_logs)
        return history

    def evaluate(self, x: Any, y: Any = None, batch_size: int = 32, verbose: int = 1) -> dict:
        """Mean loss and metrics over the data, in eval mode: `{'loss': ..., 'accuracy': ...}`."""
        self.reset_metrics()
        batches, total = self._batches(x, y, batch_size, False, 0)
        for xb, yb in tqdm(batches, total=total, desc="evaluate", disable=verbose != 1):
            self.eval_step(xb, yb)
        return self.metric_results()

    def predict(self, x: Any, batch_size: int = 256, verbose: int = 0):
        """Model outputs for `x` as numpy, in eval mode (numpy in, numpy out).

        The last batch is padded to `batch_size` so a ragged tail does not
        compile a second program; the padding rows are dropped.
        """
        from ember.graphdef.trace import unflatten_outputs

        outs, struct = [], None
        if is_array(x):
            n = len(x)
            if n == 0:
                raise ValueError(f"predict got no examples (x has shape {tuple(x.shape)})")
            batch_size = min(batch_size, n)
            chunks = (x[i : i + batch_size] for i in range(0, n, batch_size))
            total = -(-n // batch_size)
        else:
            chunks = (b for b, _ in iterable_batches(x))
            total = len(x) if hasattr(x, "__len__") else None
        for xb in tqdm(chunks, total=total, desc="predict", disable=verbose != 1):
            rows = len(xb)
            padded = is_array(x) and rows < batch_size
            if padded:
                pad = np.zeros((batch_size - rows, *xb.shape[1:]), xb.dtype)
                xb = np.concatenate([np.asarray(xb), pad])
            leaves, struct = self.predict_step(xb)
            outs.append([leaf[:rows] for leaf in leaves] if padded else leaves)
        if not outs:
            raise ValueError("predict got no batches from the iterable")
        host = jax.device_get(outs)
        merged = [np.concatenate([o[i] for o in host]) for i in range(len(host[0]))]
        return unflatten_outputs(merged, struct)
