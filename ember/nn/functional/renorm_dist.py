"""`dist` (the p-norm of a difference) and `renorm` (cap the p-norm of each slice)."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor, promote_pair
from ember.nn.functional.elementwise import where
from ember.nn.functional.reduction import norm

__all__ = ["dist", "renorm"]


def _floating(name: str, x: Tensor) -> None:
    if not dtypes.is_floating(x.dtype):
        raise x.builder.error(
            DTypeError(f"{name}: expects a floating-point tensor, got {x.dtype} (as PyTorch)")
        )


@tensor_method()
def dist(input, other, p: float = 2) -> Tensor:
    """`torch.dist`: the p-norm of `input - other` (broadcast) over all elements; `p` may
    be 0 (non-zero count), inf or -inf.

    >>> em.dist(a, b)                      # Euclidean distance
    """
    a, b = promote_pair(input, other)
    _floating("dist", a)
    return norm(a - b, float(p), None, False, None)


@tensor_method()
def renorm(input, p: float, dim: int, maxnorm: float) -> Tensor:
    """`torch.renorm`: each slice `input.select(dim, i)` whose p-norm exceeds `maxnorm`
    is scaled by `maxnorm / (norm + 1e-7)` (PyTorch's factor); the others are kept."""
    x = as_tensor(input)
    _floating("renorm", x)
    if p <= 0:
        raise x.builder.error(ShapeError(f"renorm: p must be positive, got {p}"))
    if maxnorm < 0:
        raise x.builder.error(ShapeError(f"renorm: maxnorm must be non-negative, got {maxnorm}"))
    try:
        d = normalize_dim(dim, max(x.ndim, 1))
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"renorm: {e}")) from None
    if x.ndim == 0:
        raise x.builder.error(ShapeError("renorm: expects a tensor with at least 1 dim"))
    others = tuple(k for k in range(x.ndim) if k != d)
    norms = norm(x, float(p), others, True, None) if others else x.abs()
    factor = where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return x * factor
