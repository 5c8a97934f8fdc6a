"""Helpers shared by the distributions (PyTorch's `torch.distributions.utils` names)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.errors import ShapeError
from ember.frontend.lazy import LazyValue
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import current_builder
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn import functional as F
from ember.nn.functional._core import is_scalar, promote_all, to_float

__all__ = [
    "broadcast_all",
    "probs_to_logits",
    "logits_to_probs",
    "clamp_probs",
    "sum_rightmost",
    "as_shape",
]


def as_shape(shape: Any) -> tuple[int, ...]:
    """A `sample_shape`/`batch_shape` argument as a tuple (an int is one dimension)."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """Float tensors of one broadcast shape and dtype from numbers, arrays and tensors.

    >>> loc, scale = broadcast_all(em.zeros(3), 1.0)   # both (3,), float32
    """
    tensors = [to_float(t) for t in promote_all(*values)]
    dtype = tensors[0].dtype
    tensors = [t.to(dtype) for t in tensors]  # ints promoted to float, then one dtype
    try:
        shape = broadcast_shapes(*(t.shape for t in tensors))
    except ShapeError as err:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ShapeError(
            f"distribution parameters of shapes {shapes} do not broadcast; fix: give them "
            "shapes that broadcast (trailing dims equal or 1)"
        ) from err
    return tuple(t if t.shape == shape else F.broadcast_to(t, shape) for t in tensors)


_BFLOAT16 = {"eps": 2.0**-7, "min": -3.3895313892515355e38}  # numpy has no bfloat16


def _eps(dtype: str) -> float:
    return _BFLOAT16["eps"] if dtype == "bfloat16" else float(np.finfo(np.dtype(dtype)).eps)


def finfo_min(dtype: str) -> float:
    """The most negative finite value of a float dtype."""
    return _BFLOAT16["min"] if dtype == "bfloat16" else float(np.finfo(np.dtype(dtype)).min)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped into [eps, 1 - eps] of their dtype (finite logits)."""
    eps = _eps(probs.dtype)
    return probs.clamp(eps, 1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds of Bernoulli probabilities (`is_binary`), else log-probabilities."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Sigmoid of log-odds (`is_binary`), else softmax over the last dim."""
    return logits.sigmoid() if is_binary else F.softmax(logits, -1)


def sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum the `dim` rightmost dimensions (none for 0)."""
    return value if dim == 0 else value.sum(tuple(range(-dim, 0)))


def concrete_array(value: Any) -> np.ndarray | None:
    """The value as numpy when it is known without running anything, else None.

    Validation reads only these: numbers and arrays (also inside a trace, where they are
    constants) and computed lazy tensors. Traced or pending tensors are not checked
    (that would be impossible while compiling, or cost a program run), so
    `validate_args` never adds a host sync.
    """
    if isinstance(value, Tensor):
        if current_builder() is not None:  # traced (parameters included): unknown yet
            return None
        lazy = value.value
        if isinstance(lazy, LazyValue) and lazy.data is not None:
            return np.asarray(lazy.data)
        return None
    if is_scalar(value) or isinstance(value, np.ndarray):
        return np.asarray(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    return None


def log_sqrt_2pi() -> float:
    return 0.5 * math.log(2 * math.pi)
