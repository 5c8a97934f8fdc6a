"""`em.accelerator`: PyTorch's device-agnostic queries (`torch.accelerator`, 2.6+), answered
from JAX's view of the devices, as `em.cuda` answers `torch.cuda`'s. XLA still places the data."""

from __future__ import annotations

from ember import cuda
from ember.frontend.device import device


def is_available() -> bool:
    """True when JAX sees a GPU (`torch.accelerator.is_available()`)."""
    return cuda.is_available()


def device_count() -> int:
    return cuda.device_count()


def current_accelerator(check_available: bool = False) -> device | None:
    """`em.device("cuda")` when JAX sees a GPU; otherwise None, as PyTorch returns."""
    return device("cuda") if is_available() else None


def current_device_index() -> int:
    return 0


current_device_idx = current_device_index


def set_device_index(device_index) -> None:
    """Accepted for porting: XLA places the data."""


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    cuda.synchronize()
