"""Loss functions (`torch.nn.functional` names, arguments and reductions).

Shapes are checked strictly: where PyTorch would silently broadcast an
`(N, 1)` input against an `(N,)` target, ember raises `ShapeError`.
"""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ._core import active_builder, as_tensor, emit, to_float

__internal__ = ("check_reduction", "reduce", "check_same_shape")

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(builder, loss: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise builder.error(ShapeError(f"{loss}: reduction must be one of {REDUCTIONS}, got {reduction!r}"))


def reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def check_same_shape(builder, loss: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        hint = ""
        if input.shape == target.shape + (1,) or target.shape == input.shape + (1,):
            hint = " (an (N, 1) vs (N,) mix-up: squeeze(-1) the one with the trailing 1)"
        raise builder.error(
            ShapeError(
                f"{loss}: input shape {input.shape} and target shape {target.shape} differ{hint}; "
                "ember does not broadcast loss targets; fix: make both shapes equal"
            )
        )


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    builder = active_builder(input, target)
    check_reduction(builder, "nll_loss", reduction)
    x, t = as_tensor(input, builder), as_tensor(target, builder)
    inputs = [x, t] if weight is None else [x, t, as_tensor(weight, builder).to(x.dtype)]
    return emit("nll_loss", inputs, reduction=reduction, ignore_index=int(ignore_index))


def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Cross entropy of logits `input` (N, C, ...) against class indices or probabilities."""
    builder = active_builder(input, target)
    check_reduction(builder, "cross_entropy", reduction)
    x, t = to_float(as_tensor(input, builder)), as_tensor(target, builder)
    class_dim = 1 if x.ndim >= 2 else 0
    logp = x.log_softmax(dim=class_dim)
    if t.dtype in ("float16", "bfloat16", "float32", "float64"):
        check_same_shape(builder, "cross_entropy (class-probability targets)", x, t)
        return _soft_cross_entropy(logp, t.to(x.dtype), weight, reduction, label_smoothing, class_dim)
    if t.dtype == "bool":
        raise builder.error(DTypeError("cross_entropy: bool targets; fix: y.long()"))
    nll = nll_loss(logp, t, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    return _smoothed(logp, t, nll, weight, ignore_index, reduction, label_smoothing, class_dim)


def _soft_cross_entropy(logp, probs, weight, reduction, smoothing, class_dim):
    n_classes = logp.shape[class_dim]
    if smoothing:
        probs = probs * (1.0 - smoothing) + smoothing / n_classes
    terms = logp * probs
    if weight is not None:
        w = as_tensor(weight, logp.builder).to(logp.dtype)
        terms = terms * w.reshape((n_classes,) + (1,) * (logp.ndim - class_dim - 1))
    loss = -terms.sum(class_dim)
    if reduction == "mean":
        return loss.sum() / (loss.numel() or 1)
    return reduce(loss, reduction)


def _smoothed(logp, target, nll, weight, ignore_index, reduction, smoothing, class_dim):
    # PyTorch: (1 - eps) * nll + eps * smooth, smooth = -sum_c w_c logp_c / C over non-ignored
    n_classes = logp.shape[class_dim]
    valid = (target != ignore_index).to(logp.dtype)
    per_class = -logp
    if weight is not None:
        w = as_tensor(weight, logp.builder).to(logp.dtype)
        per_class = per_class * w.reshape((n_classes,) + (1,) * (logp.ndim - class_dim - 1))
    smooth = per_class.sum(class_dim) * valid / n_classes
    if reduction == "mean":
        if weight is None:
            smooth = smooth.sum() / valid.sum()
        else:
            safe = target * (target != ignore_index).long()
            wt = as_tensor(weight, logp.builder).to(logp.dtype)[safe] * valid
            smooth = smooth.sum() / wt.sum()
    else:
        smooth = reduce(smooth, reduction)
    return nll * (1.0 - smoothing) + smooth * smoothing


def mse_loss(input, target, reduction: str = "mean"):
    builder = active_builder(input, target)
    check_reduction(builder, "mse_loss", reduction)
    x, t = as_tensor(input, builder), as_tensor(target, builder)
    check_same_shape(builder, "mse_loss", x, t)
    diff = x - t
    return reduce(diff * diff, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    builder = active_builder(input, target)
    check_reduction(builder, "l1_loss", reduction)
    x, t = as_tensor(input, builder), as_tensor(target, builder)
    check_same_shape(builder, "l1_loss", x, t)
    return reduce((x - t).abs(), reduction)
