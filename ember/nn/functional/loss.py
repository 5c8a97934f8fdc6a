"""Classification losses (`nll_loss`, `cross_entropy`) and the helpers every loss shares.

Shapes are checked strictly: where PyTorch would silently broadcast an
`(N, 1)` input against an `(N,)` target, ember raises `ShapeError`.
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import GraphBuilder
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn.functional._core import active_builder, as_tensor, emit, to_float

__all__ = ["nll_loss", "cross_entropy"]

REDUCTIONS = ("mean", "sum", "none")
FLOATS = ("float16", "bfloat16", "float32", "float64")


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's deprecated `size_average` / `reduce` flags, when given, override `reduction`."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def check_reduction(
    builder: GraphBuilder, loss: str, reduction: str, allowed: tuple[str, ...] = REDUCTIONS
) -> None:
    if reduction not in allowed:
        raise builder.error(
            ShapeError(f"{loss}: reduction must be one of {allowed}, got {reduction!r}")
        )


def apply_reduction(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def check_same_shape(
    builder: GraphBuilder,
    loss: str,
    input: Tensor,
    target: Tensor,
    names: tuple[str, str] = ("input", "target"),
) -> None:
    if input.shape != target.shape:
        hint = ""
        if input.shape == target.shape + (1,) or target.shape == input.shape + (1,):
            hint = " (an (N, 1) vs (N,) mix-up: squeeze(-1) the one with the trailing 1)"
        raise builder.error(
            ShapeError(
                f"{loss}: {names[0]} shape {input.shape} and {names[1]} shape {target.shape} "
                f"differ{hint}; ember does not broadcast loss targets; fix: make both shapes equal"
            )
        )


def check_broadcasts_to(
    builder: GraphBuilder, loss: str, what: str, t: Tensor, shape: tuple
) -> None:
    """A per-element rescaling (`weight`, `pos_weight`) may broadcast, but never grow the input."""
    try:
        ok = broadcast_shapes(t.shape, shape) == tuple(shape)
    except ShapeError:
        ok = False
    if not ok:
        raise builder.error(
            ShapeError(
                f"{loss}: {what} of shape {t.shape} does not broadcast to the input shape "
                f"{tuple(shape)}; fix: give it shape {tuple(shape)} or a broadcastable "
                f"suffix such as ({shape[-1] if shape else 1},)"
            )
        )


def float_operands(builder: GraphBuilder, loss: str, *xs) -> list[Tensor]:
    """Float tensors of one promoted dtype (targets may arrive as ints or bools)."""
    from ember.graphdef import dtypes

    ts = [to_float(as_tensor(x, builder)) if x is not None else None for x in xs]
    dt = None
    for t in ts:
        if t is not None:
            dt = t.dtype if dt is None else dtypes.promote(dt, t.dtype)
    return [t.to(dt) if t is not None else None for t in ts]


def nll_loss(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities `input` (N, C, d1, ...) at class `target`."""
    builder = active_builder(input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(builder, "nll_loss", reduction)
    x, t = as_tensor(input, builder), as_tensor(target, builder)
    inputs = [x, t] if weight is None else [x, t, as_tensor(weight, builder).to(x.dtype)]
    return emit("nll_loss", inputs, reduction=reduction, ignore_index=int(ignore_index))


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits `input` (N, C, d1, ...) against class indices or probabilities.

    Class-probability targets must have the input's shape (PyTorch's rule too).
    """
    builder = active_builder(input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(builder, "cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise builder.error(
            ShapeError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        )
    x, t = to_float(as_tensor(input, builder)), as_tensor(target, builder)
    class_dim = 1 if x.ndim >= 2 else 0
    logp = x.log_softmax(dim=class_dim)
    if t.dtype in FLOATS:
        check_same_shape(builder, "cross_entropy (class-probability targets)", x, t)
        return _soft_cross_entropy(
            logp, t.to(x.dtype), weight, reduction, label_smoothing, class_dim
        )
    if t.dtype == "bool":
        raise builder.error(DTypeError("cross_entropy: bool targets; fix: y.long()"))
    nll = nll_loss(logp, t, weight, None, ignore_index, None, reduction)
    if label_smoothing == 0.0:
        return nll
    return _smoothed(logp, t, nll, weight, ignore_index, reduction, label_smoothing, class_dim)


def _class_weight(weight, logp: Tensor, class_dim: int) -> Tensor:
    n_classes = logp.shape[class_dim]
    w = as_tensor(weight, logp.builder).to(logp.dtype)
    return w.reshape((n_classes,) + (1,) * (logp.ndim - class_dim - 1))


def _soft_cross_entropy(logp, probs, weight, reduction, smoothing, class_dim):
    n_classes = logp.shape[class_dim]
    if smoothing:
        probs = probs * (1.0 - smoothing) + smoothing / n_classes
    terms = logp * probs
    if weight is not None:
        terms = terms * _class_weight(weight, logp, class_dim)
    loss = -terms.sum(class_dim)
    if reduction == "mean":  # PyTorch: over the batch elements, not the weights
        return loss.sum() / (loss.numel() or 1)
    return apply_reduction(loss, reduction)


def _smoothed(logp, target, nll, weight, ignore_index, reduction, smoothing, class_dim):
    # PyTorch: (1 - eps) * nll + eps * smooth, smooth = -sum_c w_c logp_c / C over non-ignored
    n_classes = logp.shape[class_dim]
    valid = (target != ignore_index).to(logp.dtype)
    per_class = -logp
    if weight is not None:
        per_class = per_class * _class_weight(weight, logp, class_dim)
    smooth = per_class.sum(class_dim) * valid / n_classes
    if reduction == "mean":
        if weight is None:
            smooth = smooth.sum() / valid.sum()
        else:
            safe = target * (target != ignore_index).to(target.dtype)
            wt = as_tensor(weight, logp.builder).to(logp.dtype)[safe] * valid
            smooth = smooth.sum() / wt.sum()
    else:
        smooth = apply_reduction(smooth, reduction)
    return nll * (1.0 - smoothing) + smooth * smoothing
