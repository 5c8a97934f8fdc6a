"""Window functions of signal processing, as in PyTorch: `hann_window`,
`hamming_window`, `blackman_window`, `bartlett_window`, `kaiser_window`.

A window is a constant: computed on the host in float64 from PyTorch's formulas, then
stored in the requested dtype (the default float dtype unless given). `periodic=True`
(the default) gives the window of length N+1 without its last sample, the one `stft`
wants; `periodic=False` the symmetric one.

>>> import ember as em
>>> em.hann_window(4).tolist()
[0.0, 0.5, 1.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.nn.functional.creation import tensor

__all__ = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


def _window(length: int, periodic: bool, shape: Callable, dtype, kwargs: dict) -> Tensor:
    if length < 0:
        raise ValueError(f"window_length must be non-negative, got {length}")
    dtype = dtypes.DEFAULT_FLOAT if dtype is None else dtypes.requested(dtype)
    if length <= 1:
        values = np.ones(length)
    else:
        n = length + 1 if periodic else length
        values = shape(np.arange(n, dtype=np.float64), n)[:length]
    return tensor(values, dtype=dtype, **kwargs)


def _cosine_sum(*weights: float) -> Callable:
    def shape(i, n):
        phase = 2 * np.pi * i / (n - 1)
        return sum(w * (-1) ** k * np.cos(k * phase) for k, w in enumerate(weights))

    return shape


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, **kwargs) -> Tensor:
    """`torch.hann_window`: `0.5 - 0.5 cos(2 pi n / (N - 1))`."""
    return _window(window_length, periodic, _cosine_sum(0.5, 0.5), dtype, kwargs)


def hamming_window(
    window_length: int,
    periodic: bool = True,
    alpha: float = 0.54,
    beta: float = 0.46,
    *,
    dtype=None,
    **kwargs,
) -> Tensor:
    """`torch.hamming_window`: `alpha - beta cos(2 pi n / (N - 1))`."""
    return _window(window_length, periodic, _cosine_sum(alpha, beta), dtype, kwargs)


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, **kwargs) -> Tensor:
    """`torch.blackman_window`: `0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))`."""
    return _window(window_length, periodic, _cosine_sum(0.42, 0.5, 0.08), dtype, kwargs)


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, **kwargs) -> Tensor:
    """`torch.bartlett_window`: the triangle `1 - |2 n / (N - 1) - 1|`."""
    return _window(
        window_length, periodic, lambda i, n: 1 - np.abs(2 * i / (n - 1) - 1), dtype, kwargs
    )


def kaiser_window(
    window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None, **kwargs
) -> Tensor:
    """`torch.kaiser_window`: `I0(beta sqrt(1 - (2 n / (N - 1) - 1)^2)) / I0(beta)`."""

    def shape(i, n):
        return np.i0(beta * np.sqrt(1 - (2 * i / (n - 1) - 1) ** 2)) / np.i0(beta)

    return _window(window_length, periodic, shape, dtype, kwargs)
