"""`Normal(loc, scale)`: the Gaussian, with the reparameterized sampler VAEs train through."""

from __future__ import annotations

import math
from typing import Any

from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import broadcast_all, log_sqrt_2pi
from ember.frontend.tensor import Tensor
from ember.nn import functional as F
from ember.nn.functional._core import as_tensor

__all__ = ["Normal"]


class Normal(Distribution):
    """Normal distribution with mean `loc` and standard deviation `scale` (broadcast).

    >>> q = Normal(mu, F.softplus(s))
    >>> z = q.rsample()                                   # mu + eps * scale, eps ~ N(0, 1)
    >>> kl = kl_divergence(q, Normal(0.0, 1.0)).sum()
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None):
        loc_t, scale_t = broadcast_all(loc, scale)
        super().__init__(loc_t.shape, validate_args=validate_args)
        self.loc, self.scale = loc_t, scale_t
        self._validate_params({"loc": loc, "scale": scale})

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.square()

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        eps = F.randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value: Any) -> Tensor:
        value = self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -0.5 * z.square() - self.scale.log() - log_sqrt_2pi()

    def cdf(self, value: Any) -> Tensor:
        value = self._validate_sample(value)
        return 0.5 * (1 + F.erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value: Any) -> Tensor:
        return self.loc + self.scale * F.erfinv(2 * as_tensor(value) - 1) * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + log_sqrt_2pi() + self.scale.log()
