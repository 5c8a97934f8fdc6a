"""Regression and likelihood losses: MSE, L1, smooth L1, Huber, KL, Poisson and Gaussian NLL.

PyTorch broadcasts `input` against `target` (with a warning) in all of these;
ember requires equal shapes and raises `ShapeError` naming both.
"""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import active_builder
from ember.nn.functional.elementwise import where
from ember.nn.functional.loss import (
    apply_reduction,
    check_reduction,
    check_same_shape,
    float_operands,
    legacy_reduction,
)

__all__ = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
]


def _pair(loss: str, input, target, reduction: str, weight=None):
    builder = active_builder(input, target)
    check_reduction(builder, loss, reduction)
    x, t, w = float_operands(builder, loss, input, target, weight)
    check_same_shape(builder, loss, x, t)
    if w is not None:
        check_same_shape(builder, loss, x, w, ("input", "weight"))
    return builder, x, t, w


def _weighted(loss: Tensor, w: Tensor | None, reduction: str) -> Tensor:
    # PyTorch's weighted mse/l1: the 'mean' divides by the sum of the weights
    if w is None:
        return apply_reduction(loss, reduction)
    loss = loss * w
    return loss.sum() / w.sum() if reduction == "mean" else apply_reduction(loss, reduction)


def mse_loss(
    input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None
) -> Tensor:
    """Mean squared error; `weight` (input's shape) gives a weighted mean sum(w e) / sum(w)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _, x, t, w = _pair("mse_loss", input, target, reduction, weight)
    diff = x - t
    return _weighted(diff * diff, w, reduction)


def l1_loss(
    input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None
) -> Tensor:
    """Mean absolute error; `weight` (input's shape) gives a weighted mean sum(w e) / sum(w)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _, x, t, w = _pair("l1_loss", input, target, reduction, weight)
    return _weighted((x - t).abs(), w, reduction)


def smooth_l1_loss(
    input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta=0 is the L1 loss)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    builder, x, t, _ = _pair("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise builder.error(ShapeError(f"smooth_l1_loss: beta must be >= 0, got {beta}"))
    d = (x - t).abs()
    if beta == 0.0:
        return apply_reduction(d, reduction)
    return apply_reduction(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); `weight` scales elements.

    With `weight`, 'mean' is the plain mean of the weighted elements (as in PyTorch).
    """
    builder, x, t, w = _pair("huber_loss", input, target, reduction, weight)
    if delta <= 0:
        raise builder.error(ShapeError(f"huber_loss: delta must be > 0, got {delta}"))
    d = (x - t).abs()
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return apply_reduction(loss if w is None else loss * w, reduction)


def _safe_xlogx(t: Tensor) -> Tensor:
    # 0 log 0 = 0; the inner where keeps log's gradient finite at t = 0
    pos = t > 0
    return where(pos, t * where(pos, t, 1.0).log(), 0.0)


def kl_div(
    input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False
) -> Tensor:
    """KL divergence of log-probabilities `input` from `target` (probabilities, or log with
    `log_target`); 'batchmean' divides the sum by the batch size, 'mean' by the element count."""
    builder = active_builder(input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(builder, "kl_div", reduction, ("mean", "batchmean", "sum", "none"))
    x, t = float_operands(builder, "kl_div", input, target)
    check_same_shape(builder, "kl_div", x, t)
    loss = (t.exp() * (t - x)) if log_target else _safe_xlogx(t) - t * x
    if reduction == "batchmean":
        return loss.sum() / x.shape[0] if x.ndim else loss.sum()
    return apply_reduction(loss, reduction)


def poisson_nll_loss(
    input,
    target,
    log_input: bool = True,
    full: bool = False,
    size_average=None,
    eps: float = 1e-8,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: exp(x) - t x (log_input) or x - t log(x + eps);
    `full` adds Stirling's approximation of log(t!) where t > 1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _, x, t, _ = _pair("poisson_nll_loss", input, target, reduction)
    loss = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        big = t > 1
        safe = where(big, t, 1.0)
        stirling = safe * safe.log() - safe + (safe * (2 * math.pi)).log() * 0.5
        loss = loss + where(big, stirling, 0.0)
    return apply_reduction(loss, reduction)


def _var_shape_ok(input_shape: tuple, var_shape: tuple) -> bool:
    # PyTorch's rules: equal, one trailing dim short, or one mismatched dim of size 1
    if var_shape == input_shape or var_shape == input_shape[:-1]:
        return True
    if len(var_shape) != len(input_shape):
        return False
    mismatched = [v for v, s in zip(var_shape, input_shape, strict=True) if v != s]
    return mismatched == [1]


def gaussian_nll_loss(
    input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"
) -> Tensor:
    """0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps)) (+ 0.5 log(2 pi) if full).

    `var` is a float, or a tensor of the input's shape, of the input's shape without its last
    dim, or with one dim of size 1 (PyTorch's homoscedastic forms). PyTorch raises on negative
    tensor entries of `var`; that needs concrete values, so ember clamps them to `eps`.
    Like PyTorch, the clamp passes gradients straight through to `var`.
    """
    builder = active_builder(input, target, var)
    check_reduction(builder, "gaussian_nll_loss", reduction)
    if isinstance(var, (int, float)):
        if var < 0:
            raise builder.error(ShapeError(f"gaussian_nll_loss: var has a negative value {var}"))
        x, t = float_operands(builder, "gaussian_nll_loss", input, target)
        v = max(float(var), eps)
    else:
        x, t, v = float_operands(builder, "gaussian_nll_loss", input, target, var)
        if not _var_shape_ok(x.shape, v.shape):
            raise builder.error(
                ShapeError(
                    f"gaussian_nll_loss: var of shape {v.shape} does not fit the input "
                    f"shape {x.shape}; fix: give var the input's shape, the input's shape "
                    f"without its last dim {x.shape[:-1]}, or a 1 in one dim"
                )
            )
        if v.shape == x.shape[:-1] and v.shape != x.shape:
            v = v.unsqueeze(-1)
        v = v + (v.clamp(min=eps) - v).detach()
    check_same_shape(builder, "gaussian_nll_loss", x, t)
    diff = x - t
    loss = (diff * diff / v + (v.log() if isinstance(v, Tensor) else math.log(v))) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return apply_reduction(loss, reduction)
