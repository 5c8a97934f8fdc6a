"""Diagonals: `diagonal` (read one), `diag_embed` (build matrices from one), `diag` (either).

All three are static reshapes, slices and pads, so they cost no gather and their
gradients are the matching slice or pad.
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor, constant
from ember.nn.functional.creation import eye
from ember.nn.functional.elementwise import where
from ember.nn.functional.pad import pad
from ember.nn.functional.shape import broadcast_to, movedim, reshape, slice_dims, unsqueeze
from ember.nn.functional.views import returns_view

__all__ = ["diagonal", "diag_embed", "diag"]


def _diagonal_length(rows: int, cols: int, offset: int) -> int:
    return max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))


def _two_dims(op: str, x: Tensor, dim1: int, dim2: int, ndim: int) -> tuple[int, int]:
    try:
        d1, d2 = normalize_dim(dim1, ndim, "dim1"), normalize_dim(dim2, ndim, "dim2")
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"{op}: {e} (input shape {x.shape})")) from None
    if d1 == d2:
        raise x.builder.error(
            ShapeError(
                f"{op}: dim1 and dim2 cannot be the same dimension, got dim1={dim1}, "
                f"dim2={dim2} for input shape {x.shape}; fix: pass two different dims"
            )
        )
    return d1, d2


@tensor_method()
@returns_view
def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """`torch.diagonal`: the `offset` diagonal of the (dim1, dim2) planes, as the last dim.

    >>> em.diagonal(batch_of_matrices, dim1=-2, dim2=-1)   # (B, n, n) -> (B, n)
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise x.builder.error(
            ShapeError(
                f"diagonal: expects a tensor with at least 2 dims, got shape {x.shape}; "
                "fix: use em.diag_embed to build a matrix from a vector"
            )
        )
    d1, d2 = _two_dims("diagonal", x, dim1, dim2, x.ndim)
    x = movedim(x, (d1, d2), (-2, -1))
    *batch, rows, cols = x.shape
    length = _diagonal_length(rows, cols, int(offset))
    # in the row-major flattened plane, element (i, i + k) sits at k + i * (cols + 1)
    flat = reshape(x, (*batch, rows * cols))
    if length == 0:
        return slice_dims(flat, {len(batch): (0, 0, 1)})
    start = offset if offset >= 0 else -offset * cols
    stop = start + (length - 1) * (cols + 1) + 1
    return slice_dims(flat, {len(batch): (start, stop, cols + 1)})


_read_diagonal = diagonal  # `diag`'s argument is named `diagonal`, as in PyTorch


@tensor_method()
def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """`torch.diag_embed`: matrices whose `offset` diagonal is the last dim of `input`.

    The matrices occupy dims `dim1` and `dim2` of the result (one dim more than input).

    >>> em.diag_embed(scales)              # (B, n) -> (B, n, n) diagonal matrices
    """
    x = as_tensor(input)
    if x.ndim == 0:
        raise x.builder.error(
            ShapeError("diag_embed: expects a tensor with at least 1 dim, got a 0-d tensor")
        )
    d1, d2 = _two_dims("diag_embed", x, dim1, dim2, x.ndim + 1)
    n, k = x.shape[-1], int(offset)
    on_diagonal = eye(n, dtype="bool")
    spread = broadcast_to(unsqueeze(x, -1), x.shape + (n,))
    square = where(on_diagonal, spread, constant(x.builder, 0, x.dtype))
    # shift the main diagonal to `offset` by padding rows below and columns before (or the
    # other way round for a negative offset)
    if k >= 0:
        square = pad(square, (k, 0, 0, k))
    else:
        square = pad(square, (0, -k, -k, 0))
    return movedim(square, (-2, -1), (d1, d2))


@tensor_method()
def diag(input, diagonal: int = 0) -> Tensor:
    """`torch.diag`: a 1-D input becomes a matrix with it on the `diagonal`-th diagonal; a
    2-D input gives that diagonal as a vector.

    >>> em.diag(em.tensor([1.0, 2.0]))      # [[1, 0], [0, 2]]
    """
    x = as_tensor(input)
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return _read_diagonal(x, diagonal)
    raise x.builder.error(
        ShapeError(
            f"diag: expects a 1-D or 2-D tensor, got shape {x.shape}; fix: use "
            "em.diagonal(x, offset, dim1, dim2) or em.diag_embed(x) for batches"
        )
    )
