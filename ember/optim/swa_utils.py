"""Weight averaging with PyTorch's `torch.optim.swa_utils` names and semantics.

`AveragedModel` keeps an independent copy of a model and averages the model's
current weights into it: stochastic weight averaging (an equal-weight running mean,
the default) or an exponential moving average (`multi_avg_fn=get_ema_multi_avg_fn(d)`).
`SWALR` anneals the lr to a constant for the SWA phase and `update_bn` recomputes
BatchNorm statistics for the averaged weights. The model may be trained by the
PyTorch loop (`optimizer.step()`, then `swa_model.update_parameters(model)`) or by a
compiled model (`model.train_step(...)`): either way the module's own parameters
hold the trained values, and those are what is averaged.

How values move: copies of the model's values (the first update, and the buffers
when they are not averaged) are private host copies, because the model's next step
donates its arrays and a shared array would be deleted under the averaged copy;
averages are lazy ember ops on the device, computed together with the next program
that runs (before that program donates what they read).

Deviations: `n_averaged` is int32 unless JAX's x64 mode is on (PyTorch: int64), and
`SWALR` keeps its target lrs out of the param groups (see `lr_scheduler/swa.py`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ember.autograd import no_grad
from ember.errors import ShapeError
from ember.frontend.lazy import sync
from ember.frontend.tensor import Tensor
from ember.nn.module import Module
from ember.nn.modules.batchnorm import _BatchNorm
from ember.optim.lr_scheduler.swa import SWALR

__all__ = [
    "AveragedModel",
    "update_bn",
    "SWALR",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
]

TensorList = list[Tensor]
AvgFn = Callable[[Tensor, Tensor, Any], Tensor]
MultiAvgFn = Callable[[TensorList, TensorList, Any], None]


def _check_decay(decay: float) -> None:
    if not 0.0 <= decay <= 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """An in-place EMA over lists of tensors: `ema = decay * ema + (1 - decay) * current`.

    >>> ema_model = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    """
    _check_decay(decay)

    def ema_update(ema_params: TensorList, current_params: TensorList, _num_averaged) -> None:
        if ema_params[0].dtype.is_floating_point:
            for ema, current in zip(ema_params, current_params, strict=True):
                ema.lerp_(current, 1 - decay)
        else:
            for ema, current in zip(ema_params, current_params, strict=True):
                ema.copy_(ema * decay + current * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """An in-place equal-weight running mean over lists of tensors (the SWA average)."""

    def swa_update(averaged: TensorList, current: TensorList, num_averaged) -> None:
        if averaged[0].dtype.is_floating_point:
            for avg, cur in zip(averaged, current, strict=True):
                avg.lerp_(cur, 1 / (num_averaged + 1))
        else:
            for avg, cur in zip(averaged, current, strict=True):
                avg.copy_(avg + (cur - avg) / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The EMA of one tensor: returns `decay * ema + (1 - decay) * current`.

    >>> ema_model = AveragedModel(net, avg_fn=get_ema_avg_fn(0.99))
    """
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The running mean of one tensor after `num_averaged` earlier models."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _deep_copy(model: Module) -> Module:
    # A buffer a lazy forward wrote is a pending computation until the next program
    # runs; compute it first, since a deep copy copies arrays, not pending graphs.
    sync()
    return copy.deepcopy(model)


def _require_module(model: Any, where: str) -> None:
    if isinstance(model, Module):
        return
    hint = ""
    if isinstance(getattr(model, "module", None), Module):
        hint = " (a compiled model: pass the nn.Module you compiled, whose parameters it trains)"
    raise TypeError(f"{where} expects an nn.Module, got {type(model).__name__}{hint}")


