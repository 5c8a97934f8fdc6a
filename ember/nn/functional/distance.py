"""`F.normalize`, `F.cosine_similarity`, `F.pairwise_distance` (PyTorch's eps placement),
and `em.cdist` (all pairwise distances between two sets of row vectors)."""

from __future__ import annotations

from ember.errors import ShapeError, TraceError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import broadcast_shapes, normalize_dim
from ember.nn.functional._core import as_tensor, promote_pair, to_float
from ember.nn.functional.elementwise import clamp_min, maximum
from ember.nn.functional.linalg import matmul
from ember.nn.functional.reduction import norm
from ember.nn.functional.shape import broadcast_to, unsqueeze

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "cdist"]


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


_CDIST_MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)


def cdist(x1, x2, p: float = 2.0, compute_mode: str = _CDIST_MODES[0]) -> Tensor:
    """`torch.cdist`: the p-norm distance between each row of `x1` and each row of `x2`.

    `x1` is (..., P, M) and `x2` (..., R, M) with broadcasting leading dims; the result
    is (..., P, R). For p=2 with more than 25 rows (or `compute_mode=
    'use_mm_for_euclid_dist'`) it uses `|a|^2 + |b|^2 - 2 a.b` (one matmul, PyTorch's
    choice; less exact for nearly equal rows); otherwise the norm of every difference.

    >>> d = em.cdist(queries, keys)        # (Q, M), (K, M) -> (Q, K)
    """
    a, b = promote_pair(x1, x2)
    a, b = to_float(a), to_float(b)
    if a.ndim < 2 or b.ndim < 2:
        raise a.builder.error(
            ShapeError(
                f"cdist: expects inputs of at least 2 dims (..., rows, features), got "
                f"{a.shape} and {b.shape}; fix: unsqueeze(0) a single row vector"
            )
        )
    if a.shape[-1] != b.shape[-1]:
        raise a.builder.error(
            ShapeError(
                f"cdist: x1 {a.shape} and x2 {b.shape} must have the same number of features "
                f"(last dim), got {a.shape[-1]} and {b.shape[-1]}"
            )
        )
    if p < 0:
        raise a.builder.error(ShapeError(f"cdist: p must be >= 0, got {p}"))
    if compute_mode not in _CDIST_MODES:
        raise a.builder.error(
            UnsupportedOpError(f"cdist: compute_mode must be one of {_CDIST_MODES}")
        )
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ShapeError as e:
        raise a.builder.error(ShapeError(f"cdist: batch dims: {e}")) from None
    a = broadcast_to(a, batch + a.shape[-2:])
    b = broadcast_to(b, batch + b.shape[-2:])
    use_mm = compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == _CDIST_MODES[0] and (a.shape[-2] > 25 or b.shape[-2] > 25)
    )
    if p == 2 and use_mm:
        squared = (
            (a * a).sum(-1, keepdim=True)
            + unsqueeze((b * b).sum(-1), -2)
            - 2 * matmul(a, b.transpose(-2, -1))
        )
        # PyTorch clamps at 1e-30 before the root: a finite value, and no gradient, at 0
        return clamp_min(squared, 1e-30).sqrt()
    return norm(unsqueeze(a, -2) - unsqueeze(b, -3), p, -1)
