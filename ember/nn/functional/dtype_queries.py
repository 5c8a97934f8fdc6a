"""Type and truth queries answered in Python: `is_floating_point`, `is_nonzero`,
`result_type`, `promote_types`, `can_cast`."""

from __future__ import annotations

from ember.errors import ShapeError, TraceError
from ember.frontend.tensor import Tensor, tensor_method
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, is_scalar

__all__ = ["is_floating_point", "is_nonzero", "result_type", "promote_types", "can_cast"]


@tensor_method()
def is_floating_point(input) -> bool:
    """`torch.is_floating_point`: whether the tensor's dtype is a floating-point one."""
    return dtypes.is_floating(as_tensor(input).dtype)


@tensor_method()
def is_nonzero(input) -> bool:
    """`torch.is_nonzero`: a one-element tensor's truth value, as a Python bool.

    Reads the value, so it works outside a traced forward only (use `x != 0` there).
    """
    builder = current_builder()
    if builder is not None:
        raise builder.error(
            TraceError(
                "is_nonzero: returns a Python bool, which needs a concrete value not known "
                "while tracing; fix: use (x != 0), a bool tensor em.where/em.cond can act on"
            )
        )
    x = as_tensor(input)
    if x.numel() != 1:
        what = "no values" if x.numel() == 0 else "more than one value"
        raise ShapeError(f"is_nonzero: a tensor with {what} has an ambiguous truth value")
    return bool(x.reshape(()).item() != 0)


def _operand(x) -> tuple[str, int]:
    if isinstance(x, Tensor) or not is_scalar(x):
        t = as_tensor(x)
        return t.dtype, 2 if t.ndim else 1
    return dtypes.scalar_dtype(x), 0


def result_type(tensor1, tensor2) -> dtypes.DType:
    """`torch.result_type`: the dtype an arithmetic op on these operands gives (Python
    numbers and 0-d tensors count less than dimensioned tensors)."""
    return dtypes.as_dtype(dtypes.result_type(_operand(tensor1), _operand(tensor2)))


def promote_types(type1, type2) -> dtypes.DType:
    """`torch.promote_types`: the smallest dtype both dtypes convert to without losing
    their category (`int32, float16 -> float16`)."""
    return dtypes.as_dtype(dtypes.promote(dtypes.canonical(type1), dtypes.canonical(type2)))


def can_cast(from_, to) -> bool:
    """`torch.can_cast`: PyTorch's casting rule: no cast to a lower category (float to
    integer, or to bool); any cast within a category is allowed."""
    a, b = dtypes.canonical(from_), dtypes.canonical(to)
    return dtypes.category(b) >= dtypes.category(a)
