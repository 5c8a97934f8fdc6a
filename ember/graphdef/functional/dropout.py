"""Dropout family: one `dropout` op whose RNG key is folded with a per-node salt."""

from __future__ import annotations

from ..errors import ShapeError
from ..tensor import Tensor
from ._core import active_builder, as_tensor


def _dropout(x, p: float, training: bool, mode: str) -> Tensor:
    x = as_tensor(x)
    if not 0.0 <= p <= 1.0:
        raise x.builder.error(ShapeError(f"dropout probability has to be between 0 and 1, but got {p}"))
    if not training or p == 0.0:
        return x
    builder = active_builder(x)
    (out,) = builder.emit("dropout", [x, builder.rng_tensor()],
                          {"p": float(p), "salt": builder.salt(), "mode": mode})
    return out


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    return _dropout(input, p, training, "element")


def _channel_dropout(min_ndim: int):
    def fn(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
        x = as_tensor(input)
        if x.ndim < min_ndim:
            raise x.builder.error(
                ShapeError(f"channel dropout expects at least {min_ndim}-D input, got {x.shape}")
            )
        return _dropout(x, p, training, "channel")

    return fn


dropout1d = _channel_dropout(2)
dropout2d = _channel_dropout(3)
dropout3d = _channel_dropout(4)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    return _dropout(input, p, training, "alpha")
