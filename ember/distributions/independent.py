"""`Independent(base, n)`: treat the rightmost `n` batch dims of `base` as event dims."""

from __future__ import annotations

from typing import Any

from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import as_shape, sum_rightmost
from ember.errors import ShapeError
from ember.frontend.tensor import Tensor

__all__ = ["Independent"]


class Independent(Distribution):
    """A diagonal multivariate distribution from a batch of univariate ones.

    `log_prob` and `entropy` sum over the reinterpreted dims, so a diagonal Gaussian
    policy gives one log-probability per action vector:

    >>> pi = Independent(Normal(mu, std), 1)        # batch (B,), event (A,)
    >>> pi.log_prob(actions).shape
    (B,)
    """

    arg_constraints: dict = {}

    def __init__(
        self,
        base_distribution: Distribution,
        reinterpreted_batch_ndims: int,
        validate_args: bool | None = None,
    ):
        n = int(reinterpreted_batch_ndims)
        batch = base_distribution.batch_shape
        if not 0 <= n <= len(batch):
            raise ShapeError(
                f"Independent: reinterpreted_batch_ndims={n} must be between 0 and the base "
                f"distribution's batch dims ({len(batch)}: batch_shape {batch}); fix: a "
                "smaller number, or a base with more batch dims"
            )
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        split = len(batch) - n
        super().__init__(
            batch[:split], batch[split:] + base_distribution.event_shape, validate_args
        )

    def expand(self, batch_shape: Any, _instance: Distribution | None = None) -> Distribution:
        batch_shape = as_shape(batch_shape)
        moved = self.event_shape[: self.reinterpreted_batch_ndims]
        base = self.base_dist.expand(batch_shape + moved)
        return Independent(
            base, self.reinterpreted_batch_ndims, self.__dict__.get("_validate_flag")
        )

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        return self.reinterpreted_batch_ndims == 0 and self.base_dist.has_enumerate_support

    @property
    def support(self) -> constraints.Constraint | None:
        base = self.base_dist.support
        if base is None or self.reinterpreted_batch_ndims == 0:
            return base
        return constraints.independent(base, self.reinterpreted_batch_ndims)

    def _support_to_check(self) -> constraints.Constraint | None:
        return None  # the base distribution checks its own support in log_prob

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    @property
    def stddev(self) -> Tensor:
        return self.base_dist.stddev

    def sample(self, sample_shape: Any = ()) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: Any) -> Tensor:
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        if self.reinterpreted_batch_ndims > 0:
            raise NotImplementedError("Independent: enumeration over cartesian products")
        return self.base_dist.enumerate_support(expand=expand)

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
