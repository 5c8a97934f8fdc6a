"""`em.cuda`: PyTorch's CUDA queries, answered from JAX's view of the devices."""

from __future__ import annotations

from ember import amp  # noqa: F401  (`torch.cuda.amp.GradScaler`, `autocast`)


def is_available() -> bool:
    """True when JAX sees a GPU (ember still lets XLA place everything)."""
    return device_count() > 0


def device_count() -> int:
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:
        return 0


def manual_seed(seed: int) -> None:
    """Accepted for porting: ember has one seed (`em.manual_seed`)."""


def manual_seed_all(seed: int) -> None:
    """Accepted for porting: ember has one seed (`em.manual_seed`)."""


def synchronize() -> None:
    """Wait for all pending device work (JAX dispatch is asynchronous)."""
    import jax

    jax.effects_barrier()


class OutOfMemoryError(RuntimeError):
    """`torch.cuda.OutOfMemoryError`, so `except em.cuda.OutOfMemoryError:` works."""


def empty_cache() -> None:
    """Accepted for porting: XLA's allocator keeps its own pool (see
    `XLA_PYTHON_CLIENT_PREALLOCATE` / `XLA_PYTHON_CLIENT_ALLOCATOR` in JAX's docs)."""


def current_device() -> int:
    return 0


def memory_allocated(device: object = None) -> int:
    """Bytes in use on the first GPU, from XLA's allocator (0 without a GPU)."""
    return _memory_stat("bytes_in_use")


def max_memory_allocated(device: object = None) -> int:
    """Peak bytes in use on the first GPU (0 without a GPU)."""
    return _memory_stat("peak_bytes_in_use")


def reset_peak_memory_stats(device: object = None) -> None:
    """Accepted for porting: XLA's peak counter cannot be reset."""


def _memory_stat(key: str) -> int:
    if not is_available():
        return 0
    import jax

    stats = jax.devices("gpu")[0].memory_stats() or {}
    return int(stats.get(key, 0))
