"""User values turned into what parameter and buffer slots hold (`register_buffer`,
buffer assignment, `load_state_dict`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.nn.parameter import stored, to_numpy

_DEFAULT_PRECISION = {np.dtype("float64"): np.float32, np.dtype("int64"): np.int32}


def as_buffer_array(value: Any) -> Any:
    """What a buffer slot keeps for a user value: an array, or a pending lazy value."""
    if isinstance(value, Tensor):
        return stored(value)
    return _host_buffer(value)


def _host_buffer(value: Any) -> Any:
    """Buffers hold numpy or backend arrays (torch tensors and lists become numpy), in the
    backend's default precision: float64 -> float32, int64 -> int32 unless x64 is on."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and not hasattr(value, "detach"):
        if not isinstance(value, np.ndarray):
            return value
        value = np.array(value)
    else:
        value = to_numpy(value)
    if dtypes.x64_enabled():
        return value
    return value.astype(_DEFAULT_PRECISION.get(value.dtype, value.dtype), copy=False)


def converted_value(value: Any, want) -> tuple[str, Any]:
    """(problem or "", value as a numpy array of the wanted dtype)."""
    try:
        arr = to_numpy(value)
    except Exception as e:  # noqa: BLE001 (any foreign array type: report it, load nothing)
        return f"cannot read a {type(value).__name__} as an array ({e})", None
    if tuple(arr.shape) != tuple(want.shape):
        return f"checkpoint has shape {tuple(arr.shape)}, model expects {tuple(want.shape)}", None
    if arr.dtype.kind not in "biufc" and str(arr.dtype) != "bfloat16":
        return f"checkpoint has dtype {arr.dtype}, which is not numeric", None
    target = np.dtype(want.dtype) if want.dtype != "bfloat16" else None
    if arr.dtype.kind == "c" and (target is None or target.kind != "c"):
        return f"checkpoint has complex values ({arr.dtype}), model expects {want.dtype}", None
    if target is not None and target.kind in "iu" and arr.dtype.kind in "iu" and arr.size:
        info = np.iinfo(target)
        if arr.min() < info.min or arr.max() > info.max:
            return (
                f"values from {arr.min()} to {arr.max()} do not fit the model's {want.dtype}",
                None,
            )
    if target is None:
        import ml_dtypes

        target = ml_dtypes.bfloat16
    return "", np.asarray(arr, dtype=target)
