"""Host arrays that no one else can change while a step reads them.

XLA:CPU takes numpy arguments in place (zero-copy) and runs programs asynchronously, so
a caller that refills its batch buffer for the next step (`buf[:] = next_batch`), or an
array that shares memory with a torch tensor being trained in place, would change what
a dispatched step still reads: measured, a reused buffer changed a seed-MLP's weights
by 1e-2 over 50 steps. PyTorch semantics are that a tensor made from an array is a copy,
and a step is done with its inputs when it returns; ember keeps both by copying host
arrays that the caller could still write, once, at the boundary (`owned`). Arrays ember
itself just made (batches that `fit` and `DataLoader` assemble) are marked read-only
(`frozen`) so they pass through without a copy.

Per-step batches take `staged` instead: the copy goes into a reused, 64-byte-aligned
buffer. Aligned host memory is what XLA:CPU takes without a second copy of its own, and
a buffer it still reads keeps a reference to it, so a buffer is reused only once nothing
but the pool refers to it (measured on the seed MLP: a fresh `copy()` per step cost
+25-35 us at batch 64 and ~10 % of the step at batch 1024; see bench/RESULTS.md).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np


def owned(x: Any) -> Any:
    """`x`, or a read-only copy of it when it is a numpy array its caller could still
    write. Other values (backend arrays, read-only numpy arrays) pass unchanged.

    >>> buf = np.zeros(3); a = owned(buf); buf[0] = 1.0; float(a[0])
    0.0
    """
    if type(x) is np.ndarray and _writable(x):
        x = x.copy()
        x.flags.writeable = False
    return x


def _writable(x: np.ndarray) -> bool:
    """`x` or an array it views can still be written (a read-only view of a writable
    buffer, `np.broadcast_to(buf, ...)`, changes with it)."""
    while isinstance(x, np.ndarray):
        if x.flags.writeable:
            return True
        x = x.base
    return False


_ALIGN = 64  # XLA:CPU takes host memory in place only at this alignment
_PER_SHAPE = 4  # buffers per (shape, dtype): steps in flight at once
_POOL_BYTES = 128 << 20  # above this, idle buffers of the least recent shapes are dropped


class _StagingPool:
    """Reusable aligned host buffers, keyed by (shape, dtype), least recently used first.

    A buffer is idle when only its pool entry refers to it: XLA holds the array it reads
    (in place or while copying it), and a view of it holds its memory block. The idle
    reference counts are measured on the first buffer made, not assumed, since what
    `sys.getrefcount` counts differs between Python versions."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, list[tuple[np.ndarray, np.ndarray]]] = OrderedDict()
        self.nbytes = 0
        self.idle: tuple[int, int] | None = None
        self.lock = threading.Lock()  # two threads must not both take one idle buffer

    def copy_of(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            return self._copy_of(x)

    def _copy_of(self, x: np.ndarray) -> np.ndarray:
        key = (x.shape, x.dtype.str)
        entries = self.entries.get(key)
        if entries is None:
            entries = self.entries[key] = []
        else:
            self.entries.move_to_end(key)
        for entry in entries:
            if _counts(entry) == self.idle:
                np.copyto(entry[2], x)  # the writable alias: the view handed out stays read-only
                return entry[1]
        entry = _aligned_entry(x)
        if self.idle is None:
            self.idle = _counts(entry)
        if len(entries) < _PER_SHAPE and x.nbytes <= _POOL_BYTES // _PER_SHAPE:
            entries.append(entry)
            self.nbytes += entry[0].nbytes
            if self.nbytes > _POOL_BYTES:
                self._shrink()
        return entry[1]

    def _shrink(self) -> None:
        for key in list(self.entries)[:-1]:  # never the shape just used
            self.nbytes -= sum(entry[0].nbytes for entry in self.entries.pop(key))
            if self.nbytes <= _POOL_BYTES:
                return


def _counts(entry: tuple) -> tuple[int, int]:
    return sys.getrefcount(entry[0]), sys.getrefcount(entry[1])


def _aligned_entry(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(memory block, read-only aligned copy of `x`, writable alias of that copy)."""
    raw = np.empty(x.nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    writable = raw[start : start + x.nbytes].view(x.dtype).reshape(x.shape)
    np.copyto(writable, x)
    out = writable.view()
    out.flags.writeable = False
    return raw, out, writable


_POOL = _StagingPool()


def staged(x: Any) -> Any:
    """`owned` for a batch that a step reads once: the copy goes into a reused aligned
    buffer (see the module docstring). Dropped buffers still in use by a step are safe:
    the step holds its own reference.

    >>> buf = np.zeros(3); a = staged(buf); buf[0] = 1.0; float(a[0])
    0.0
    """
    if type(x) is np.ndarray and _writable(x):
        return _POOL.copy_of(x)
    return x


def frozen(x: Any) -> Any:
    """Mark an array ember has just made (nobody else holds it) read-only, so `owned`
    passes it through without a copy."""
    if type(x) is np.ndarray:
        x.flags.writeable = False
    return x


__all__ = ["frozen", "owned", "staged"]
