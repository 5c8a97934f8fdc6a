"""The connectionist temporal classification loss (`ctc_loss`)."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ops.common import require_float
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

_INTS = ("uint8", "int8", "int16", "int32", "int64")


def _ctc_loss(types, blank, reduction, zero_infinity):
    log_probs, targets, input_lengths, target_lengths = types
    require_float("ctc_loss", log_probs)
    if log_probs.ndim != 3:
        raise ShapeError(f"ctc_loss: log_probs must be (T, N, C), got {log_probs.shape}")
    _, n, c = log_probs.shape
    for name, t in (
        ("targets", targets),
        ("input_lengths", input_lengths),
        ("target_lengths", target_lengths),
    ):
        if t.dtype not in _INTS:
            raise DTypeError(f"ctc_loss: {name} must be integers, got {t.dtype}; fix: .long()")
    if not (targets.ndim == 1 or targets.ndim == 2 and targets.shape[0] == n):
        raise ShapeError(
            f"ctc_loss: targets must be padded ({n}, S) or concatenated 1-D for "
            f"log_probs {log_probs.shape}, got {targets.shape}"
        )
    for name, t in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if t.shape != (n,):
            raise ShapeError(
                f"ctc_loss: {name} must have shape ({n},) (one per sequence of "
                f"log_probs {log_probs.shape}), got {t.shape}"
            )
    if not 0 <= blank < c:
        raise ShapeError(
            f"ctc_loss: blank={blank} is not a class of log_probs {log_probs.shape} "
            f"(expected 0 <= blank < {c})"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"ctc_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return [TensorType((n,) if reduction == "none" else (), log_probs.dtype)]


register_op(
    "ctc_loss",
    _ctc_loss,
    attrs={"blank": "int", "reduction": "str", "zero_infinity": "bool"},
    num_inputs=4,
    doc="CTC loss of (T, N, C) log-probs against padded (N, S) or concatenated targets",
)
