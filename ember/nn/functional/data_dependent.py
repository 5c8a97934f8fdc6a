"""Functions whose output size depends on the values: `nonzero`, `argwhere`,
`masked_select`, `unique`, `unique_consecutive`.

A compiled program has static shapes, so these work where values are known: on tensors
outside a traced `forward` (lazy tensors are computed first, as `.item()` does), and in a
module called on tensors (`criterion(out, y)`), which then runs its forward op by op.
Inside a compiled step's trace they raise `TraceError` naming the static alternative.
`masked_select` keeps its gradient path (it gathers the selected elements); `unique`'s
values carry none, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from ember.errors import ShapeError, TraceError
from ember.frontend.grad_hooks import NeedsEagerForward
from ember.frontend.tensor import Tensor, tensor_method
from ember.frontend.tracer import EAGER_CALL_TRACE, current_builder
from ember.nn.functional._core import active_builder, as_tensor
from ember.nn.functional.creation import tensor
from ember.nn.functional.shape import broadcast_to

__all__ = ["argwhere", "masked_select", "nonzero", "unique", "unique_consecutive"]

_STATIC = {
    "nonzero": "em.where(mask, x, 0) or a masked reduction ((x * mask).sum())",
    "argwhere": "em.where(mask, x, 0) or a masked reduction ((x * mask).sum())",
    "masked_select": "em.where(mask, x, 0) or x.masked_fill(~mask, 0)",
    "unique": "compare with em.arange(num_classes) ((x[:, None] == classes).any(0))",
    "unique_consecutive": "a mask of changes: em.cat([x[:1] * 0 == 0, x[1:] != x[:-1]])",
}


def _values(x: Tensor, what: str) -> np.ndarray:
    """The concrete values of `x`, or the error that a trace cannot give them."""
    if current_builder() is not None:
        if EAGER_CALL_TRACE[0]:  # `criterion(out, y)` on tensors: run that module op by op
            raise NeedsEagerForward
        raise x.builder.error(
            TraceError(
                f"{what}: the result's size depends on the values of the {x.shape} input, "
                f"which a compiled program does not know; fix: {_STATIC[what]}, or call "
                f"{what} outside forward"
            )
        )
    return np.asarray(x.numpy())


@tensor_method()
def nonzero(input, *, as_tuple: bool = False):
    """`torch.nonzero`: the indices of non-zero elements, shape (n, ndim) (or a tuple of
    `ndim` index vectors with `as_tuple=True`, like `torch.where(cond)`).

    >>> em.nonzero(em.tensor([0, 3, 0, 5]))          # [[1], [3]]
    """
    x = as_tensor(input, active_builder(input))
    values = _values(x, "nonzero")
    if x.ndim == 0:  # torch: (n, 0) indices; as a tuple, the scalar counts as 1-D
        hits = int(values != 0)
        if as_tuple:
            return (tensor(np.zeros(hits, np.int32)),)
        return tensor(np.zeros((hits, 0), np.int32))
    found = np.nonzero(values)
    if as_tuple:
        return tuple(tensor(i.astype(np.int32)) for i in found)
    return tensor(np.stack(found, axis=1).astype(np.int32).reshape(-1, x.ndim))


@tensor_method()
def argwhere(input) -> Tensor:
    """`torch.argwhere`: `nonzero(input)`, shape (n, ndim)."""
    x = as_tensor(input, active_builder(input))
    _values(x, "argwhere")
    return nonzero(x)


@tensor_method()
def masked_select(input, mask) -> Tensor:
    """`torch.masked_select`: the elements where `mask` (broadcast with `input`) is True, as
    a 1-D tensor in row-major order; gradients flow back to the selected elements.

    >>> em.masked_select(x, x > 0)
    """
    builder = active_builder(input, mask)
    x, m = as_tensor(input, builder), as_tensor(mask, builder)
    if m.dtype != "bool":
        raise builder.error(
            ShapeError(f"masked_select: mask must be a bool tensor, got {m.dtype}; fix: mask > 0")
        )
    shape = tuple(np.broadcast_shapes(x.shape, m.shape))
    keep = np.broadcast_to(_values(m, "masked_select"), shape)
    return broadcast_to(x, shape).reshape(-1)[tensor(keep.reshape(-1))]  # row-major order


@tensor_method()
def unique(
    input,
    sorted: bool = True,  # noqa: A002 (torch's name)
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
):
    """`torch.unique`: the distinct values (sorted), optionally with the inverse indices
    and counts; with `dim`, the distinct slices along it.

    >>> em.unique(em.tensor([3, 1, 3, 2]), return_counts=True)   # ([1, 2, 3], [1, 1, 2])
    """
    x = as_tensor(input, active_builder(input))
    values = _values(x, "unique")
    if dim is None:
        out, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(values.shape)
    else:
        axis = dim % max(x.ndim, 1)
        out, inverse, counts = np.unique(values, return_inverse=True, return_counts=True, axis=axis)
        inverse = inverse.reshape(-1)
    return _unique_result(out, inverse, counts, x.dtype, return_inverse, return_counts)


@tensor_method()
def unique_consecutive(
    input, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
):
    """`torch.unique_consecutive`: collapse runs of equal consecutive values (or slices
    along `dim`), optionally with the inverse indices and run lengths.

    >>> em.unique_consecutive(em.tensor([1, 1, 2, 2, 3, 1]))      # [1, 2, 3, 1]
    """
    x = as_tensor(input, active_builder(input))
    values = _values(x, "unique_consecutive")
    axis = 0 if dim is None else dim % max(x.ndim, 1)
    flat = values.reshape(-1) if dim is None else np.moveaxis(values, axis, 0)
    if flat.shape[0] == 0:
        starts = np.zeros(0, bool)
    else:
        differs = flat[1:] != flat[:-1]
        changed = differs.reshape(len(differs), -1).any(axis=1) if differs.ndim > 1 else differs
        starts = np.concatenate([[True], changed])
    run = np.cumsum(starts) - 1
    out = flat[starts]
    counts = np.diff(np.append(np.flatnonzero(starts), flat.shape[0]))
    if dim is None:
        inverse = run.reshape(values.shape)
    else:
        out, inverse = np.moveaxis(out, 0, axis), run
    return _unique_result(out, inverse, counts, x.dtype, return_inverse, return_counts)


def _unique_result(out, inverse, counts, dtype, return_inverse: bool, return_counts: bool):
    result = [tensor(np.asarray(out), dtype=dtype)]
    if return_inverse:
        result.append(tensor(np.asarray(inverse).astype(np.int32)))
    if return_counts:
        result.append(tensor(np.asarray(counts).astype(np.int32)))
    return result[0] if len(result) == 1 else tuple(result)
