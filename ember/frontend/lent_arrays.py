"""Arrays that tensors a user holds share with the state a compiled step donates.

Steps donate the arrays of parameters, buffers and optimizer state (XLA writes the new
values into their memory), and JAX deletes a donated array under every other holder.
ember's tensors share arrays instead of copying them (`p.detach()`, `p.clone()`,
`p.data`, a buffer read, `opt.state[p]["exp_avg"]`, `p.data = t`), so a snapshot such as
`w0 = net.fc.weight.detach().clone()` would fail at its next read after a step, with
JAX's "Array has been deleted". Each such sharing tensor's value is noted here (`lend`),
and a runner about to donate arrays first gives every noted value still alive that holds
one of them its own copy (`take_holders`, then `runtime/donation.py` copies): one
device copy per snapshot, once, and nothing when no snapshot is held.

Values are noted by the id of the array they hold; entries leave with their values
(weak references), so an array id is never matched by a later array. Only tensors made
from the state are noted (a parameter, a slot-bound tensor, or one made from those), so
a step searches its state arrays (~0.3 us each) only while such a snapshot awaits its
copy; otherwise the check is O(1).
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any

import numpy as np

# id(array) -> weak references to the lazy values holding that array
_LENT: dict[int, list[weakref.ref]] = {}
# values lent while still pending (an in-place op on a slot's tensor): noted once computed
_PENDING: list[weakref.ref] = []
_PRUNE_AT = [4096]


def lend(value: Any) -> None:
    """Note that `value` (a `LazyValue`) shares its array with state a step may donate."""
    data = value.data
    if data is None:
        _PENDING.append(weakref.ref(value))
        if len(_PENDING) > _PRUNE_AT[0]:  # no step ran to take them (an inference loop)
            _PENDING[:] = [r for r in _PENDING if r() is not None]
            _PRUNE_AT[0] = max(4096, 2 * len(_PENDING))
    elif not isinstance(data, np.ndarray | np.generic):  # host arrays are never donated
        key = id(data)
        refs = _LENT.setdefault(key, [])
        refs.append(weakref.ref(value, partial(_forget, key)))


def _forget(key: int, ref: weakref.ref) -> None:
    refs = _LENT.get(key)
    if refs is not None:
        if ref in refs:
            refs.remove(ref)
        if not refs:
            del _LENT[key]


def is_lent(data: Any) -> bool:
    """Whether some live value shares `data` with the state (O(1))."""
    return id(data) in _LENT


def any_lent() -> bool:
    """Whether anything is noted (O(1): runners skip the search when not)."""
    return bool(_LENT or _PENDING)


def take_holders(arrays: list) -> list[tuple[Any, list]]:
    """`(array, [values holding it])` for each of `arrays` some live noted value holds;
    those values are forgotten (the caller gives them their own copy)."""
    if _PENDING:
        pending = [r() for r in _PENDING]
        _PENDING.clear()
        for value in pending:
            if value is not None:
                lend(value)  # still pending: noted again; computed: by its array
    found = []
    wanted = {id(a): a for a in arrays}
    keys = [k for k in _LENT if k in wanted]
    for key in keys:
        array = wanted[key]
        holders = [v for r in _LENT.pop(key) if (v := r()) is not None and v.data is array]
        if holders:
            found.append((array, holders))
    return found
