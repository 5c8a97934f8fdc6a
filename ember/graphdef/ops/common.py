"""Shared helpers for type-inference rules: broadcasting, dims, checks."""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import DTypeError, ShapeError
from ember.graphdef.types import TensorType


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """NumPy/PyTorch broadcasting; incompatible shapes raise ShapeError naming them."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise ShapeError(
                f"shapes {shown} cannot be broadcast together (dimension {axis - ndim} has "
                f"sizes {sorted(sizes)}); fix: reshape or unsqueeze so each dimension matches "
                "or is 1"
            )
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def normalize_dim(dim: int, ndim: int, what: str = "dim") -> int:
    lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    if not lo <= dim <= hi:
        raise ShapeError(
            f"{what}={dim} is out of range for a tensor with {ndim} dimensions "
            f"(expected a value in [{lo}, {hi}])"
        )
    return dim % ndim if ndim > 0 else 0


def normalize_dims(dims: Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if dims is None:
        return tuple(range(ndim))
    out = tuple(sorted({normalize_dim(d, ndim) for d in dims}))
    if len(out) != len(tuple(dims)):
        raise ShapeError(f"dims {tuple(dims)} repeat a dimension")
    return out


def same_dtype(op: str, types: Sequence[TensorType]) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        raise DTypeError(
            f"{op}: operands have different dtypes {sorted(dtypes)}; "
            "fix: cast with .to(dtype) (the tracer promotes automatically)"
        )
    return types[0].dtype


def require_float(op: str, t: TensorType) -> None:
    if t.dtype in ("complex64", "complex128"):
        raise DTypeError(
            f"{op}: ember does not take complex tensors here yet (got {t.dtype} with shape "
            f"{t.shape}); fix: apply it to .real / .imag, or to view_as_real(x)"
        )
    if t.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise DTypeError(
            f"{op}: expects a floating-point tensor, got {t.dtype} with shape "
            f"{t.shape}; fix: cast with .float()"
        )


def one(t: TensorType) -> list[TensorType]:
    return [t]
