"""Normalization over trailing dims with optional affine inputs: layer_norm, rms_norm.

The result keeps the input's dtype and the affine parameters may have another
float dtype (half activations with float32 parameters), like PyTorch's kernels.
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.graphdef.ops.common import require_float
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def check_normalized_shape(op: str, x: TensorType, normalized_shape: tuple) -> None:
    """PyTorch's rule: the input must end with `normalized_shape` (at least one dim)."""
    n = len(normalized_shape)
    if n == 0:
        raise ShapeError(
            f"{op}: expected normalized_shape to be at least 1-dimensional, got (); "
            f"fix: pass the trailing dims to normalize, e.g. ({x.shape[-1] if x.ndim else 1},)"
        )
    if x.ndim < n or tuple(x.shape[x.ndim - n :]) != tuple(normalized_shape):
        raise ShapeError(
            f"{op}: given normalized_shape={tuple(normalized_shape)}, expected an input of shape "
            f"(*, {', '.join(map(str, normalized_shape))}), but got an input of shape {x.shape}; "
            f"fix: normalized_shape must equal the input's last {n} dim(s)"
        )


def _norm(op: str, affine_names: tuple[str, ...]):
    def infer(types, normalized_shape, eps):
        x, *affine = types
        require_float(op, x)
        check_normalized_shape(op, x, normalized_shape)
        for name, p in zip(affine_names, affine, strict=False):
            require_float(f"{op} {name}", p)
            if p.shape != tuple(normalized_shape):
                raise ShapeError(
                    f"{op}: expected {name} of the same shape as normalized_shape "
                    f"{tuple(normalized_shape)}, but got {name} of shape {p.shape}"
                )
        return [x]

    return infer


_ATTRS = {"normalized_shape": "ints", "eps": "float"}
register_op(
    "layer_norm",
    _norm("layer_norm", ("weight", "bias")),
    attrs=_ATTRS,
    num_inputs=(1, 3),
    doc="(x - mean) / sqrt(var + eps) [* weight [+ bias]] over the trailing dims",
)
register_op(
    "rms_norm",
    _norm("rms_norm", ("weight",)),
    attrs=_ATTRS,
    num_inputs=(1, 2),
    doc="x / sqrt(mean(x^2) + eps) [* weight] over the trailing dims",
)
