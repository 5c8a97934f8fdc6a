"""`x[i] = v` and `x[i]` on a tensor with concrete host values run on the host,
outside a trace.

Data-building loops write one element or row at a time (a corpus's
`ids[token] = word_id` over a million tokens, a char-RNN tutorial's
`tensor[li][0][letter] = 1`). Recorded as IR, each write is a scatter, ~170 us of
Python, and a chain of thousands of them compiles as one program (26 s for 3,000
writes). When the tensor's value is concrete and nothing needs its gradient, the write
is a numpy assignment instead: into the tensor's own host array when no one else holds
that array or its value (reference counts), else into a copy that the tensor is then
rebound to. Writes through basic-indexing views (`t[li][0]`) go into the root's array
the same way, and the view is recomputed from the root at its next use. Reads with a
basic index copy the selection with numpy, so no pending op holds the root's array; a
small computed array is read that way too (a sampling loop's `idx[:, -block_size:]`).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from ember.frontend.host_arrays import frozen
from ember.frontend.lazy import RECORDER, LazyValue, leaf, materialize, user_code_ran
from ember.frontend.lent_arrays import is_lent
from ember.frontend.tensor import Tensor
from ember.graphdef.types import TensorType

__all__: list[str] = []  # internal: indexing and in-place ops use these

_NOT_ON_HOST = object()

# Computed (backend) arrays up to this many elements are read on the host too; larger ones
# stay recorded, so a big array (on an accelerator, say) is not copied out and back.
MAX_HOST_ELEMENTS = 1 << 17


def _gone() -> None:
    return None


def write_on_host(x: Tensor, index: Any, value: Any, select) -> bool:
    """Do `x[index] = value` on the host when it can be done exactly; False when the
    recorded (IR) path must do it. `select` is indexing's basic-index step (a view made
    only of those maps onto numpy views of the root's array)."""
    parts = index if isinstance(index, tuple) else (index,)
    if not all(_basic(i) for i in parts):
        return False
    link = x._view
    if link is None:
        root, path = x, ()
    else:
        if not all(step[0] is select and step[3] is None for step in link.steps):
            return False
        root, path = link.root, tuple(step[1][0] for step in link.steps)
    if type(root) is not Tensor or root._slot is not None or root.builder is not RECORDER:
        return False
    current = root.value
    if not isinstance(current, LazyValue) or current.requires_grad:
        return False
    source = _host_value(value)
    if source is _NOT_ON_HOST:
        return False
    if current.data is None:
        materialize([current])
    if _private(current):
        array = current.data
    else:
        array = np.array(current.data)  # the values others hold stay as they are
    target = array
    try:
        array.flags.writeable = True
        for step in path:
            target = target[step]
        target[index] = source
    except (IndexError, ValueError, TypeError, OverflowError):
        return False  # the recorded path raises ember's error naming the shapes
    finally:
        array.flags.writeable = False  # steps take it without a copy (host_arrays.owned)
    # a new value even when the array is the same: views of the root hold the old one
    # weakly, and find it gone (they are recomputed when next used)
    root.value = LazyValue(current.type, data=array)
    if link is not None:
        link.seen = _gone  # the view itself is recomputed from the root when next used
    return True


def read_on_host(x: Tensor, index: Any) -> Tensor | None:
    """`x[index]` for a basic index on a tensor whose value is a host array: a numpy
    copy of the selection (no recorded op that would hold x's array), else None."""
    parts = index if isinstance(index, tuple) else (index,)
    if not all(_basic(i) for i in parts):
        return None
    current = x._current().value
    if not isinstance(current, LazyValue) or current.requires_grad:
        return None
    array = current.data
    dtype = None
    if type(array) is not np.ndarray:
        # a small computed array too: a sampling loop's `idx[:, -block_size:]` then gives
        # the next step a host window of one shape (see growing_concat)
        if array is None or math.prod(current.type.shape) > MAX_HOST_ELEMENTS:
            return None
        array, dtype = np.asarray(array), current.type.dtype
    try:
        selected = np.array(array[index])
    except IndexError:
        return None  # the recorded path raises ember's error naming the shapes
    user_code_ran()  # `for t in ...: h = cell(xs[t], h)`: each pass reads on the host
    return leaf(frozen(selected), dtype=dtype)


def _basic(item: Any) -> bool:
    if item is None or item is Ellipsis:
        return True
    if isinstance(item, slice):
        return all(b is None or _integer(b) for b in (item.start, item.stop)) and (
            item.step is None or (_integer(item.step) and item.step > 0)
        )
    return _integer(item)


def _integer(item: Any) -> bool:
    return (type(item) is int) or isinstance(item, np.integer)


def _host_value(value: Any):
    """The value to assign as a host scalar or array, or _NOT_ON_HOST (it needs grad)."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, np.ndarray | np.generic):
        return value
    if isinstance(value, Tensor):
        value._current()
        v = value.value
        if not isinstance(v, LazyValue) or v.requires_grad:
            return _NOT_ON_HOST
        if v.data is None:
            materialize([v])
        return np.asarray(v.data)
    return _NOT_ON_HOST


def _private(value: LazyValue) -> bool:
    """Whether only the root tensor holds `value`, and only `value` its host array."""
    array = value.data
    if type(array) is not np.ndarray or array.base is not None or is_lent(array):
        return False
    return _counts(value) == _PRIVATE_COUNTS


def _counts(value: LazyValue) -> tuple[int, int]:
    array = value.data
    return sys.getrefcount(array), sys.getrefcount(value)


def _private_counts() -> tuple[int, int]:
    """What `_counts` sees for a value that one tensor holds, called as `_private` is
    (measured, so the check follows the interpreter's reference counting)."""
    holder = Tensor(LazyValue(TensorType((1,), "float32"), data=np.zeros(1)), RECORDER)
    current = holder.value
    return _private_shaped(current)


def _private_shaped(value: LazyValue) -> tuple[int, int]:
    array = value.data  # noqa: F841  (held as `_private` holds it)
    return _counts(value)


_PRIVATE_COUNTS = _private_counts()
