"""What a compiled model trains: the objective traced from a module, a loss and a batch.

Four shapes of program, chosen by `em.compile`'s arguments:

- `loss=fn` (a callable or loss module): `loss(outputs, targets)` on a batch `(x, y)`;
  `x` is unpacked into `forward` (a tuple → `net(*x)`, a dict → `net(**x)`). A custom
  callable sees the full output structure; a stock ember loss on a structured output
  needs `output=` (a key or index) — never a silent first-output choice.
- `loss={"logits": ce, "aux": mse}` (+ `loss_weights`): one loss per named output,
  targets a dict with the same keys; the total is their weighted sum.
- `loss=None`: `forward` returns the loss itself (a scalar, a dict with `"loss"`, or a
  tuple/list whose loss position `output=` names); the whole batch goes to `forward`.
- the module defines `training_step(self, batch)` (optionally `validation_step`,
  `predict_step`): it returns the loss or a dict with `"loss"` plus scalars to log.
  With several optimizers (`optimizer={"d": ..., "g": ...}`) it returns one loss per
  optimizer name. A `carry` entry is fed back as the step's `carry` argument next time.

The traced function returns a dict: `losses` (name → scalar), `count` (the
normalizer of the epoch mean: batch size, non-ignored targets or summed sample
weights), `outputs`/`targets` (for metrics), `logs` and `carry`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any

from ember.errors import ShapeError, TraceError
from ember.frontend.tensor import Tensor
from ember.graphdef.pytree import describe, tree_flatten
from ember.nn.functional._core import as_tensor
from ember.nn.module import Module
from ember.nn.modules.loss import _Loss


def call_module(module: Module, x: Any, method: str = "__call__") -> Any:
    """A batch's inputs to `forward`: a tuple/list is unpacked, a dict passed by keyword."""
    fn = module if method == "__call__" else getattr(module, method)
    if isinstance(x, dict):
        return fn(**x)
    if isinstance(x, (tuple, list)):
        return fn(*x)
    return fn(x)


def _scalar(value: Any, what: str) -> Tensor:
    if not isinstance(value, Tensor) or tuple(value.shape) not in ((), (1,)):
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ShapeError(
            f"{what} must be a scalar tensor, got {shape}; fix: reduce it (loss.mean() or "
            "reduction='mean'/'sum')"
        )
    return value.reshape(()) if value.shape else value


def _batch_size(tree: Any) -> Tensor:
    """The leading dimension of the first batched tensor (1 if there is none), as a tensor."""
    leaves, _ = tree_flatten(tree)
    size = next((leaf.shape[0] for leaf in leaves if isinstance(leaf, Tensor) and leaf.ndim), 1)
    return as_tensor(float(size))


def _select(outputs: Any, output: Any, what: str) -> Any:
    if output is None:
        return outputs
    try:
        return outputs[output]
    except (KeyError, IndexError, TypeError):
        _, treedef = tree_flatten(outputs)
        raise TraceError(
            f"{what}: output={output!r} does not select anything from the model's outputs "
            f"{describe(treedef)}; fix: an index for a tuple, a key for a dict"
        ) from None


def _target_checks(loss: Any, prediction: Any, target: Any) -> dict:
    """For class-index losses: are all targets valid classes (or the ignore index)?"""
    ignore = getattr(loss, "ignore_index", None)
    if ignore is None or not isinstance(target, Tensor) or "int" not in str(target.dtype):
        return {}
    if not isinstance(prediction, Tensor) or prediction.ndim == target.ndim:
        return {}  # class probabilities, not indices
    classes = prediction.shape[1] if prediction.ndim > 1 else prediction.shape[0]
    valid = ((target >= 0) & (target < classes)) | (target == ignore)
    return {"targets": valid.all()}


def _stock(loss: Any) -> bool:
    return isinstance(loss, _Loss)


def _counted(loss: Any, prediction: Tensor, target: Any) -> Any:
    """The number of targets a stock loss averages over (ignored classes excluded)."""
    ignore = getattr(loss, "ignore_index", None)
    if ignore is not None and isinstance(target, Tensor) and "int" in str(target.dtype):
        return (target != ignore).sum().float()
    return _batch_size(prediction)


