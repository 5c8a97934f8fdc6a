"""`F.layer_norm` and `F.rms_norm` with PyTorch's signatures and dtype rules."""

from __future__ import annotations

from collections.abc import Sequence

from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, constant, emit

__all__ = ["layer_norm", "rms_norm"]

# rms_norm's default epsilon: finfo(compute dtype).eps; half inputs are computed in float32,
# so they get float32's eps (what PyTorch's kernels use, not finfo(float16).eps)
_F32_EPS, _F64_EPS = 1.1920928955078125e-07, 2.220446049250313e-16


def _shape_arg(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(d) for d in normalized_shape)


def layer_norm(
    input, normalized_shape: int | Sequence[int], weight=None, bias=None, eps: float = 1e-5
) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims, then `* weight + bias`.

    The result has the input's dtype (float16 input with float32 parameters stays float16).
    """
    x = as_tensor(input)
    shape = _shape_arg(normalized_shape)
    inputs = [x]
    if weight is not None or bias is not None:
        w = (
            constant(x.builder, 1.0, x.dtype, shape)
            if weight is None
            else as_tensor(weight, x.builder)
        )
        inputs += [w] if bias is None else [w, as_tensor(bias, x.builder)]
    return emit("layer_norm", inputs, normalized_shape=shape, eps=float(eps))


def rms_norm(
    input, normalized_shape: int | Sequence[int], weight=None, eps: float | None = None
) -> Tensor:
    """`x / sqrt(mean(x^2) + eps) * weight`; eps None is the finfo eps of the compute dtype.

    That is float64's eps for float64 inputs and float32's for the rest (half inputs are
    computed in float32), matching PyTorch's results.
    """
    x = as_tensor(input)
    shape = _shape_arg(normalized_shape)
    if eps is None:
        eps = _F64_EPS if x.dtype == "float64" else _F32_EPS
    inputs = [x] if weight is None else [x, as_tensor(weight, x.builder)]
    return emit("rms_norm", inputs, normalized_shape=shape, eps=float(eps))
