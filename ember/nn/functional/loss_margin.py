"""Margin and embedding losses: cosine embedding, margin ranking, hinge embedding,
multi-class / multi-label margin and triplet losses (PyTorch names and reductions).

PyTorch broadcasts the operands of the pairwise losses; ember requires the
shapes PyTorch documents ((N, D) inputs with (N,) labels, or (D,) with a scalar).
"""

from __future__ import annotations

from collections.abc import Callable

from ember.errors import DTypeError, ShapeError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import GraphBuilder
from ember.nn.functional._core import active_builder, as_tensor, emit
from ember.nn.functional.elementwise import minimum, where
from ember.nn.functional.loss import (
    apply_reduction,
    check_reduction,
    check_same_shape,
    float_operands,
)
from ember.nn.functional.loss import legacy_reduction as _legacy

__all__ = [
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]

_INTS = ("uint8", "int8", "int16", "int32", "int64")


def _check_vectors(builder: GraphBuilder, loss: str, names: tuple, xs: list[Tensor]) -> None:
    """Each of `xs` is (N, D) or (D,), all of one shape."""
    for name, x in zip(names, xs, strict=True):
        if x.ndim not in (1, 2):
            raise builder.error(ShapeError(f"{loss}: {name} must be (N, D) or (D,), got {x.shape}"))
    for name, x in zip(names[1:], xs[1:], strict=True):
        check_same_shape(builder, loss, xs[0], x, (names[0], name))


def _check_labels(builder: GraphBuilder, loss: str, x: Tensor, target: Tensor) -> None:
    want = x.shape[:-1]
    if target.shape != want:
        raise builder.error(
            ShapeError(
                f"{loss}: inputs of shape {x.shape} need a target of shape {want}, "
                f"got {target.shape}"
            )
        )


