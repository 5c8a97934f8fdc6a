"""Keep freed host memory mapped, so XLA:CPU's per-step buffers do not page-fault.

XLA:CPU allocates a step's temporary buffer (the activations kept for the backward
pass, tens of MB for a small GPT) with `malloc` on every execution and frees it at
the end. glibc serves blocks that large with `mmap` and returns them with `munmap`,
so every step touches fresh pages: one page fault per 4 KiB, which on a virtual
machine cost a 2-layer GPT step ~30 ms of ~80 ms (bench/RESULTS.md). Setting glibc's
documented `mallopt` knobs `M_MMAP_MAX=0` (serve large blocks from the heap),
`M_TRIM_THRESHOLD=-1` (never shrink the heap) and `M_ARENA_MAX=1` (XLA's worker
threads allocate from the same growable heap; a per-thread arena is capped at 64 MB,
and blocks beyond that are mapped afresh anyway) lets the next step reuse the pages
already faulted in. The process then keeps its peak host memory until it exits, as
caching allocators (PyTorch's CUDA allocator, tcmalloc) do.

Applied once when ember's runtime is imported, on Linux with glibc only.
`EMBER_HOST_MALLOC=system` leaves the C allocator as it is.
"""

from __future__ import annotations

import ctypes
import os
import platform

# From glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8

_applied: bool | None = None


def keep_freed_memory_mapped() -> bool:
    """Tune glibc malloc for repeated large allocations (idempotent). True when applied."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("EMBER_HOST_MALLOC", "") == "system":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; all three must hold, or a step would still re-fault
    _applied = all(
        mallopt(option, value) == 1
        for option, value in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))
    )
    return _applied


def host_malloc_tuned() -> bool:
    """Whether `keep_freed_memory_mapped` changed the allocator in this process."""
    return bool(_applied)
