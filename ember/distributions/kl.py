"""`kl_divergence(p, q)` and the `register_kl` table it dispatches on.

>>> kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).sum()     # a VAE's KL term
>>> @register_kl(MyDist, Normal)
... def kl_mydist_normal(p, q): ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ember.distributions.bernoulli import Bernoulli
from ember.distributions.categorical import Categorical
from ember.distributions.distribution import Distribution
from ember.distributions.independent import Independent
from ember.distributions.linalg import solve_lower
from ember.distributions.multivariate_normal import MultivariateNormal
from ember.distributions.normal import Normal
from ember.distributions.one_hot_categorical import OneHotCategorical
from ember.distributions.uniform import Uniform
from ember.distributions.utils import sum_rightmost
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn import functional as F

__all__ = ["kl_divergence", "register_kl"]

KLFunction = Callable[[Distribution, Distribution], Tensor]
_KL_TABLE: dict[tuple[type, type], KLFunction] = {}
_KL_CACHE: dict[tuple[type, type], KLFunction | None] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[KLFunction], KLFunction]:
    """Decorator: register `fn(p, q)` as KL(p || q) for these distribution classes.

    The most specific registration (by class hierarchy) is used for subclasses.

    >>> @register_kl(Normal, Laplace)
    ... def kl_normal_laplace(p, q): ...
    """
    for t in (type_p, type_q):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"register_kl expects Distribution subclasses, got {t!r}")

    def decorator(fn: KLFunction) -> KLFunction:
        _KL_TABLE[type_p, type_q] = fn
        _KL_CACHE.clear()
        return fn

    return decorator


def _lookup(type_p: type, type_q: type) -> KLFunction | None:
    key = (type_p, type_q)
    if key not in _KL_CACHE:
        mro_p, mro_q = type_p.__mro__, type_q.__mro__
        matches = [
            (mro_p.index(p) + mro_q.index(q), mro_p.index(p), fn)
            for (p, q), fn in _KL_TABLE.items()
            if issubclass(type_p, p) and issubclass(type_q, q)
        ]
        _KL_CACHE[key] = min(matches, key=lambda m: m[:2])[2] if matches else None
    return _KL_CACHE[key]


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q), one value per batch element (`batch_shape`), in closed form.

    >>> q = Normal(mu, std)
    >>> kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean()
    """
    fn = _lookup(type(p), type(q))
    if fn is None:
        registered = ", ".join(f"({a.__name__}, {b.__name__})" for a, b in _KL_TABLE)
        raise NotImplementedError(
            f"no KL divergence registered for ({type(p).__name__}, {type(q).__name__}); "
            f"registered pairs: {registered}; fix: @register_kl({type(p).__name__}, "
            f"{type(q).__name__}) on a function(p, q), or estimate it from samples "
            "(p.log_prob(z) - q.log_prob(z) with z = p.rsample())"
        )
    return fn(p, q)


def _inf_where(cond: Tensor, value: Tensor) -> Tensor:
    return F.where(cond, math.inf, value)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale).square()
    t1 = ((p.loc - q.loc) / q.scale).square()
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    # written with softplus of logits so near-certain coins stay finite; exact 0/1
    # probabilities take the limits (0 log 0 = 0, log 0 = -inf)
    t1 = p.probs * (F.softplus(-q.logits) - F.softplus(-p.logits))
    t1 = F.where(p.probs == 0, 0.0, _inf_where(q.probs == 0, t1))
    t2 = (1 - p.probs) * (F.softplus(q.logits) - F.softplus(p.logits))
    t2 = F.where(p.probs == 1, 0.0, _inf_where(q.probs == 1, t2))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    t = F.where(p.probs == 0, 0.0, _inf_where(q.probs == 0, t))
    return t.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError(
            "kl_divergence(Independent, Independent) needs the same reinterpreted_batch_ndims, "
            f"got {p.reinterpreted_batch_ndims} and {q.reinterpreted_batch_ndims}"
        )
    kl = kl_divergence(p.base_dist, q.base_dist)
    return sum_rightmost(kl, p.reinterpreted_batch_ndims)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"kl_divergence(MultivariateNormal, MultivariateNormal): event shapes {p.event_shape} "
            f"and {q.event_shape} differ; fix: distributions over vectors of one size"
        )
    lp, lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    # tr(Σq⁻¹ Σp) = ||Lq⁻¹ Lp||²_F: solve one column of Lp at a time (rows of Lpᵀ)
    trace = solve_lower(lq.unsqueeze(-3), lp.mT).square().sum((-2, -1))
    mahalanobis = solve_lower(lq, q.loc - p.loc).square().sum(-1)
    half_log_det_ratio = q._half_log_det() - p._half_log_det()
    kl = half_log_det_ratio + 0.5 * (trace + mahalanobis - p.event_shape[0])
    return F.broadcast_to(kl, broadcast_shapes(p.batch_shape, q.batch_shape))
