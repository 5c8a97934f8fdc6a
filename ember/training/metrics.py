"""Metrics accumulated on device inside the compiled steps.

A metric is a small protocol: `size` accumulators, `update(outputs, targets)`
returning a float32 vector of that size to add to them (inside the step, no host
sync), and `result(sums)` turning the accumulated vector into a number on the
host (once per epoch). Every metric of a model shares one sums vector, so epoch
results are exact for a ragged last batch and cost one device read per epoch.

Built in (by name or object): `accuracy`, `top_k_accuracy` (`TopKAccuracy(k)`),
`binary_accuracy`, `precision`, `recall`, `f1` (binary, or macro with
`num_classes`), `mae`, `mse`, `rmse`, `perplexity`, `auc` (binned ROC AUC). A user
metric is any object with `name`, `size`, `update`, `result`, or a function
`fn(outputs, targets) -> (sum, count)` (a mean).

>>> model = em.compile(net, loss=..., optimizer=..., metrics=["accuracy", TopKAccuracy(5)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.errors import UnsupportedOpError


class Metric:
    """Base: `size` accumulators, `update` (traced, returns a vector), `result` (host)."""

    name = "metric"
    size = 2

    def update(self, outputs, targets) -> jax.Array:
        raise NotImplementedError

    def result(self, sums: np.ndarray) -> float:
        s, c = sums
        return float(s / c) if c else float("nan")


class Mean(Metric):
    """The mean of `fn(outputs, targets) -> (sum, count)` over everything seen."""

    def __init__(self, name: str, fn: Callable):
        self.name, self.fn = name, fn

    def update(self, outputs, targets):
        s, c = self.fn(outputs, targets)
        return jnp.stack([jnp.asarray(s, jnp.float32), jnp.asarray(c, jnp.float32)])


def _f32(x):
    return x.astype(jnp.float32)


def _labels(outputs, targets):
    """Predicted and true class labels for class logits with integer (or one-hot) targets."""
    if jnp.issubdtype(targets.dtype, jnp.integer) and outputs.ndim == targets.ndim + 1:
        return jnp.argmax(outputs, axis=1 if outputs.ndim > 1 else 0), targets
    if outputs.shape == targets.shape and outputs.ndim >= 2 and outputs.shape[-1] > 1:
        return jnp.argmax(outputs, -1), jnp.argmax(targets, -1)
    raise UnsupportedOpError(
        f"cannot compare class outputs {outputs.shape} with targets {targets.shape}; fix: class "
        "logits (N, C) with integer targets (N,) (or one-hot targets of the same shape)"
    )


class Accuracy(Metric):
    """Top-1 accuracy: argmax over classes; binary logits (output > 0) when shapes match."""

    name = "accuracy"

    def update(self, outputs, targets):
        if outputs.shape == targets.shape and not (outputs.ndim >= 2 and outputs.shape[-1] > 1):
            hits = (outputs > 0) == (targets > 0.5)
        else:
            pred, true = _labels(outputs, targets)
            hits = pred == true
        return jnp.stack([jnp.sum(_f32(hits)), jnp.asarray(hits.size, jnp.float32)])


class TopKAccuracy(Metric):
    """The target is among the k largest logits."""

    def __init__(self, k: int = 5):
        self.k, self.name = int(k), f"top_{int(k)}_accuracy"

    def update(self, outputs, targets):
        classes = jnp.moveaxis(outputs, 1, -1) if outputs.ndim > 2 else outputs
        true = targets
        top = jax.lax.top_k(classes, self.k)[1]
        hits = jnp.any(top == true[..., None], axis=-1)
        return jnp.stack([jnp.sum(_f32(hits)), jnp.asarray(hits.size, jnp.float32)])


class BinaryAccuracy(Metric):
    """Probabilities (or logits with `from_logits=True`) above `threshold` vs 0/1 targets."""

    name = "binary_accuracy"

    def __init__(self, threshold: float = 0.5, from_logits: bool = False):
        self.threshold, self.from_logits = threshold, from_logits

    def update(self, outputs, targets):
        p = jax.nn.sigmoid(outputs) if self.from_logits else outputs
        hits = (p > self.threshold) == (targets > 0.5)
        return jnp.stack([jnp.sum(_f32(hits)), jnp.asarray(hits.size, jnp.float32)])


class _Confusion(Metric):
    """True positives, false positives and false negatives per class (binary: one class)."""

    def __init__(self, num_classes: int | None = None, threshold: float = 0.0):
        self.num_classes, self.threshold = num_classes, threshold
        self.size = 3 * (num_classes or 1)

    def update(self, outputs, targets):
        if self.num_classes is None:  # binary: logits > threshold vs targets > 0.5
            if outputs.shape != targets.shape:
                raise UnsupportedOpError(
                    f"{self.name}: outputs {outputs.shape} and targets {targets.shape} are not "
                    "binary scores; fix: em.metrics."
                    f"{type(self).__name__}(num_classes=C) for a macro average over C classes"
                )
            pred, true = outputs.reshape(-1) > self.threshold, targets.reshape(-1) > 0.5
            pred, true = pred[:, None], true[:, None]
        else:
            labels_pred, labels_true = _labels(outputs, targets)
            classes = jnp.arange(self.num_classes)
            pred = labels_pred.reshape(-1)[:, None] == classes
            true = labels_true.reshape(-1)[:, None] == classes
        tp = jnp.sum(_f32(pred & true), 0)
        fp = jnp.sum(_f32(pred & ~true), 0)
        fn = jnp.sum(_f32(~pred & true), 0)
        return jnp.concatenate([tp, fp, fn])

    def _counts(self, sums):
        k = self.size // 3
        return sums[:k], sums[k : 2 * k], sums[2 * k :]

    @staticmethod
    def _ratio(a, b):
        return np.where(b > 0, a / np.maximum(b, 1e-12), 0.0)


class Precision(_Confusion):
    name = "precision"

    def result(self, sums):
        tp, fp, _ = self._counts(sums)
        return float(np.mean(self._ratio(tp, tp + fp)))


class Recall(_Confusion):
    name = "recall"

    def result(self, sums):
        tp, _, fn = self._counts(sums)
        return float(np.mean(self._ratio(tp, tp + fn)))


class F1(_Confusion):
    name = "f1"

    def result(self, sums):
        tp, fp, fn = self._counts(sums)
        return float(np.mean(self._ratio(2 * tp, 2 * tp + fp + fn)))


class AUC(Metric):
    """ROC AUC from `num_thresholds` bins of binary scores (probabilities, or logits with
    `from_logits=True`), trapezoidal rule, like Keras's `AUC`."""

    name = "auc"

    def __init__(self, num_thresholds: int = 200, from_logits: bool = False):
        self.num_thresholds, self.from_logits = num_thresholds, from_logits
        self.size = 2 * num_thresholds

    def update(self, outputs, targets):
        p = jax.nn.sigmoid(outputs) if self.from_logits else outputs
        p, t = p.reshape(-1), targets.reshape(-1) > 0.5
        thresholds = jnp.linspace(0.0, 1.0, self.num_thresholds)
        above = p[:, None] >= thresholds
        tp = jnp.sum(_f32(above & t[:, None]), 0)
        fp = jnp.sum(_f32(above & ~t[:, None]), 0)
        return jnp.concatenate([tp, fp])

    def result(self, sums):
        tp, fp = sums[: self.num_thresholds], sums[self.num_thresholds :]
        if tp[0] == 0 or fp[0] == 0:
            return float("nan")
        tpr, fpr = tp / tp[0], fp / fp[0]
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def _abs_error(outputs, targets):
    err = jnp.abs(outputs - targets.astype(outputs.dtype))
    return jnp.sum(_f32(err)), jnp.asarray(err.size, jnp.float32)


