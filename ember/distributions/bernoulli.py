"""`Bernoulli(probs=... | logits=...)`: one coin flip per batch element."""

from __future__ import annotations

from typing import Any

from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import broadcast_all, logits_to_probs, probs_to_logits
from ember.frontend.tensor import Tensor
from ember.nn import functional as F

__all__ = ["Bernoulli"]


def one_of(name: str, probs: Any, logits: Any) -> None:
    if (probs is None) == (logits is None):
        raise ValueError(
            f"{name} takes exactly one of probs= or logits=, got "
            f"{'both' if probs is not None else 'neither'}; fix: e.g. {name}(logits=net(x))"
        )


class Bernoulli(Distribution):
    """1 with probability `probs` (or `sigmoid(logits)`), else 0; samples are floats.

    >>> d = Bernoulli(logits=net(x))
    >>> loss = -d.log_prob(targets).sum()       # = BCE with logits, summed
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None):
        one_of("Bernoulli", probs, logits)
        given = "probs" if probs is not None else "logits"
        (param,) = broadcast_all(probs if probs is not None else logits)
        super().__init__(param.shape, validate_args=validate_args)
        # both forms are kept: each statistic uses the stable one (logits for log_prob)
        if given == "probs":
            self.probs, self.logits = param, probs_to_logits(param, is_binary=True)
        else:
            self.logits, self.probs = param, logits_to_probs(param, is_binary=True)
        self._validate_params({given: probs if probs is not None else logits})

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.probs.shape

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        # a fair coin has no single mode: NaN, as in PyTorch
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return F.where(self.probs == 0.5, float("nan"), mode)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        probs = F.broadcast_to(self.probs, self._extended_shape(sample_shape))
        return F.bernoulli(probs.detach())

    def log_prob(self, value: Any) -> Tensor:
        value = self._validate_sample(value).to(self.logits.dtype)
        return value * self.logits - F.softplus(self.logits)

    def entropy(self) -> Tensor:
        return F.softplus(self.logits) - self.probs * self.logits

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = F.arange(2, dtype=self.probs.dtype).reshape((2,) + (1,) * len(self.batch_shape))
        return F.broadcast_to(values, (2, *self.batch_shape)) if expand else values
