"""Values users log (ember tensors, numpy/JAX arrays, Python numbers) as numpy."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(value: Any) -> np.ndarray:
    """A host numpy array from an ember `Tensor`/`Parameter` (lazy values are computed),
    a JAX or numpy array, a PyTorch tensor, a Python number or a nested list."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and not hasattr(value, "_concrete"):
        value = value.detach().cpu().numpy()  # a torch tensor (ember's own converts itself)
    arr = np.asarray(value)
    if arr.dtype.kind == "V" or arr.dtype.name in ("bfloat16",) or "float8" in arr.dtype.name:
        arr = arr.astype(np.float32)  # ml_dtypes types numpy cannot do arithmetic on
    return arr


def to_float(value: Any, what: str) -> float:
    """One Python float from a value holding exactly one element."""
    arr = to_numpy(value)
    if arr.size != 1:
        raise ValueError(
            f"{what} must hold one element, got shape {tuple(arr.shape)}; fix: reduce it first "
            "(e.g. loss.mean()) or log each element under its own tag"
        )
    return float(arr.reshape(()))
