"""`ember.testing.assert_close`: PyTorch's comparison of tensors (or arrays, numbers and
nested sequences/dicts of them) with dtype-dependent default tolerances.

>>> em.testing.assert_close(net(x), expected)
>>> em.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# PyTorch's defaults: (rtol, atol) by dtype; integers and bools compare exactly
_TOLERANCES = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}

__all__ = ["assert_close"]


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach()
    return np.asarray(value)


def _dtype_name(arr: np.ndarray) -> str:
    return "bfloat16" if str(arr.dtype) == "bfloat16" else arr.dtype.name


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_dtype: bool = True,
    msg: str | None = None,
) -> None:
    """Raise AssertionError unless `|actual - expected| <= atol + rtol * |expected|`
    elementwise, with equal shapes (and dtypes, unless `check_dtype=False`)."""
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: give both rtol and atol, or neither")
    _compare(actual, expected, (rtol, atol, equal_nan, check_dtype, msg), "")


def _compare(actual: Any, expected: Any, options: tuple, where: str) -> None:
    msg = options[-1]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or set(actual) != set(expected):
            raise AssertionError(
                msg or f"The keys{where} differ: {list(actual)} vs {list(expected)}"
            )
        for key in expected:
            _compare(actual[key], expected[key], options, f"{where}[{key!r}]")
    elif isinstance(expected, Sequence) and not isinstance(expected, str):
        if not isinstance(actual, Sequence) or len(actual) != len(expected):
            raise AssertionError(msg or f"The sequences{where} differ in length")
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _compare(a, e, options, f"{where}[{i}]")
    else:
        _close(actual, expected, *options, where)


def _close(actual, expected, rtol, atol, equal_nan, check_dtype, msg, where) -> None:
    a, e = _array(actual), _array(expected)
    if a.shape != e.shape:
        raise AssertionError(msg or f"The values{where} differ in shape: {a.shape} vs {e.shape}")
    if check_dtype and _dtype_name(a) != _dtype_name(e):
        raise AssertionError(
            msg or f"The values{where} differ in dtype: {_dtype_name(a)} vs {_dtype_name(e)}"
        )
    if rtol is None:
        rtol, atol = max(
            _TOLERANCES.get(_dtype_name(a), (0.0, 0.0)), _TOLERANCES.get(_dtype_name(e), (0.0, 0.0))
        )
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    ok = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if ok.all():
        return
    bad = int((~ok).sum())
    diff = np.abs(a64 - e64)
    diff = np.where(np.isnan(diff), np.inf, diff)
    worst = np.unravel_index(int(np.argmax(np.where(ok, -1, diff))), a.shape) if a.shape else ()
    rel = diff / np.maximum(np.abs(e64), np.finfo(np.float64).tiny)
    raise AssertionError(
        msg
        or (
            f"Tensor-likes{where} are not close!\n\n"
            f"Mismatched elements: {bad} / {a.size} ({100 * bad / max(a.size, 1):.1f}%)\n"
            f"Greatest absolute difference: {float(diff.max())} at index {tuple(map(int, worst))} "
            f"(up to {atol} allowed)\n"
            f"Greatest relative difference: {float(np.where(ok, 0, rel).max())} "
            f"(up to {rtol} allowed)"
        )
    )
