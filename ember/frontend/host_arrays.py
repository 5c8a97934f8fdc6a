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
"""

from __future__ import annotations

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


def frozen(x: Any) -> Any:
    """Mark an array ember has just made (nobody else holds it) read-only, so `owned`
    passes it through without a copy."""
    if type(x) is np.ndarray:
        x.flags.writeable = False
    return x


__all__ = ["frozen", "owned"]
