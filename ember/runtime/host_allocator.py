"""Keep freed host memory mapped, so XLA:CPU's per-step buffers do not page-fault.

XLA:CPU allocates a step's temporary buffer (the activations kept for the backward
pass, tens of MB for a small GPT) with `malloc` on every execution and frees it at
the end. glibc serves blocks that large with `mmap` and returns them with `munmap`,
so every step touches fresh pages: one page fault per 4 KiB, which on a virtual
machine cost a 2-layer GPT step ~30 ms of ~80 ms (bench/RESULTS.md). Setting glibc's
documented `mallopt` knobs `M_MMAP_MAX=0` (serve large blocks from the heap) and
`M_TRIM_THRESHOLD=-1` (never shrink the heap) lets the next step reuse the pages
already faulted in. Limit: XLA's worker threads allocate from per-thread arenas, whose
heaps glibc caps at 64 MB, so a single block larger than that is still mapped per step.
`M_ARENA_MAX=1` would lift that, but one shared arena made small steps with many
buffers 2-3x slower (lock contention between XLA's threads), so it is not set. The
process keeps its peak host memory until it exits, as caching allocators (PyTorch's
CUDA allocator, tcmalloc) do.

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
    # mallopt returns 1 on success; both must hold, or a step would still re-fault
    _applied = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, -1) == 1
    return _applied


def host_malloc_tuned() -> bool:
    """Whether `keep_freed_memory_mapped` changed the allocator in this process."""
    return bool(_applied)
