"""`F.normalize`, `F.cosine_similarity`, `F.pairwise_distance` (PyTorch's eps placement)."""

from __future__ import annotations

from ember.errors import ShapeError, TraceError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import broadcast_shapes, normalize_dim
from ember.nn.functional._core import as_tensor, promote_pair, to_float
from ember.nn.functional.elementwise import maximum
from ember.nn.functional.reduction import norm

__all__ = ["normalize", "cosine_similarity", "pairwise_distance"]


def clamped_l2_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    """`max(||x||_2, eps)` along `dim` (kept) as `sqrt(max(sum(x^2), eps^2))`.

    Same value, but the gradient of an all-zero slice is 0 rather than NaN
    (sqrt has an infinite slope at 0), matching PyTorch's clamped norm.
    """
    return maximum((x * x).sum(dim, keepdim=True), float(eps) ** 2).sqrt()


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """`x / max(||x||_p, eps)` along `dim`.

    >>> unit = F.normalize(x, dim=-1)   # rows of L2 norm 1
    """
    x = to_float(as_tensor(input))
    if out is not None:
        raise x.builder.error(
            TraceError(
                "normalize: out= is not supported in a traced graph; fix: use the returned tensor"
            )
        )
    try:
        d = normalize_dim(dim, x.ndim)
    except ShapeError as e:
        raise x.builder.error(e) from None
    if p == 2:
        return x / clamped_l2_norm(x, d, eps)
    return x / maximum(norm(x, p, d, keepdim=True), float(eps))


def _broadcast_pair(op: str, x1, x2) -> tuple[Tensor, Tensor]:
    a, b = promote_pair(x1, x2)
    a, b = to_float(a), to_float(b)
    try:
        shape = broadcast_shapes(a.shape, b.shape)
    except ShapeError as e:
        raise a.builder.error(ShapeError(f"{op}: {e}")) from None
    return a.broadcast_to(shape), b.broadcast_to(shape)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """`sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))` along `dim`, after broadcasting."""
    a, b = _broadcast_pair("cosine_similarity", x1, x2)
    try:
        d = normalize_dim(dim, a.ndim)
    except ShapeError as e:
        raise a.builder.error(e) from None
    return ((a / clamped_l2_norm(a, d, eps)) * (b / clamped_l2_norm(b, d, eps))).sum(d)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """`||x1 - x2 + eps||_p` over the last dim (p=0 counts the non-zero differences)."""
    a, b = _broadcast_pair("pairwise_distance", x1, x2)
    if a.ndim == 0:
        raise a.builder.error(
            ShapeError(
                "pairwise_distance: expected inputs with at least 1 dim, got two 0-d tensors"
            )
        )
    diff = a - b + eps
    if p == 0:
        return (diff != 0).to(diff.dtype).sum(-1, keepdim=keepdim)
    return norm(diff, p, -1, keepdim=keepdim)
