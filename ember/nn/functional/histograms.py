"""Counting values: `histc` (equal-width bins) and `bincount` (one bin per integer).

A compiled program needs every output size before it runs. `histc`'s size is
`bins`. `bincount`'s is data-dependent in PyTorch (`max(input) + 1`): outside a
trace ember reads the maximum (one host sync, as PyTorch does); inside a traced
function the size comes from `minlength`, and values outside `[0, minlength)` are
dropped, since a compiled program cannot grow its output or raise.
"""

from __future__ import annotations

import math

import numpy as np

from ember.errors import DTypeError, ShapeError, TraceError
from ember.frontend.tensor import Tensor, tensor_method
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, cast, constant, to_float
from ember.nn.functional.elementwise import clamp, floor, isnan, where
from ember.nn.functional.reduction import amax, amin
from ember.nn.functional.scatter import scatter_add
from ember.nn.functional.shape import broadcast_to, reshape

__all__ = ["histc", "bincount"]


def _zeros(x: Tensor, size: int, dtype: str) -> Tensor:
    return broadcast_to(constant(x.builder, 0, dtype), (size,))


@tensor_method()
def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """`torch.histc`: counts of the elements in `bins` equal-width bins over [min, max].

    With `min == max == 0` the range is the data's own min and max (ignoring NaN, where
    PyTorch raises); elements outside the range and NaN are not counted. Not
    differentiable, as in PyTorch.

    >>> em.histc(em.tensor([1.0, 2.0, 1.0]), bins=4, min=0, max=3)   # [0, 2, 1, 0]
    """
    x = to_float(as_tensor(input))
    if bins <= 0:
        raise x.builder.error(ShapeError(f"histc: bins must be positive, got {bins}"))
    if min > max:
        raise x.builder.error(
            ShapeError(f"histc: max must be larger than min, got min={min} and max={max}")
        )
    flat = reshape(x, (x.numel(),))
    if min == max == 0 and flat.numel():
        # the data's range without NaN (PyTorch raises on a NaN range; a program cannot)
        missing = isnan(flat)
        lo = amin(where(missing, math.inf, flat))
        hi = amax(where(missing, -math.inf, flat))
    else:
        lo = constant(x.builder, min, x.dtype)
        hi = constant(x.builder, max, x.dtype)
    # PyTorch widens an empty range to [min - 1, max + 1]
    same = lo == hi
    lo, hi = where(same, lo - 1, lo), where(same, hi + 1, hi)
    inside = (flat >= lo) & (flat <= hi)
    # the bin of x is floor((x - lo) * bins / (hi - lo)); x == hi goes to the last bin
    position = cast(floor((flat - lo) * bins / (hi - lo)), dtypes.DEFAULT_INT)
    position = where(inside, clamp(position, 0, bins - 1), 0)
    counts = scatter_add(_zeros(x, bins, x.dtype), 0, position, cast(inside, x.dtype))
    return counts


def _static_length(x: Tensor, minlength: int) -> int:
    """PyTorch's output length `max(max(input) + 1, minlength)`, read from the values
    outside a trace; inside one, `minlength` must give it."""
    if current_builder() is None:
        values = np.asarray(x.numpy())
        if values.size and values.min() < 0:
            raise ValueError(
                f"bincount: input must be non-negative, got a minimum of {values.min()}"
            )
        return max(int(values.max()) + 1 if values.size else 0, minlength)
    if minlength <= 0:
        raise x.builder.error(
            TraceError(
                f"bincount: inside a traced function the output length must be static, but "
                f"PyTorch's length max(input) + 1 depends on the values of the {x.shape} input; "
                "fix: pass minlength=N with N > input.max() (the number of classes); values "
                "outside [0, N) are then not counted"
            )
        )
    return minlength


@tensor_method()
def bincount(input, weights=None, minlength: int = 0) -> Tensor:
    """`torch.bincount`: how often each non-negative integer occurs (summing `weights`).

    Inside a traced function pass `minlength` (the number of bins): the output has
    exactly that length and values outside `[0, minlength)` are not counted.

    >>> em.bincount(labels, minlength=10)   # per-class counts, length 10
    """
    x = as_tensor(input)
    if x.ndim != 1 or dtypes.is_floating(x.dtype) or x.dtype == "bool":
        raise x.builder.error(
            DTypeError(
                f"bincount: expects a 1-D tensor of non-negative integers, got {x.dtype} with "
                f"shape {x.shape}; fix: flatten it and cast with .long()"
            )
        )
    if minlength < 0:
        raise x.builder.error(ShapeError(f"bincount: minlength must be >= 0, got {minlength}"))
    length = _static_length(x, int(minlength))
    if weights is None:
        out_dtype, w = dtypes.DEFAULT_INT, None
    else:
        w = as_tensor(weights, x.builder)
        if w.shape != x.shape:
            raise x.builder.error(
                ShapeError(f"bincount: weights of shape {w.shape} must match the input {x.shape}")
            )
        # PyTorch keeps float weights' dtype and counts other weights in float64
        out_dtype = w.dtype if dtypes.is_floating(w.dtype) else dtypes.effective("float64")
        w = cast(w, out_dtype)
    inside = (x >= 0) & (x < length)
    position = where(inside, x, 0)
    amount = cast(inside, out_dtype) if w is None else where(inside, w, 0)
    return scatter_add(_zeros(x, length, out_dtype), 0, position, amount)