def cosine_embedding_loss(
    input1,
    input2,
    target,
    margin: float = 0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    builder = active_builder(input1, input2, target)
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(builder, "cosine_embedding_loss", reduction)
    x1, x2, y = float_operands(builder, "cosine_embedding_loss", input1, input2, target)
    _check_vectors(builder, "cosine_embedding_loss", ("input1", "input2"), [x1, x2])
    _check_labels(builder, "cosine_embedding_loss", x1, y)
    eps = 1e-12  # PyTorch's: added to each squared norm
    prod = (x1 * x2).sum(-1)
    denom = (((x1 * x1).sum(-1) + eps) * ((x2 * x2).sum(-1) + eps)).sqrt()
    cos = prod / denom
    loss = where(y == 1, 1.0 - cos, 0.0) + where(y == -1, (cos - margin).relu(), 0.0)
    return apply_reduction(loss, reduction)


def margin_ranking_loss(
    input1,
    input2,
    target,
    margin: float = 0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, -y (x1 - x2) + margin); all three of one shape."""
    builder = active_builder(input1, input2, target)
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(builder, "margin_ranking_loss", reduction)
    x1, x2, y = float_operands(builder, "margin_ranking_loss", input1, input2, target)
    check_same_shape(builder, "margin_ranking_loss", x1, x2, ("input1", "input2"))
    check_same_shape(builder, "margin_ranking_loss", x1, y, ("input1", "target"))
    return apply_reduction((-y * (x1 - x2) + margin).relu(), reduction)


def hinge_embedding_loss(
    input, target, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """x where target is 1, max(0, margin - x) where it is -1 (PyTorch's masks for other values)."""
    builder = active_builder(input, target)
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(builder, "hinge_embedding_loss", reduction)
    x, y = float_operands(builder, "hinge_embedding_loss", input, target)
    check_same_shape(builder, "hinge_embedding_loss", x, y)
    loss = where(y != 1, (margin - x).relu(), 0.0) + where(y != -1, x, 0.0)
    return apply_reduction(loss, reduction)


def _class_target(builder: GraphBuilder, loss: str, input, target) -> tuple[Tensor, Tensor]:
    x, t = float_operands(builder, loss, input)[0], as_tensor(target, builder)
    if t.dtype not in _INTS:
        raise builder.error(
            DTypeError(
                f"{loss}: targets must be integer class indices, got {t.dtype}; fix: y.long()"
            )
        )
    if x.ndim not in (1, 2):
        raise builder.error(ShapeError(f"{loss}: input must be (N, C) or (C,), got {x.shape}"))
    return x, t


def _class_ids(x: Tensor) -> Tensor:
    return emit("iota", [], start=0.0, step=1.0, size=x.shape[-1], dtype="int32")


def multi_margin_loss(
    input,
    target,
    p: int = 1,
    margin: float = 1.0,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """sum_{j != y} max(0, margin - x[y] + x[j])^p / C per sample, times weight[y]."""
    builder = active_builder(input, target)
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(builder, "multi_margin_loss", reduction)
    if p not in (1, 2):
        raise builder.error(
            UnsupportedOpError(
                f"multi_margin_loss: only p == 1 and p == 2 are supported, got p={p}"
            )
        )
    x, t = _class_target(builder, "multi_margin_loss", input, target)
    if x.ndim == 1 and t.shape == (1,):  # PyTorch takes a (1,) target for a (C,) input too
        x = x.unsqueeze(0)
    _check_labels(builder, "multi_margin_loss", x, t)
    n_classes = x.shape[-1]
    picked = x.gather(x.ndim - 1, t.unsqueeze(-1))  # x[y] as (..., 1): broadcasts over classes
    h = (x - picked + margin).relu()
    if p == 2:
        h = h * h
    if weight is not None:
        w = float_operands(builder, "multi_margin_loss", weight)[0].to(x.dtype)
        if w.shape != (n_classes,):
            raise builder.error(
                ShapeError(f"multi_margin_loss: weight must be ({n_classes},), got {w.shape}")
            )
        h = h * w[t].unsqueeze(-1)
    h = where(_class_ids(x) != t.unsqueeze(-1), h, 0.0)
    return apply_reduction(h.sum(-1) / n_classes, reduction)


def multilabel_margin_loss(
    input, target, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """sum_{j in targets, i not in targets} max(0, 1 - (x[j] - x[i])) / C per sample.

    `target` has the input's shape and holds class indices, ended by the first -1.
    """
    builder = active_builder(input, target)
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(builder, "multilabel_margin_loss", reduction)
    x, t = _class_target(builder, "multilabel_margin_loss", input, target)
    check_same_shape(builder, "multilabel_margin_loss", x, t)
    n_classes = x.shape[-1]
    # the targets before the first negative entry count; a cumulative sum marks the rest
    valid = (t < 0).to("int32").cumsum(-1) == 0  # (..., K)
    safe = where(valid, t, 0)
    is_target = ((safe.unsqueeze(-1) == _class_ids(x)) & valid.unsqueeze(-1)).any(-2)  # (..., C)
    picked = x.gather(x.ndim - 1, safe)  # x[j] for each target slot
    hinge = (1.0 - picked.unsqueeze(-1) + x.unsqueeze(-2)).relu()  # (..., K, C)
    mask = valid.unsqueeze(-1) & ~is_target.unsqueeze(-2)
    loss = where(mask, hinge, 0.0).sum((-2, -1)) / n_classes
    return apply_reduction(loss, reduction)


def _pairwise_distance(p: float, eps: float) -> Callable[[Tensor, Tensor], Tensor]:
    def distance(a: Tensor, b: Tensor) -> Tensor:
        return (a - b + eps).norm(p, -1)

    return distance


def _triplet(distance, anchor, positive, negative, margin, swap, reduction):
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:  # Balntas et al.: use the closer of the two negatives
        d_neg = minimum(d_neg, distance(positive, negative))
    return apply_reduction((d_pos - d_neg + margin).relu(), reduction)


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) with d(x, y) = ||x - y + eps||_p over the last dim."""
    builder = active_builder(anchor, positive, negative)
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(builder, "triplet_margin_loss", reduction)
    if margin <= 0:
        raise builder.error(ShapeError(f"triplet_margin_loss: margin must be > 0, got {margin}"))
    a, pos, neg = float_operands(builder, "triplet_margin_loss", anchor, positive, negative)
    _check_vectors(
        builder, "triplet_margin_loss", ("anchor", "positive", "negative"), [a, pos, neg]
    )
    return _triplet(_pairwise_distance(p, eps), a, pos, neg, margin, swap, reduction)


def triplet_margin_with_distance_loss(
    anchor,
    positive,
    negative,
    *,
    distance_function: Callable | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """The triplet loss with any traced `distance_function(x, y)` (default: the L2 distance)."""
    builder = active_builder(anchor, positive, negative)
    check_reduction(builder, "triplet_margin_with_distance_loss", reduction)
    if margin <= 0:
        raise builder.error(
            ShapeError(f"triplet_margin_with_distance_loss: margin must be > 0, got {margin}")
        )
    a, pos, neg = (as_tensor(x, builder) for x in (anchor, positive, negative))
    if not a.ndim == pos.ndim == neg.ndim:
        raise builder.error(
            ShapeError(
                f"triplet_margin_with_distance_loss: anchor {a.shape}, positive {pos.shape} "
                f"and negative {neg.shape} must have the same number of dims"
            )
        )
    distance = distance_function or _pairwise_distance(2.0, 1e-6)
    return _triplet(distance, a, pos, neg, margin, swap, reduction)
