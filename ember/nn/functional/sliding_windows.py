"""`Tensor.unfold(dimension, size, step)`: every window of `size` elements along a dim,
`step` apart, as a new last dim (PyTorch's strided view; here a gather of the windows, so
gradients of overlapping windows add up). Not `F.unfold`, which is im2col.

>>> import ember as em
>>> em.arange(7).unfold(0, 3, 2)
tensor([[0, 1, 2],
        [2, 3, 4],
        [4, 5, 6]])
"""

from __future__ import annotations

import numpy as np

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor
from ember.nn.functional.indexing import index_select
from ember.nn.functional.shape import movedim, reshape

__all__: list[str] = []  # a method only: the functional `unfold` is im2col


@tensor_method("unfold")
def unfold_windows(self, dimension: int, size: int, step: int) -> Tensor:
    """`Tensor.unfold`: windows of `size` along `dimension`, `step` apart, as a last dim."""
    x = as_tensor(self)
    try:
        dim = normalize_dim(dimension, x.ndim)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"unfold: {e} (input {tuple(x.shape)})")) from None
    length = x.shape[dim] if x.ndim else 1
    if step < 1 or size < 0 or size > length:
        raise x.builder.error(
            ShapeError(
                f"unfold: size {size} must be at most the dim's length {length} and step "
                f"{step} positive (input {tuple(x.shape)}, dimension {dimension})"
            )
        )
    if x.ndim == 0:
        return reshape(x, (size,))
    count = (length - size) // step + 1
    rows = (np.arange(count)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    picked = index_select(x, dim, rows.astype(np.int32))
    shape = (*x.shape[:dim], count, size, *x.shape[dim + 1 :])
    return movedim(reshape(picked, shape), dim + 1, -1)
