"""`repeat_interleave`: repeat each element (or slice along `dim`) a number of times.

An int count is a broadcast and a reshape. Per-element counts make the output
length their sum, which a compiled program needs before it runs: counts given as
numbers, or as a tensor outside a trace, are read (one host sync for a computed
tensor, as in PyTorch); inside a traced function a tensor of counts needs
`output_size=` (as `bincount` needs `minlength=`). The source of each output
position is then found by a binary search of the running count totals.
"""

from __future__ import annotations

import numpy as np

from ember.errors import ShapeError, TraceError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import active_builder, as_tensor, cast
from ember.nn.functional.creation import arange
from ember.nn.functional.elementwise import minimum
from ember.nn.functional.indexing import index_select
from ember.nn.functional.reduction import cumsum
from ember.nn.functional.search import searchsorted
from ember.nn.functional.shape import broadcast_to, reshape, unsqueeze

__all__ = ["repeat_interleave"]


def _known_counts(repeats) -> np.ndarray | None:
    """The counts as a numpy array when their values are known now, else None."""
    if isinstance(repeats, Tensor):
        return np.asarray(repeats.numpy()) if repeats._lazy() else None
    return np.asarray(repeats)


def _repeat_each(x: Tensor, d: int, count: int) -> Tensor:
    shape = list(x.shape)
    expanded = broadcast_to(unsqueeze(x, d + 1), tuple(shape[: d + 1] + [count] + shape[d + 1 :]))
    shape[d] *= count
    return reshape(expanded, tuple(shape))


@tensor_method()
def repeat_interleave(input, repeats=None, dim: int | None = None, *, output_size=None) -> Tensor:
    """`torch.repeat_interleave`: repeat element i (along `dim`, of the flattened input
    when None) `repeats[i]` times, or every element `repeats` times for an int.

    Inside a traced function, a tensor of counts needs `output_size` (their sum).
    With one tensor argument, `em.repeat_interleave(counts)` repeats `arange(len(counts))`.

    >>> em.repeat_interleave(em.tensor([1, 2]), 2)                        # [1, 1, 2, 2]
    >>> em.repeat_interleave(x, em.tensor([1, 3]), dim=0, output_size=4)   # in forward
    """
    builder = active_builder(input, repeats)
    if repeats is None:  # repeat_interleave(counts): the indices, repeated
        counts = as_tensor(input, builder)
        if counts.ndim != 1:
            raise builder.error(
                ShapeError(
                    f"repeat_interleave: a single counts argument must be 1-D, got {counts.shape}"
                )
            )
        input, repeats, dim = arange(counts.shape[0]), input, 0
    x = as_tensor(input, builder)
    if dim is None:
        x, d = reshape(x, (x.numel(),)), 0
    else:
        try:
            d = normalize_dim(dim, x.ndim)
        except ShapeError as e:
            raise builder.error(ShapeError(f"repeat_interleave: {e}")) from None
        x = reshape(x, (1,)) if x.ndim == 0 else x
    n = x.shape[d]
    if isinstance(repeats, (int, np.integer)):
        if repeats < 0:
            raise builder.error(
                ShapeError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
            )
        return _repeat_each(x, d, int(repeats))
    known = _known_counts(repeats)
    count_shape = known.shape if known is not None else as_tensor(repeats, builder).shape
    if len(count_shape) > 1 or (count_shape and count_shape[0] not in (1, n)):
        raise builder.error(
            ShapeError(
                f"repeat_interleave: repeats of shape {count_shape} must be a number, or 0-d or "
                f"1-D with 1 or {n} elements (the input {x.shape} has {n} along dim {d})"
            )
        )
    if known is not None:
        if known.size and known.min() < 0:
            raise builder.error(
                ShapeError(f"repeat_interleave: repeats must be non-negative, got {known.tolist()}")
            )
        if known.size == 1:
            return _repeat_each(x, d, int(known.reshape(())))
        total = int(known.sum())
        if output_size is not None and output_size != total:
            raise builder.error(
                ShapeError(
                    f"repeat_interleave: output_size={output_size} but the repeats sum to {total}"
                )
            )
        ends = as_tensor(np.cumsum(known).astype(np.int32), builder)
    else:
        if output_size is None:
            raise builder.error(
                TraceError(
                    f"repeat_interleave: inside a traced function the output length must be "
                    f"static, but it is the sum of the traced repeats {count_shape}, a value "
                    "not known while tracing; fix: pass output_size=N (the sum of repeats), "
                    "or give repeats as an int or a list of ints"
                )
            )
        counts = cast(as_tensor(repeats, builder), dtypes.DEFAULT_INT)
        counts = broadcast_to(reshape(counts, (counts.numel(),)), (n,))
        ends, total = cumsum(counts, 0), int(output_size)
    # output position p comes from the element whose running total first exceeds p
    source = searchsorted(ends, arange(total), right=True)
    return index_select(x, d, minimum(source, max(n - 1, 0)))
