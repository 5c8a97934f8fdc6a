"""`Uniform(low, high)`: constant density on [low, high)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import broadcast_all, concrete_array
from ember.frontend.tensor import Tensor
from ember.nn import functional as F
from ember.nn.functional._core import as_tensor

__all__ = ["Uniform"]


class Uniform(Distribution):
    """Uniform on the half-open interval [low, high) (broadcast), reparameterized.

    >>> Uniform(0.0, em.tensor([1.0, 2.0])).sample((4,)).shape
    (4, 2)
    """

    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low: Any, high: Any, validate_args: bool | None = None):
        low_t, high_t = broadcast_all(low, high)
        super().__init__(low_t.shape, validate_args=validate_args)
        self.low, self.high = low_t, high_t
        lo, hi = concrete_array(low), concrete_array(high)
        # host bounds let log_prob check host values against the support without a sync
        self._host_bounds = None if lo is None or hi is None else (lo, hi)
        if self._validate_args and self._host_bounds is not None and not np.all(lo < hi):
            raise ValueError(
                f"Uniform: low must be less than high everywhere, got low {lo.tolist()} and "
                f"high {hi.tolist()}; fix: swap or separate the bounds, or "
                "validate_args=False to skip this check"
            )

    @property
    def support(self) -> constraints.Constraint:
        return constraints.half_open_interval(self.low, self.high)

    def _support_to_check(self) -> constraints.Constraint | None:
        bounds = self._host_bounds
        return None if bounds is None else constraints.half_open_interval(*bounds)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return self.high * math.nan  # every point in [low, high) is a mode

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / math.sqrt(12)

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low).square() / 12

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        u = F.rand(*self._extended_shape(sample_shape), dtype=self.low.dtype)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value: Any) -> Tensor:
        value = self._validate_sample(value)
        inside = ((self.low <= value) & (value < self.high)).to(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value: Any) -> Tensor:
        value = self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value: Any) -> Tensor:
        return as_tensor(value) * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()
