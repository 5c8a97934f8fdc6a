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