class Objective:
    """Builds the traced function of a compiled model (see the module docstring)."""

    def __init__(
        self,
        module: Module,
        loss: Any = None,
        *,
        output: Any = None,
        loss_weights: Mapping[str, float] | None = None,
        optimizer_names: tuple[str, ...] = ("loss",),
    ):
        self.module = module
        self.loss = loss
        self.output = output
        self.loss_weights = dict(loss_weights or {})
        self.optimizer_names = optimizer_names
        self.has_training_step = callable(getattr(module, "training_step", None))
        if loss is not None and self.has_training_step:
            raise TraceError(
                f"{type(module).__name__} defines training_step and em.compile was given a "
                "loss; fix: compute the loss in training_step and drop loss=, or rename the method"
            )
        self.takes_carry = (
            self.has_training_step and "carry" in inspect.signature(module.training_step).parameters
        )
        if isinstance(loss, Mapping):
            unknown = set(self.loss_weights) - set(loss)
            if unknown:
                raise ValueError(f"loss_weights names {sorted(unknown)} that loss= does not have")

    @property
    def batch_has_targets(self) -> bool:
        """`(x, y)` batches (a loss given) or whole batches (`loss=None`, `training_step`)."""
        return self.loss is not None

    # -- the traced functions ---------------------------------------------------------------
    def train(self, batch: Any, carry: Any = None, sample_weight: Any = None) -> dict:
        if self.has_training_step:
            return self._step_method("training_step", batch, carry)
        return self._from_loss(batch, sample_weight)

    def evaluate(self, batch: Any, carry: Any = None, sample_weight: Any = None) -> dict:
        if self.has_training_step:
            name = "validation_step" if hasattr(self.module, "validation_step") else "training_step"
            return self._step_method(name, batch, carry)
        return self._from_loss(batch, sample_weight)

    def predict(self, batch: Any) -> Any:
        if callable(getattr(self.module, "predict_step", None)):
            return self.module.predict_step(batch)
        return call_module(self.module, batch)

    # -- loss given --------------------------------------------------------------------------
    def _from_loss(self, batch: Any, sample_weight: Any) -> dict:
        if self.loss is None:  # forward returns the loss itself; the whole batch goes in
            out = call_module(self.module, batch)
            return self._normalize(out, "forward", batch)
        x, y = batch
        out = call_module(self.module, x)
        if isinstance(self.loss, Mapping):
            return self._named_losses(out, y, batch)
        loss = self.loss
        if self.output is None and _stock(loss) and not isinstance(out, Tensor):
            _, treedef = tree_flatten(out)
            raise TraceError(
                f"{type(self.module).__name__} returns {describe(treedef)} but "
                f"{type(loss).__name__} takes one prediction; fix: em.compile(..., "
                "output=0 (or the dict key) to choose it, or pass a loss function that takes "
                "the whole output structure: loss=lambda out, y: ..."
            )
        pred = _select(out, self.output, "output")
        if sample_weight is not None:
            return self._weighted(loss, pred, y, sample_weight)
        value = _scalar(loss(pred, y), "the loss")
        count = _counted(loss, pred, y) if _stock(loss) else _batch_size(pred)
        return {
            "losses": {"loss": value},
            "count": count,
            "outputs": pred,
            "targets": y,
            "logs": {},
            "carry": None,
            "checks": _target_checks(loss, pred, y),
        }

    def _weighted(self, loss: Any, pred: Tensor, y: Any, weight: Tensor) -> dict:
        """Exact weighted means: sum(w * per-sample loss) / sum(w)."""
        if not _stock(loss):
            raise TraceError("sample_weight needs an ember loss module (its reduction='none')")
        per = copy.copy(loss)
        object.__setattr__(per, "reduction", "none")
        values = per(pred, y)
        if values.ndim > 1:
            values = values.reshape(values.shape[0], -1).mean(1)
        w = weight.float()
        if tuple(w.shape) != tuple(values.shape):
            raise ShapeError(
                f"sample_weight has shape {tuple(w.shape)} but the loss has one value per "
                f"sample {tuple(values.shape)}; fix: one weight per sample"
            )
        total = w.sum()
        return {
            "losses": {"loss": (values * w).sum() / total},
            "count": total,
            "outputs": pred,
            "targets": y,
            "logs": {},
            "carry": None,
        }

    def _named_losses(self, out: Any, y: Any, batch: Any) -> dict:
        if not isinstance(out, Mapping) or not isinstance(y, Mapping):
            raise TraceError(
                "loss={name: loss_fn, ...} needs forward to return a dict and targets given as "
                "a dict with the same names"
            )
        missing = [k for k in self.loss if k not in out or k not in y]
        if missing:
            raise TraceError(f"loss names {missing} are missing from the outputs or the targets")
        logs, total = {}, None
        for name, fn in self.loss.items():
            value = _scalar(fn(out[name], y[name]), f"loss {name!r}")
            logs[f"{name}_loss"] = value
            term = value * float(self.loss_weights.get(name, 1.0))
            total = term if total is None else total + term
        first = next(iter(self.loss))
        return {
            "losses": {"loss": total},
            "count": _batch_size(out[first]),
            "outputs": out[first],
            "targets": y[first],
            "logs": logs,
            "carry": None,
        }

    # -- training_step / forward returning the loss -------------------------------------------
    def _step_method(self, name: str, batch: Any, carry: Any) -> dict:
        method = getattr(self.module, name)
        result = method(batch, carry) if self.takes_carry else method(batch)
        return self._normalize(result, f"{type(self.module).__name__}.{name}", batch)

    def _normalize(self, result: Any, where: str, batch: Any) -> dict:
        names = self.optimizer_names
        carry, outputs, targets = None, None, None
        if isinstance(result, Mapping):
            result = dict(result)
            carry = result.pop("carry", None)
            outputs = result.pop("outputs", None)
            targets = result.pop("targets", None)
            if names == ("loss",):
                if "loss" not in result:
                    raise TraceError(
                        f"{where} returned a dict without 'loss' (keys {sorted(result)}); fix: "
                        "return {'loss': loss, ...other scalars to log}"
                    )
                losses = {"loss": _scalar(result.pop("loss"), f"{where}'s 'loss'")}
            else:
                missing = [n for n in names if n not in result]
                if missing:
                    raise TraceError(
                        f"{where} must return one loss per optimizer {list(names)}; missing "
                        f"{missing}"
                    )
                losses = {n: _scalar(result.pop(n), f"{where}'s {n!r}") for n in names}
            logs = {k: _scalar(v, f"{where}'s {k!r}") for k, v in result.items()}
        else:
            if names != ("loss",):
                raise TraceError(f"{where} must return a dict with one loss per optimizer {names}")
            value = _select(result, self.output, where) if self.output is not None else result
            losses, logs = {"loss": _scalar(value, f"{where}'s result")}, {}
        return {
            "losses": losses,
            "count": _batch_size(batch),
            "outputs": outputs,
            "targets": targets,
            "logs": logs,
            "carry": carry,
        }
