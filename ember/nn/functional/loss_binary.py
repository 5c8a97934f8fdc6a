"""Binary and multi-label losses: BCE, BCE with logits, soft margin, multi-label soft margin.

Inputs and targets must have equal shapes (PyTorch requires that for both BCE
forms; it broadcasts in the soft-margin losses, ember does not). `weight` and
`pos_weight` may broadcast to the input's shape but not enlarge it.
"""

from __future__ import annotations

from ember.frontend.tensor import Tensor
from ember.nn.functional._core import active_builder
from ember.nn.functional.activation import logsigmoid
from ember.nn.functional.elementwise import where
from ember.nn.functional.loss import (
    apply_reduction,
    check_broadcasts_to,
    check_reduction,
    check_same_shape,
    float_operands,
)
from ember.nn.functional.loss import legacy_reduction as _legacy

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
]


def _operands(loss: str, input, target, reduction: str, *rescales):
    builder = active_builder(input, target)
    check_reduction(builder, loss, reduction)
    x, t, *rest = float_operands(builder, loss, input, target, *rescales)
    check_same_shape(builder, loss, x, t)
    for name, r in zip(("weight", "pos_weight"), rest, strict=False):
        if r is not None:
            check_broadcasts_to(builder, loss, name, r, x.shape)
    return (x, t, *rest)


def _clamped_log(p: Tensor) -> Tensor:
    # PyTorch clamps log at -100 so that p = 0 gives a finite loss; the inner where keeps
    # the gradient finite too (0 at exactly p = 0, where PyTorch's is (p - t) / 1e-12)
    pos = p > 0
    return where(pos, where(pos, p, 1.0).log().clamp(min=-100.0), -100.0)


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """-w (t log(x) + (1 - t) log(1 - x)) of probabilities `input`, each log clamped at -100."""
    reduction = _legacy(size_average, reduce, reduction)
    x, t, w = _operands("binary_cross_entropy", input, target, reduction, weight)
    loss = -(t * _clamped_log(x) + (1.0 - t) * _clamped_log(1.0 - x))
    return apply_reduction(loss if w is None else loss * w, reduction)


def binary_cross_entropy_with_logits(
    input,
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight=None,
) -> Tensor:
    """sigmoid + BCE in one numerically stable expression; `pos_weight` (e.g. (C,)) scales the
    positive term: -w (pw t log s(x) + (1 - t) log(1 - s(x)))."""
    reduction = _legacy(size_average, reduce, reduction)
    x, t, w, pw = _operands(
        "binary_cross_entropy_with_logits", input, target, reduction, weight, pos_weight
    )
    # log(1 - s(x)) = log s(x) - x, so the loss is (1 - t) x - (1 + (pw - 1) t) log s(x)
    log_weight = 1.0 if pw is None else (pw - 1.0) * t + 1.0
    loss = (1.0 - t) * x - log_weight * logsigmoid(x)
    return apply_reduction(loss if w is None else loss * w, reduction)


def soft_margin_loss(
    input, target, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """log(1 + exp(-y x)) with labels y in {1, -1}, computed stably as -logsigmoid(y x)."""
    reduction = _legacy(size_average, reduce, reduction)
    x, t = _operands("soft_margin_loss", input, target, reduction)
    return apply_reduction(-logsigmoid(t * x), reduction)


def multilabel_soft_margin_loss(
    input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """Per-sample mean over the last (class) dim of the logistic loss of 0/1 `target`."""
    reduction = _legacy(size_average, reduce, reduction)
    x, t, w = _operands("multilabel_soft_margin_loss", input, target, reduction, weight)
    loss = -(t * logsigmoid(x) + (1.0 - t) * logsigmoid(-x))
    if w is not None:
        loss = loss * w
    n_classes = x.shape[-1] if x.ndim else 1
    loss = loss.sum(-1) / n_classes if x.ndim else loss
    return apply_reduction(loss, reduction)
