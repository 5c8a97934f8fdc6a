"""Views PyTorch names separately: `swapaxes`/`swapdims`, `adjoint`, `ravel`, `select`,
`fliplr`/`flipud`, `rot90`, `diagflat`, `clone`; each one shape op on the input."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor
from ember.nn.functional.diagonal import diag
from ember.nn.functional.shape import flip, narrow, reshape, squeeze, transpose
from ember.nn.functional.views import returns_view

__all__ = [
    "swapaxes",
    "swapdims",
    "adjoint",
    "ravel",
    "select",
    "fliplr",
    "flipud",
    "rot90",
    "diagflat",
    "clone",
]


def swapaxes(input, axis0: int, axis1: int) -> Tensor:
    """`torch.swapaxes`: NumPy's name for `transpose(input, axis0, axis1)`."""
    return transpose(input, axis0, axis1)


def swapdims(input, dim0: int, dim1: int) -> Tensor:
    """`torch.swapdims`: an alias of `transpose(input, dim0, dim1)`."""
    return transpose(input, dim0, dim1)


@tensor_method()
@returns_view
def adjoint(input) -> Tensor:
    """`torch.adjoint`: the last two dims swapped (conjugation is a no-op for real dtypes)."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise x.builder.error(
            ShapeError(f"adjoint: expects a tensor with at least 2 dims, got shape {x.shape}")
        )
    return transpose(x, -2, -1)


@tensor_method()
@returns_view(reshapes=True)
def ravel(input) -> Tensor:
    """`torch.ravel`: the tensor flattened to 1-D."""
    x = as_tensor(input)
    return reshape(x, (x.numel(),))


@tensor_method()
@returns_view
def select(input, dim: int, index: int) -> Tensor:
    """`torch.select`: `input[..., index, ...]` at `dim`, which is removed (index may be
    negative).

    >>> em.select(em.ones(2, 3), 1, -1).shape   # (2,)
    """
    x = as_tensor(input)
    try:
        d = normalize_dim(dim, x.ndim)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"select: {e}")) from None
    size = x.shape[d]
    i = int(index)
    if not -size <= i < size:
        raise x.builder.error(
            ShapeError(f"select: index {i} out of range for dim {d} of size {size}")
        )
    return squeeze(narrow(x, d, i % size, 1), d)


@tensor_method()
def fliplr(input) -> Tensor:
    """`torch.fliplr`: reverse dim 1 (left/right); needs 2 or more dims."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise x.builder.error(ShapeError(f"fliplr: expects at least 2 dims, got shape {x.shape}"))
    return flip(x, (1,))


@tensor_method()
def flipud(input) -> Tensor:
    """`torch.flipud`: reverse dim 0 (up/down); needs 1 or more dims."""
    x = as_tensor(input)
    if x.ndim < 1:
        raise x.builder.error(ShapeError("flipud: expects at least 1 dim, got a 0-d tensor"))
    return flip(x, (0,))


@tensor_method()
def rot90(input, k: int = 1, dims=(0, 1)) -> Tensor:
    """`torch.rot90`: rotate by 90 degrees `k` times in the plane `dims`, from the first
    dim's direction towards the second's (k may be negative).

    >>> em.rot90(em.tensor([[1, 2], [3, 4]]))   # [[2, 4], [1, 3]]
    """
    x = as_tensor(input)
    dims = tuple(dims)
    if len(dims) != 2:
        raise x.builder.error(ShapeError(f"rot90: expects 2 dims, got {dims}"))
    if x.ndim < 2:
        raise x.builder.error(ShapeError(f"rot90: expects at least 2 dims, got shape {x.shape}"))
    try:
        d0, d1 = (normalize_dim(d, x.ndim) for d in dims)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"rot90: {e}")) from None
    if d0 == d1:
        raise x.builder.error(ShapeError(f"rot90: the rotation dims must differ, got {dims}"))
    k = int(k) % 4
    if k == 1:
        return transpose(flip(x, (d1,)), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return transpose(flip(x, (d0,)), d0, d1)
    return x


@tensor_method()
def diagflat(input, offset: int = 0) -> Tensor:
    """`torch.diagflat`: the flattened input on the `offset`-th diagonal of a square matrix."""
    return diag(ravel(input), offset)


def clone(input, *, memory_format=None) -> Tensor:
    """`torch.clone`: the same values as a new tensor (`Tensor.clone`)."""
    return as_tensor(input).clone()
