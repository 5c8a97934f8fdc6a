"""Searching sorted values: `searchsorted`, `bucketize`, `isin`.

The search is a binary search unrolled at trace time: ceil(log2(M + 1)) rounds of
gather-and-compare for a sequence of length M, so it costs O(N log M) work and
O(N) memory for N values (no (N, M) comparison matrix) and needs no new op.
A NaN value is placed after every element, as in PyTorch; a sequence that holds
NaN has no well-defined answer (PyTorch's then depends on its search path).
"""

from __future__ import annotations

from ember.errors import ShapeError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.nn.functional._core import active_builder, as_tensor, constant, promote_pair
from ember.nn.functional.elementwise import isnan, logical_not, minimum, where
from ember.nn.functional.indexing import gather, index_select
from ember.nn.functional.shape import broadcast_to, reshape
from ember.nn.functional.sort import sort

__all__ = ["searchsorted", "bucketize", "isin"]


def _nan_last_before(a: Tensor, b: Tensor) -> Tensor:
    """`a < b` in `sort`'s order, where NaN is greater than every number."""
    if not dtypes.is_floating(a.dtype):
        return a < b
    return (a < b) | (isnan(b) & logical_not(isnan(a)))


def _count_before(seq: Tensor, values: Tensor, before) -> Tensor:
    """Per value, how many leading elements of the sorted `seq` (last dim) satisfy
    `before(element, value)`.

    `seq` is 1-D (any `values` shape) or (..., M) with `values` (..., N).
    """
    m = seq.shape[-1]
    count = broadcast_to(constant(values.builder, 0, dtypes.DEFAULT_INT, ()), values.shape)
    step = 1 << max(m.bit_length() - 1, 0)
    # invariant: the first `count` elements all come before the value; try `count + step`
    while m and step:
        candidate = count + step
        last = minimum(candidate, m) - 1
        if seq.ndim == 1:
            probe = reshape(index_select(seq, 0, reshape(last, (last.numel(),))), last.shape)
        else:
            probe = gather(seq, -1, last)
        count = where((candidate <= m) & before(probe, values), candidate, count)
        step //= 2
    return count


def searchsorted(
    sorted_sequence,
    values,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter=None,
) -> Tensor:
    """`torch.searchsorted`: where each value would be inserted to keep the order.

    `sorted_sequence` is 1-D, or (..., M) with `values` (..., N) over the same leading
    dims. `right=True` (or `side='right'`) places a value after equal elements. The
    indices are int32 (ember's integer; `out_int32` is accepted).

    >>> em.searchsorted(em.tensor([1.0, 3.0, 5.0]), em.tensor([0.0, 3.0, 9.0]))  # [0, 1, 3]
    """
    builder = active_builder(sorted_sequence, values)
    if side not in (None, "left", "right"):
        raise builder.error(
            UnsupportedOpError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        )
    if side is not None and right and side == "left":
        raise builder.error(
            UnsupportedOpError(
                "searchsorted: side='left' and right=True contradict each other; fix: pass one"
            )
        )
    right = right or side == "right"
    seq = as_tensor(sorted_sequence, builder)
    seq, vals = promote_pair(seq, as_tensor(values, builder))
    if seq.ndim == 0:
        raise builder.error(
            ShapeError("searchsorted: sorted_sequence must have at least 1 dim, got a 0-d tensor")
        )
    if sorter is not None:
        seq = gather(seq, -1, as_tensor(sorter, builder))
    if seq.ndim > 1 and (vals.ndim != seq.ndim or vals.shape[:-1] != seq.shape[:-1]):
        raise builder.error(
            ShapeError(
                f"searchsorted: a sorted_sequence of shape {seq.shape} searches values of shape "
                f"{seq.shape[:-1] + ('N',)}, got {vals.shape}; fix: give values the same leading "
                "dims, or a 1-D sorted_sequence to search values of any shape"
            )
        )
    # PyTorch's comparisons: a NaN value is placed after every element
    if right:
        return _count_before(seq, vals, lambda element, value: logical_not(element > value))
    return _count_before(seq, vals, lambda element, value: logical_not(element >= value))


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """`torch.bucketize`: the bucket index of each input element for 1-D `boundaries`.

    `right=False`: boundaries[i-1] < x <= boundaries[i]; `right=True`: boundaries[i-1] <=
    x < boundaries[i]. Indices are int32.

    >>> em.bucketize(ages, em.tensor([18.0, 65.0]))       # 0, 1 or 2 per age
    """
    builder = active_builder(input, boundaries)
    edges = as_tensor(boundaries, builder)
    if edges.ndim != 1:
        raise builder.error(
            ShapeError(
                f"bucketize: boundaries must be 1-D, got shape {edges.shape}; fix: flatten them "
                "or use em.searchsorted for batched sequences"
            )
        )
    return searchsorted(edges, input, right=right)


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """`torch.isin`: True where an element of `elements` occurs in `test_elements`.

    Sorts `test_elements` and binary-searches each element: O((N + M) log M), so
    `assume_unique` (a speed hint in PyTorch) is accepted and not needed.

    >>> em.isin(labels, em.tensor([3, 7]))  # bool mask, the shape of labels
    """
    builder = active_builder(elements, test_elements)
    elems, tests = promote_pair(as_tensor(elements, builder), as_tensor(test_elements, builder))
    tests = reshape(tests, (tests.numel(),))
    if tests.numel() == 0:
        found = broadcast_to(constant(builder, False, "bool"), elems.shape)
    else:
        ordered = sort(tests).values
        position = _count_before(ordered, elems, _nan_last_before)
        position = minimum(position, ordered.numel() - 1)
        flat = reshape(position, (position.numel(),))
        found = reshape(index_select(ordered, 0, flat), elems.shape) == elems
    return logical_not(found) if invert else found
