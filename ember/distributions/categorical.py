"""`Categorical(probs=... | logits=...)`: one of K classes per batch element (policies)."""

from __future__ import annotations

import math
from typing import Any

from ember.distributions import constraints
from ember.distributions.bernoulli import one_of
from ember.distributions.distribution import Distribution
from ember.distributions.utils import (
    broadcast_all,
    concrete_array,
    finfo_min,
    probs_to_logits,
)
from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn import functional as F

__all__ = ["Categorical"]


class Categorical(Distribution):
    """Class indices 0..K-1 with probabilities along the last dim of `probs`/`logits`.

    `probs` is normalized to sum to 1 and `logits` to `log(probs)` (logsumexp 0), as in
    PyTorch; samples are int32 indices of shape `sample_shape + batch_shape`.

    >>> dist = Categorical(logits=policy(obs))
    >>> action = dist.sample()
    >>> loss = -(dist.log_prob(action) * returns).mean()      # REINFORCE
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None):
        name = type(self).__name__
        one_of(name, probs, logits)
        given = "probs" if probs is not None else "logits"
        (param,) = broadcast_all(probs if probs is not None else logits)
        if param.ndim < 1:
            raise ShapeError(
                f"{name}: {given} must have at least one dimension (the categories), got "
                f"shape {param.shape}; fix: e.g. {given} of shape (batch, num_classes)"
            )
        super().__init__(param.shape[:-1], validate_args=validate_args)
        if given == "probs":
            self.probs = param / param.sum(-1, keepdim=True)
            self.logits = probs_to_logits(self.probs)
        else:
            self.logits = param - param.logsumexp(-1, keepdim=True)
            self.probs = F.softmax(self.logits, -1)
        raw = probs if probs is not None else logits
        # unnormalized weights are allowed: the check is on what they normalize to
        self._validate_params({"probs": _normalized(raw)} if given == "probs" else {given: raw})

    @property
    def _num_events(self) -> int:
        return self.logits.shape[-1]

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.logits.shape

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def mean(self) -> Tensor:
        return F.full(self.batch_shape, math.nan, dtype=self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return F.full(self.batch_shape, math.nan, dtype=self.probs.dtype)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        n = math.prod(shape[: len(shape) - len(self.batch_shape)])
        if n == 0 or 0 in shape:
            return F.zeros(shape, dtype=dtypes.DEFAULT_INT)
        probs = self.probs.detach().reshape(-1, self._num_events)
        draws = F.multinomial(probs, n, replacement=True)  # (batch elements, n)
        return draws.t().reshape(shape)

    def log_prob(self, value: Any) -> Tensor:
        value = self._validate_sample(value)
        shape = broadcast_shapes(value.shape, self.batch_shape)
        index = F.broadcast_to(value.to(dtypes.DEFAULT_INT), shape).unsqueeze(-1)
        logits = F.broadcast_to(self.logits, shape + (self._num_events,))
        # a non-negative dim: the gather lowering once read dim=-1 as a corner slice
        return logits.gather(logits.ndim - 1, index).squeeze(-1)

    def entropy(self) -> Tensor:
        # -inf logits (impossible classes) contribute 0 * finite instead of NaN
        lowest = finfo_min(self.logits.dtype)
        return -(self.logits.clamp(min=lowest) * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = F.arange(self._num_events).reshape(
            (self._num_events,) + (1,) * len(self.batch_shape)
        )
        return F.broadcast_to(values, (self._num_events, *self.batch_shape)) if expand else values


def _normalized(raw: Any) -> Any:
    arr = concrete_array(raw)
    if arr is None:
        return raw
    total = arr.sum(-1, keepdims=True)
    return arr / total if (total > 0).all() else arr
