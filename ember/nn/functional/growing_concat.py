"""A concatenation whose result grows from call to call at one line runs on the host.

Sampling loops append to a sequence every step: `idx = cat((idx, idx_next), 1)` in
nanoGPT's and minGPT's `generate`, `ys = cat([ys, word], 1)` in a decoder's greedy
search. Recorded as IR, the growing result gives every program that reads it a new
input shape, so each step compiles a program anew, long after the model's own input
(`idx[:, -block_size:]`) has stopped growing: ~0.2 s per token for a small GPT on a
CPU, where PyTorch takes microseconds.

So once a `cat` outside a trace returns a different shape from its previous call at
the same user line, no operand needs a gradient and the result is small, and the
pending work that feeds it no longer computes a value of this line's recent result
shapes (the model's input has stopped growing: while it grows, every step's program is
new anyway, and leaving the steps recorded lets several share one compile), the
operands are computed (one cut) and joined with numpy. The result is a concrete host
array: the next step's reads of it are numpy reads, and the step's program keeps its
shapes, so it is compiled once.
"""

from __future__ import annotations

import math

import numpy as np

from ember.frontend.host_arrays import frozen
from ember.frontend.lazy import LazyValue, leaf, materialize
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import user_frame
from ember.nn.functional.host_writes import MAX_HOST_ELEMENTS  # larger results stay recorded

__all__: list[str] = []  # internal: `cat` uses it

# user line -> the (shape, dtype) its last few `cat`s returned, newest last
_RECENT_SHAPES: dict[tuple[str, int], list] = {}
_REMEMBERED = 4


def concat_on_host(tensors: list[Tensor], dim: int) -> Tensor | None:
    """`cat(tensors, dim)` as a host array when it grows at its line (see the module's
    docstring); None when the recorded op should compute it. `tensors` share a dtype."""
    values = []
    for t in tensors:
        v = t._current().value
        if not isinstance(v, LazyValue) or v.requires_grad:
            return None
        values.append(v)
    shapes = [v.type.shape for v in values]
    rank = len(shapes[0])
    if any(
        len(s) != rank or s[:dim] + s[dim + 1 :] != shapes[0][:dim] + shapes[0][dim + 1 :]
        for s in shapes
    ):
        return None  # the recorded op raises ember's error naming the shapes
    shape = (*shapes[0][:dim], sum(s[dim] for s in shapes), *shapes[0][dim + 1 :])
    if math.prod(shape) > MAX_HOST_ELEMENTS:
        return None
    site = user_frame()
    recent = _RECENT_SHAPES.get(site)
    if recent is None:
        if len(_RECENT_SHAPES) > 10_000:
            _RECENT_SHAPES.clear()
        recent = _RECENT_SHAPES[site] = []
    result = (shape, str(tensors[0].dtype))
    if recent and (rank != len(recent[-1][0]) or shape[dim] < recent[-1][0][dim]):
        recent.clear()  # a new sequence (the loop run again): the same cuts as the first run
    grows = bool(recent) and recent[-1] != result
    feeds_on_growth = grows and _computes_one_of(values, recent)
    recent.append(result)
    del recent[:-_REMEMBERED]
    if not grows or feeds_on_growth:
        return None  # a fixed-shape loop keeps its cat in its program; see the docstring
    materialize([v for v in values if v.data is None])
    joined = np.concatenate([np.asarray(v.data) for v in values], axis=dim)
    return leaf(frozen(joined), dtype=tensors[0].dtype)


def _computes_one_of(values: list[LazyValue], results: list) -> bool:
    """Whether the pending work behind `values` reads or computes a value of one of the
    (shape, dtype) `results` (`values` count only when pending: the growing one is)."""
    stack = [v for v in values if v.data is None]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if (v.type.shape, str(v.type.dtype)) in results:
            return True
        if v.data is None and v.node is not None:
            stack.extend(v.node.inputs)
    return False