def _sq_error(outputs, targets):
    err = jnp.square(outputs - targets.astype(outputs.dtype))
    return jnp.sum(_f32(err)), jnp.asarray(err.size, jnp.float32)


def _nll(outputs, targets):
    logp = jax.nn.log_softmax(_f32(outputs), axis=1 if outputs.ndim > 1 else 0)
    picked = jnp.take_along_axis(logp, jnp.expand_dims(targets, 1), axis=1)
    return -jnp.sum(picked), jnp.asarray(targets.size, jnp.float32)


class RMSE(Mean):
    def __init__(self):
        super().__init__("rmse", _sq_error)

    def result(self, sums):
        return float(np.sqrt(super().result(sums)))


class Perplexity(Mean):
    """exp(mean negative log-likelihood) of class logits at integer targets."""

    def __init__(self):
        super().__init__("perplexity", _nll)

    def result(self, sums):
        return float(np.exp(super().result(sums)))


BUILTIN: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "top_k_accuracy": TopKAccuracy,
    "top_5_accuracy": lambda: TopKAccuracy(5),
    "binary_accuracy": BinaryAccuracy,
    "precision": Precision,
    "recall": Recall,
    "f1": F1,
    "mae": lambda: Mean("mae", _abs_error),
    "mse": lambda: Mean("mse", _sq_error),
    "rmse": RMSE,
    "perplexity": Perplexity,
    "auc": AUC,
}


def resolve_metrics(metrics: Any) -> dict[str, Metric]:
    """Names, `Metric` objects or `fn(outputs, targets) -> (sum, count)` -> {name: Metric}."""
    out: dict[str, Metric] = {}
    for m in metrics or ():
        if isinstance(m, str):
            if m not in BUILTIN:
                raise UnsupportedOpError(f"unknown metric {m!r}; known metrics: {sorted(BUILTIN)}")
            metric = BUILTIN[m]()
        elif all(hasattr(m, a) for a in ("update", "result", "size")):
            metric = m
        elif callable(m):
            metric = Mean(getattr(m, "__name__", "metric"), m)
        else:
            raise UnsupportedOpError(f"a metric is a name, a Metric or a function, got {m!r}")
        out[getattr(metric, "name", type(metric).__name__.lower())] = metric
    return out
