"""Dropout family: one `dropout` op whose RNG key is folded with a per-node salt."""

from __future__ import annotations

import warnings

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import active_builder, as_tensor, in_place


def _dropout(x, p: float, training: bool, mode: str) -> Tensor:
    x = as_tensor(x)
    if not 0.0 <= p <= 1.0:
        raise x.builder.error(
            ShapeError(f"dropout probability has to be between 0 and 1, but got {p}")
        )
    if not training or p == 0.0:
        return x
    builder = active_builder(x)
    (out,) = builder.emit(
        "dropout", [x, builder.rng_tensor()], {"p": float(p), "salt": builder.salt(), "mode": mode}
    )
    return out


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    return in_place(input, _dropout(input, p, training, "element"), inplace)


def _channel_dropout(batched_ndim: int, name: str):
    """Zero whole channels. Inputs of `batched_ndim` dims are (N, C, ...); one dim fewer is an
    unbatched (C, ...) input, except that dropout2d reads 3-D input as (N, C, L) like PyTorch."""

    def fn(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
        return in_place(input, channels(input, p, training), inplace)

    def channels(input, p: float, training: bool) -> Tensor:
        x = as_tensor(input)
        if name == "dropout2d" and x.ndim == 2:
            # PyTorch (deprecated, with a warning) drops each element of a 2-D (N, C) input:
            # its feature_dropout draws one value per (sample, channel), i.e. per element.
            # pytorch/examples mnist_rnn applies Dropout2d to an (N, 64) tensor.
            warnings.warn(
                "dropout2d: Received a 2-D input to dropout2d, which is deprecated (PyTorch will "
                "make it an error); it drops single elements. To retain the behavior and silence "
                "this warning, please use dropout instead.",
                UserWarning,
                stacklevel=2,
            )
            return _dropout(x, p, training, "element")
        if x.ndim < batched_ndim - 1 or (name == "dropout1d" and x.ndim > 3):
            raise x.builder.error(
                ShapeError(
                    f"{name}: expects a {batched_ndim - 1}-D (unbatched) or {batched_ndim}-D "
                    "(batched) "
                    f"input, got shape {x.shape}"
                )
            )
        if not training or p == 0.0:
            return _dropout(x, p, training, "channel")  # validates p, returns x
        if x.ndim == batched_ndim - 1 and name != "dropout2d":
            return _dropout(x.reshape((1,) + x.shape), p, training, "channel").reshape(x.shape)
        return _dropout(x, p, training, "channel")

    fn.__name__ = name
    return fn


dropout1d = _channel_dropout(3, "dropout1d")
dropout2d = _channel_dropout(4, "dropout2d")
dropout3d = _channel_dropout(5, "dropout3d")


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    return in_place(input, _dropout(input, p, training, "alpha"), inplace)