class AveragedModel(Module):
    """A running average of a model's weights (SWA by default, or EMA), in its own copy.

    `module` is a deep copy of `model`; `update_parameters(model)` copies the model's
    weights on the first call and averages them in afterwards; calling the averaged
    model runs `module`. `avg_fn(averaged, current, num_averaged)` returns one new
    tensor; `multi_avg_fn(averaged_list, current_list, num_averaged)` updates lists
    in place (one call per dtype). With `use_buffers=True` buffers are averaged too;
    otherwise they are copied from the model at each update.

    >>> swa_model = AveragedModel(net)
    >>> for epoch in range(epochs):
    ...     model.fit(x, y, epochs=1)               # or the PyTorch loop
    ...     swa_model.update_parameters(net)
    >>> update_bn(loader, swa_model)
    >>> ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
    """

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        _require_module(model, "AveragedModel")
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError(
                "Only one of avg_fn and multi_avg_fn should be provided; fix: pass avg_fn "
                "(one tensor at a time) or multi_avg_fn (lists, in place)"
            )
        self.module = _deep_copy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", np.zeros((), np.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average `model`'s current weights in (the first call copies them)."""
        _require_module(model, "AveragedModel.update_parameters")
        averaged = [p.data for p in self.module.parameters()]
        current = [p.detach() for p in model.parameters()]
        _check_matching("parameters", averaged, current)
        ours, theirs = list(self.module.buffers()), list(model.buffers())
        _check_matching("buffers", ours, theirs)
        if self.use_buffers:
            averaged += ours
            current += [b.detach() for b in theirs]
        n = int(self.n_averaged.item())
        with no_grad():
            if n == 0:
                for avg, cur in zip(averaged, current, strict=True):
                    avg.copy_(cur.numpy())
            else:
                self._average(averaged, current)
            if not self.use_buffers:
                for avg, cur in zip(ours, theirs, strict=True):
                    avg.copy_(cur.numpy())
        self.n_averaged = np.asarray(n + 1, np.int64)

    def _average(self, averaged: TensorList, current: TensorList) -> None:
        num_averaged = self.n_averaged  # a tensor: the programs do not change with the count
        if self.avg_fn is not None:
            for avg, cur in zip(averaged, current, strict=True):
                avg.copy_(self.avg_fn(avg, cur, num_averaged))
            return
        if self.multi_avg_fn is None:
            swa = get_swa_avg_fn()
            for avg, cur in zip(averaged, current, strict=True):
                avg.copy_(swa(avg, cur, num_averaged))
            return
        groups: dict[str, tuple[TensorList, TensorList]] = {}
        for avg, cur in zip(averaged, current, strict=True):
            ours, theirs = groups.setdefault(str(avg.dtype), ([], []))
            ours.append(avg)
            theirs.append(cur)
        for ours, theirs in groups.values():
            self.multi_avg_fn(ours, theirs, num_averaged)


def _check_matching(what: str, averaged: TensorList, current: TensorList) -> None:
    if len(averaged) != len(current):
        raise ValueError(
            f"AveragedModel.update_parameters: the model has {len(current)} {what}, the "
            f"averaged copy {len(averaged)}; fix: pass the model the AveragedModel was built "
            "from (or one of the same architecture)"
        )
    for i, (avg, cur) in enumerate(zip(averaged, current, strict=True)):
        if tuple(avg.shape) != tuple(cur.shape):
            raise ShapeError(
                f"AveragedModel.update_parameters: {what} #{i} has shape {tuple(cur.shape)} in "
                f"the model but {tuple(avg.shape)} in the averaged copy; fix: pass a model of "
                "the same architecture"
            )


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the BatchNorm running statistics of `model` with one pass over `loader`.

    Each BatchNorm's statistics are reset and re-estimated as the plain average over
    the batches (momentum=None); a batch that is a list or tuple contributes its
    first element. Afterwards every submodule is in the mode `model` was in.

    >>> update_bn(train_loader, swa_model)
    """
    _require_module(model, "update_bn")
    if not any(isinstance(m, _BatchNorm) for m in model.modules()):
        return
    was_training = model.training
    # A module's cached programs bake `momentum` in, so setting it to None on the model
    # would not reach them (and the None would leak into later training). A copy starts
    # with no programs: the passes run there and its buffers are copied back.
    work = _deep_copy(model)
    for m in work.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    work.train()
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None and hasattr(batch, "to"):
                batch = batch.to(device)
            work(batch)
        for ours, theirs in zip(model.buffers(), work.buffers(), strict=True):
            ours.copy_(theirs)
    model.train(was_training)
