"""`tensor_split`: NumPy's `array_split` with PyTorch's name (sections or split indices)."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor
from ember.nn.functional.shape import slice_dims
from ember.nn.functional.views import returns_view

__all__ = ["tensor_split"]


def _bounds(size: int, indices_or_sections) -> list[tuple[int, int]]:
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        # the first size % n pieces are one longer, as in PyTorch and NumPy
        lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
        starts = [sum(lengths[:i]) for i in range(n)]
        return [(s, s + length) for s, length in zip(starts, lengths, strict=True)]
    cuts = [min(max(c + size if c < 0 else c, 0), size) for c in indices_or_sections]
    edges = [0, *cuts, size]
    return [(lo, max(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


@tensor_method()
@returns_view
def tensor_split(input, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """`torch.tensor_split`: `n` nearly equal pieces along `dim`, or pieces cut at the
    given indices (`[2, 5]` -> `x[:2]`, `x[2:5]`, `x[5:]`); pieces may be empty.

    >>> a, b, c = em.tensor_split(em.arange(7), 3)   # sizes 3, 2, 2
    """
    x = as_tensor(input)
    if x.ndim == 0:
        raise x.builder.error(
            ShapeError("tensor_split: expects a tensor with at least 1 dim, got a 0-d tensor")
        )
    try:
        d = normalize_dim(dim, x.ndim)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"tensor_split: {e} (input {x.shape})")) from None
    split = indices_or_sections
    if isinstance(split, Tensor):  # PyTorch accepts a 0-d (sections) or 1-d (indices) tensor
        split = split.tolist()
    if isinstance(split, int) and split <= 0:
        raise x.builder.error(
            ShapeError(f"tensor_split: the number of sections must be positive, got {split}")
        )
    if not isinstance(split, int):
        split = [int(i) for i in split]
    return tuple(slice_dims(x, {d: (lo, hi, 1)}) for lo, hi in _bounds(x.shape[d], split))
