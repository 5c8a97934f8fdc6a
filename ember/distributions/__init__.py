"""Probability distributions with PyTorch's `torch.distributions` names and semantics.

>>> import ember.distributions as D
>>> q = D.Normal(mu, F.softplus(s))             # inside forward, compiled or not
>>> z = q.rsample()                              # reparameterized: gradients reach mu, s
>>> kl = D.kl_divergence(q, D.Normal(0.0, 1.0)).sum()
>>> pi = D.Categorical(logits=policy(obs))
>>> loss = -(pi.log_prob(pi.sample()) * returns).mean()

Sampling draws from ember's random ops, so it follows the compiled step's RNG key in
a traced forward and the `em.manual_seed` stream outside one.
"""

from ember.distributions import constraints
from ember.distributions.bernoulli import Bernoulli
from ember.distributions.categorical import Categorical
from ember.distributions.distribution import Distribution
from ember.distributions.independent import Independent
from ember.distributions.kl import kl_divergence, register_kl
from ember.distributions.multivariate_normal import MultivariateNormal
from ember.distributions.normal import Normal
from ember.distributions.one_hot_categorical import (
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
)
from ember.distributions.uniform import Uniform

__all__ = [
    "Bernoulli",
    "Categorical",
    "Distribution",
    "Independent",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
