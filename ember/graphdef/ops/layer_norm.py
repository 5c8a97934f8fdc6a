"""Normalization over trailing dims: layer_norm and rms_norm (affine parts are separate mul/add)."""

from __future__ import annotations

from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from .common import require_float


def check_normalized_shape(op: str, x: TensorType, normalized_shape: tuple) -> None:
    """PyTorch's rule: the input must end with `normalized_shape` (at least one dim)."""
    n = len(normalized_shape)
    if n == 0:
        raise ShapeError(f"{op}: expected normalized_shape to be at least 1-dimensional, got (); "
                         f"fix: pass the trailing dims to normalize, e.g. ({x.shape[-1] if x.ndim else 1},)")
    if x.ndim < n or tuple(x.shape[x.ndim - n:]) != tuple(normalized_shape):
        raise ShapeError(
            f"{op}: given normalized_shape={tuple(normalized_shape)}, expected an input of shape "
            f"(*, {', '.join(map(str, normalized_shape))}), but got an input of shape {x.shape}; "
            f"fix: normalized_shape must equal the input's last {n} dim(s)"
        )


def _norm(op: str):
    def infer(types, normalized_shape, eps):
        (x,) = types
        require_float(op, x)
        check_normalized_shape(op, x, normalized_shape)
        return [x]

    return infer


register_op("layer_norm", _norm("layer_norm"), attrs={"normalized_shape": "ints", "eps": "float"},
            doc="(x - mean) / sqrt(var + eps) over the trailing normalized_shape dims (biased var)")
register_op("rms_norm", _norm("rms_norm"), attrs={"normalized_shape": "ints", "eps": "float"},
            doc="x / sqrt(mean(x^2) + eps) over the trailing normalized_shape dims")
