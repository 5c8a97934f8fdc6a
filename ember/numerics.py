"""PyTorch's top-level numeric queries and switches: `finfo`, `iinfo`, `is_tensor`,
`numel`, `get_default_dtype`/`set_default_dtype`, `seed`, and switches accepted for porting
(`use_deterministic_algorithms`, `set_float32_matmul_precision`, `set_num_threads`).

>>> em.finfo(em.bfloat16).eps
0.0078125
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes


def finfo(dtype: Any = None) -> Any:
    """Machine limits of a floating dtype (`bits`, `eps`, `max`, `min`, `tiny`,
    `resolution`), bfloat16 included; default: the default float dtype."""
    name = dtypes.canonical(dtype or dtypes.DEFAULT_FLOAT)
    if not dtypes.is_floating(name):
        raise TypeError(f"finfo takes a floating-point dtype, got {dtype}; fix: em.iinfo")
    return ml_dtypes.finfo(np.dtype(getattr(ml_dtypes, name, name)))


def iinfo(dtype: Any) -> np.iinfo:
    """Limits of an integer dtype (`bits`, `max`, `min`)."""
    name = str(dtype)
    if not dtypes.is_integer(name):
        raise TypeError(f"iinfo takes an integer dtype, got {dtype}; fix: em.finfo")
    return np.iinfo(np.dtype(name))


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()


def get_default_dtype() -> dtypes.DType:
    return dtypes.as_dtype(dtypes.DEFAULT_FLOAT)


def set_default_dtype(d: Any) -> None:
    """`torch.set_default_dtype`: the floating type of new tensors and parameters.
    float32 (the default) or float64; float64 needs JAX's 64-bit mode on first."""
    name = str(getattr(d, "name", d)).removeprefix("torch.").removeprefix("ember.")
    name = dtypes.canonical(name)
    if name not in ("float32", "float64"):
        raise TypeError(
            f"set_default_dtype: only float32 and float64 can be the default, got {name}; "
            "fix: pass em.float32 or em.float64 (cast tensors with .to(dtype) instead)"
        )
    if name == "float64" and not dtypes.x64_enabled():
        raise RuntimeError(
            "set_default_dtype(em.float64) needs 64-bit arrays, which JAX turns off by default; "
            'fix: call jax.config.update("jax_enable_x64", True) before creating tensors'
        )
    dtypes.DEFAULT_FLOAT = name


def seed() -> int:
    """`torch.seed`: seed the default stream from the operating system; returns the seed."""
    import secrets

    from ember.nn.parameter import manual_seed

    value = secrets.randbits(63)
    manual_seed(value)
    return value


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted for porting: XLA's CPU and TPU programs are deterministic already; on GPU
    see XLA's `--xla_gpu_deterministic_ops`."""


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted for porting ("highest", "high", "medium"): XLA chooses matmul precision
    per backend (on GPU see `jax.default_matmul_precision`)."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"precision must be 'highest', 'high' or 'medium', got {precision!r}")


# what `set_num_threads` / `set_num_interop_threads` were told (None: never called)
_THREADS: dict[str, int | None] = {"intra": None, "inter": None}


def set_num_threads(n: int) -> None:
    """Accepted for porting: XLA sizes its CPU thread pool once, when JAX starts (for one
    thread, `XLA_FLAGS=--xla_cpu_multi_thread_eigen=false` or `taskset -c 0`).
    `get_num_threads()` returns `n` afterwards, as in PyTorch."""
    _THREADS["intra"] = _positive(n, "set_num_threads")


def get_num_threads() -> int:
    """The count given to `set_num_threads`, else the CPUs this process may use."""
    return _THREADS["intra"] or _cpus()


def set_num_interop_threads(n: int) -> None:
    """Accepted for porting, like `set_num_threads`."""
    _THREADS["inter"] = _positive(n, "set_num_interop_threads")


def get_num_interop_threads() -> int:
    return _THREADS["inter"] or _cpus()


def _positive(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{what} expects a positive integer, got {n!r}")
    return int(n)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


__all__ = [
    "finfo",
    "get_default_dtype",
    "get_num_interop_threads",
    "get_num_threads",
    "iinfo",
    "is_tensor",
    "numel",
    "set_float32_matmul_precision",
    "set_num_interop_threads",
    "set_num_threads",
    "use_deterministic_algorithms",
]
