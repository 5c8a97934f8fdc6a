"""Reductions that skip values: `nansum` / `nanmean` (NaN) and `count_nonzero` (zeros)."""

from __future__ import annotations

from ember.errors import DTypeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, cast, dims_arg, emit
from ember.nn.functional.elementwise import isnan, where

__all__ = ["count_nonzero", "nansum", "nanmean"]


@tensor_method()
def count_nonzero(input, dim=None) -> Tensor:
    """`torch.count_nonzero`: how many elements are nonzero over `dim` (an int, a tuple or
    None for all), as ember's default integer dtype (PyTorch: int64).

    >>> em.count_nonzero(em.tensor([[0, 1], [2, 3]]), dim=1)   # [1, 2]
    """
    x = as_tensor(input)
    nonzero = cast(x != 0, dtypes.DEFAULT_INT)
    return emit("sum", [nonzero], dims=dims_arg(dim), keepdim=False)


def _without_nan(x: Tensor) -> Tensor:
    return where(isnan(x), 0, x) if dtypes.is_floating(x.dtype) else x


@tensor_method()
def nansum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """`torch.nansum`: the sum over `dim`, treating NaN as zero.

    >>> em.nansum(em.tensor([1.0, float("nan"), 2.0]))   # 3.0
    """
    x = as_tensor(input)
    if dtype is not None:  # PyTorch casts the input before reducing
        x = x.to(dtype)
    return emit("sum", [_without_nan(x)], dims=dims_arg(dim), keepdim=bool(keepdim))


@tensor_method()
def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """`torch.nanmean`: the mean over `dim` of the non-NaN elements (NaN where all are NaN).

    >>> em.nanmean(em.tensor([1.0, float("nan"), 3.0]))   # 2.0
    """
    x = as_tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    if not dtypes.is_floating(x.dtype):
        raise x.builder.error(
            DTypeError(
                f"nanmean: expects a floating-point input, got {x.dtype} with shape {x.shape}; "
                "fix: cast it with .float() (or use em.mean: integers hold no NaN)"
            )
        )
    present = cast(~isnan(x), x.dtype)
    total = emit("sum", [_without_nan(x)], dims=dims_arg(dim), keepdim=bool(keepdim))
    count = emit("sum", [present], dims=dims_arg(dim), keepdim=bool(keepdim))
    return total / count
