"""`em.amp` (also `em.cuda.amp`): PyTorch's autocast and GradScaler, for porting.

ember's eager tensors compute in their own dtype, so `autocast` does not change any
computation (it warns once when asked for a reduced dtype); mixed precision belongs to
the compiled step: `em.compile(..., precision="bf16-mixed")` (bf16 compute, float32
master weights, casts visible in the IR). Without a reduced-precision forward there is
nothing to rescale, so `GradScaler` behaves as PyTorch's does with `enabled=False`:
`scaler.scale(loss).backward(); scaler.step(opt); scaler.update()` is the plain loop.

>>> scaler = em.amp.GradScaler()
>>> with em.autocast("cpu", dtype=em.float32):
...     pass
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

_warned: list[bool] = []


class autocast(contextlib.ContextDecorator):  # noqa: N801 (PyTorch's name)
    """Accepted for porting; computation keeps each tensor's dtype (see the module doc)."""

    def __init__(
        self,
        device_type: str = "cuda",
        dtype: Any = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ):
        self.device_type, self.dtype, self.enabled = device_type, dtype, enabled
        if enabled and dtype is not None and str(dtype) in ("float16", "bfloat16") and not _warned:
            _warned.append(True)
            warnings.warn(
                f"autocast(dtype={dtype}) does not change ember's eager computation (it stays "
                "in each tensor's dtype); for mixed precision compile the step with "
                "em.compile(..., precision='bf16-mixed')",
                stacklevel=2,
            )

    def __enter__(self) -> autocast:
        return self

    def __exit__(self, *exc) -> bool:
        return False


class GradScaler:
    """PyTorch's loss scaler, as it behaves when disabled: scale 1, `step` is `opt.step()`."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        self._requested = enabled

    def scale(self, outputs: Any) -> Any:
        return outputs

    def unscale_(self, optimizer: Any) -> None:
        """Nothing to unscale: gradients were never scaled."""

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | None = None) -> None:
        """Nothing to adapt: no step overflows a float32 loss scale of 1."""

    def get_scale(self) -> float:
        return 1.0

    def is_enabled(self) -> bool:
        return False

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        """Accepted for porting (a PyTorch scaler's state does not apply)."""


def custom_fwd(fn=None, **kwargs):
    """`torch.amp.custom_fwd`: the function as it is (see autocast)."""
    return fn if fn is not None else (lambda f: f)


custom_bwd = custom_fwd

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd"]
