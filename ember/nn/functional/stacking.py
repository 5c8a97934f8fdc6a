"""NumPy-style stacking and splitting: `atleast_1d/2d/3d`, `hstack`, `vstack`,
`dstack`, `column_stack`, `hsplit`, `vsplit`, `dsplit`, `broadcast_tensors`."""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn.functional._core import active_builder, as_tensor
from ember.nn.functional.shape import broadcast_to, cat, reshape
from ember.nn.functional.tensor_split import tensor_split

__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "hstack",
    "vstack",
    "dstack",
    "column_stack",
    "hsplit",
    "vsplit",
    "dsplit",
    "broadcast_tensors",
]


def _at_least(tensors: tuple, fn):
    """PyTorch's calling convention: one tensor in, one out; several (or a sequence), a tuple."""
    if len(tensors) == 1 and not isinstance(tensors[0], (list, tuple)):
        return fn(as_tensor(tensors[0]))
    if len(tensors) == 1:
        tensors = tuple(tensors[0])
    builder = active_builder(*tensors)
    return tuple(fn(as_tensor(x, builder)) for x in tensors)


def _1d(x: Tensor) -> Tensor:
    return reshape(x, (1,)) if x.ndim == 0 else x


def _2d(x: Tensor) -> Tensor:
    return reshape(x, (1, *x.shape)) if x.ndim < 2 else x


def _3d(x: Tensor) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1, 1, 1))
    if x.ndim == 1:
        return reshape(x, (1, x.shape[0], 1))
    if x.ndim == 2:
        return reshape(x, (*x.shape, 1))
    return x


def atleast_1d(*tensors):
    """`torch.atleast_1d`: 0-d tensors become shape (1,); others are returned as they are."""
    return _at_least(tensors, _1d)


def atleast_2d(*tensors):
    """`torch.atleast_2d`: 0-d -> (1, 1), (n,) -> (1, n); others as they are."""
    return _at_least(tensors, lambda x: _2d(_1d(x)))


def atleast_3d(*tensors):
    """`torch.atleast_3d`: 0-d -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    return _at_least(tensors, _3d)


def _sequence(name: str, tensors) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise active_builder().error(
            ShapeError(f"{name}: expects a list or tuple of tensors, got {type(tensors).__name__}")
        )
    if not tensors:
        raise active_builder().error(ShapeError(f"{name}: expects a non-empty list of tensors"))
    builder = active_builder(*tensors)
    return [as_tensor(x, builder) for x in tensors]


def hstack(tensors) -> Tensor:
    """`torch.hstack`: concatenate along dim 1 (dim 0 for 1-D tensors).

    >>> em.hstack([em.ones(2), em.zeros(3)]).shape      # (5,)
    """
    xs = [_1d(x) for x in _sequence("hstack", tensors)]
    return cat(xs, 0 if xs[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """`torch.vstack` (`row_stack`): 1-D tensors become rows, then concatenate along dim 0."""
    return cat([_2d(_1d(x)) for x in _sequence("vstack", tensors)], 0)


def dstack(tensors) -> Tensor:
    """`torch.dstack`: `atleast_3d` each, then concatenate along dim 2."""
    return cat([_3d(x) for x in _sequence("dstack", tensors)], 2)


def column_stack(tensors) -> Tensor:
    """`torch.column_stack`: 0-d and 1-d tensors become columns (n, 1), then concatenate
    along dim 1."""
    xs = _sequence("column_stack", tensors)
    return cat([reshape(x, (x.numel(), 1)) if x.ndim <= 1 else x for x in xs], 1)


def _split(name: str, input, indices_or_sections, dim: int, min_ndim: int):
    x = as_tensor(input)
    if x.ndim < min_ndim:
        raise x.builder.error(
            ShapeError(
                f"{name}: expects a tensor with at least {min_ndim} dims, got shape {x.shape}"
            )
        )
    split = indices_or_sections
    if isinstance(split, int) and split > 0 and x.shape[dim] % split:
        raise x.builder.error(
            ShapeError(
                f"{name}: dim {dim} of size {x.shape[dim]} is not divisible by the "
                f"{split} sections; fix: em.tensor_split allows unequal pieces"
            )
        )
    return tensor_split(x, split, dim)


@tensor_method()
def hsplit(input, indices_or_sections) -> tuple[Tensor, ...]:
    """`torch.hsplit`: split along dim 1 (dim 0 for a 1-D tensor); an int must divide it."""
    x = as_tensor(input)
    return _split("hsplit", x, indices_or_sections, 0 if x.ndim == 1 else 1, 1)


@tensor_method()
def vsplit(input, indices_or_sections) -> tuple[Tensor, ...]:
    """`torch.vsplit`: split a tensor of 2 or more dims along dim 0."""
    return _split("vsplit", input, indices_or_sections, 0, 2)


@tensor_method()
def dsplit(input, indices_or_sections) -> tuple[Tensor, ...]:
    """`torch.dsplit`: split a tensor of 3 or more dims along dim 2."""
    return _split("dsplit", input, indices_or_sections, 2, 3)


def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    """`torch.broadcast_tensors`: every tensor broadcast to their common shape.

    >>> a, b = em.broadcast_tensors(em.ones(3, 1), em.ones(4))   # both (3, 4)
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    builder = active_builder(*tensors)
    xs = [as_tensor(x, builder) for x in tensors]
    try:
        shape = broadcast_shapes(*(x.shape for x in xs))
    except ShapeError as e:
        raise builder.error(ShapeError(f"broadcast_tensors: {e}")) from None
    return tuple(x if x.shape == shape else broadcast_to(x, shape) for x in xs)
