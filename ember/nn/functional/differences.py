"""`diff`: n-th forward differences along a dim, as slices of the input."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import active_builder, as_tensor
from ember.nn.functional.elementwise import logical_xor
from ember.nn.functional.shape import cat, narrow

__all__ = ["diff"]


@tensor_method()
def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """`torch.diff`: `out[i] = input[i + 1] - input[i]` along `dim`, applied `n` times.

    `prepend` / `append` are concatenated along `dim` first (same shape except
    along `dim`). Bool inputs give `!=` (PyTorch's logical difference).

    >>> em.diff(em.tensor([1, 4, 9, 16]))          # [3, 5, 7]
    """
    builder = active_builder(input, prepend, append)
    x = as_tensor(input, builder)
    if x.ndim == 0:
        raise builder.error(ShapeError("diff: expects a tensor with at least 1 dim, got a 0-d one"))
    if n < 0:
        raise builder.error(ShapeError(f"diff: order n must be non-negative, got {n}"))
    try:
        d = normalize_dim(dim, x.ndim)
    except ShapeError as e:
        raise builder.error(ShapeError(f"diff: {e}")) from None
    parts = [as_tensor(p, builder) for p in (prepend, x, append) if p is not None]
    for p in parts:
        if p.ndim != x.ndim or any(p.shape[i] != x.shape[i] for i in range(x.ndim) if i != d):
            raise builder.error(
                ShapeError(
                    f"diff: prepend/append of shape {p.shape} must match the input {x.shape} "
                    f"in every dim but dim {d}; fix: broadcast or unsqueeze it"
                )
            )
    x = cat(parts, d)
    for _ in range(n):
        length = x.shape[d]
        if length == 0:
            break
        later, earlier = narrow(x, d, 1, length - 1), narrow(x, d, 0, length - 1)
        x = logical_xor(later, earlier) if x.dtype == "bool" else later - earlier
    return x
