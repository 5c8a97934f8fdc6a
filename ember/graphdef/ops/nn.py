"""Neural-network ops: softmax family, losses' cores, dropout."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import normalize_dim, require_float
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _softmax(types, dim):
    require_float("softmax", types[0])
    normalize_dim(dim, max(types[0].ndim, 1))
    return [types[0]]


def _nll_loss(types, reduction, ignore_index):
    logp, target = types[0], types[1]
    require_float("nll_loss", logp)
    if target.dtype not in ("int8", "int16", "int32", "int64", "uint8"):
        raise DTypeError(
            f"nll_loss/cross_entropy: class targets must be integers, got {target.dtype}; "
            "fix: y.long(), or pass class probabilities of the input's shape"
        )
    expected = (logp.shape[0],) + logp.shape[2:] if logp.ndim >= 2 else ()
    if target.shape != expected:
        raise ShapeError(
            f"nll_loss/cross_entropy: input of shape {logp.shape} needs class targets of shape "
            f"{expected}, got {target.shape}"
        )
    if len(types) == 3 and types[2].shape != (logp.shape[1 if logp.ndim >= 2 else 0],):
        raise ShapeError(f"class weight shape {types[2].shape} does not match C={logp.shape[1]}")
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    shape = target.shape if reduction == "none" else ()
    return [TensorType(shape, logp.dtype)]


def _dropout(types, p, salt, mode):
    x, key = types
    if not 0.0 <= p <= 1.0:
        raise ShapeError(f"dropout probability has to be between 0 and 1, but got {p}")
    return [x]


register_op("softmax", _softmax, attrs={"dim": "int"})
register_op("log_softmax", _softmax, attrs={"dim": "int"})
register_op(
    "nll_loss",
    _nll_loss,
    attrs={"reduction": "str", "ignore_index": "int"},
    num_inputs=(2, 3),
    doc="negative log-likelihood of log-probabilities at class targets",
)
register_op(
    "dropout",
    _dropout,
    attrs={"p": "float", "salt": "int?", "mode": "str"},
    num_inputs=2,
    stochastic=True,
    doc="zero elements with prob p (mode 'element' | 'channel' | 'alpha'), scale 1/(1-p)",
)
