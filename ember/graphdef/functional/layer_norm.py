"""`F.layer_norm` and `F.rms_norm`: PyTorch's signatures; the affine parts are a mul and an add."""

from __future__ import annotations

from collections.abc import Sequence

from .. import dtypes
from ..errors import ShapeError
from ..tensor import Tensor
from ._core import as_tensor, emit, promote_pair

__all__ = ["layer_norm", "rms_norm"]

# torch.finfo(dtype).eps: rms_norm's default epsilon
_FINFO_EPS = {"float16": 0.0009765625, "bfloat16": 0.0078125,
              "float32": 1.1920928955078125e-07, "float64": 2.220446049250313e-16}


def _shape_arg(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(d) for d in normalized_shape)


def _affine(op: str, y: Tensor, shape: tuple, weight, bias) -> Tensor:
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        p = as_tensor(p, y.builder)
        if tuple(p.shape) != shape:
            raise y.builder.error(ShapeError(
                f"{op}: expected {name} of the same shape as normalized_shape {shape}, but got "
                f"{name} of shape {tuple(p.shape)}"
            ))
        y = y * p if name == "weight" else y + p
    return y


def layer_norm(input, normalized_shape: int | Sequence[int], weight=None, bias=None,
               eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims, then `* weight + bias`."""
    x = as_tensor(input)
    shape = _shape_arg(normalized_shape)
    y = emit("layer_norm", [x], normalized_shape=shape, eps=float(eps))
    return _affine("layer_norm", y, shape, weight, bias)


def rms_norm(input, normalized_shape: int | Sequence[int], weight=None,
             eps: float | None = None) -> Tensor:
    """`x / sqrt(mean(x^2) + eps) * weight`; eps None is `torch.finfo(x.dtype).eps`."""
    x = as_tensor(input)
    shape = _shape_arg(normalized_shape)
    if weight is not None:  # PyTorch promotes input and weight (float32 weight, float64 input)
        x, weight = promote_pair(x, weight)
    if eps is None:
        eps = _FINFO_EPS.get(x.dtype, _FINFO_EPS[dtypes.DEFAULT_FLOAT])
    y = emit("rms_norm", [x], normalized_shape=shape, eps=float(eps))
    return _affine("rms_norm", y, shape, weight, None)
