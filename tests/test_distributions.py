"""ember.distributions against torch.distributions: statistics, KL values, sample shapes
and moments, validation errors."""

from __future__ import annotations

import math

import distribution_helpers as H
import numpy as np
import pytest
import torch
import torch.distributions as TD
from distribution_helpers import (
    INF,
    N_DRAWS,
    assert_close,
    binary,
    both,
    f32,
    positive,
    spd,
    within,
)

import ember as em
import ember.distributions as D
import ember.nn.functional as F
from ember import nn

PROBS = np.array([[0.0, 0.2, 0.5], [0.9, 1.0, 0.35]], np.float32)
WEIGHTS = np.abs(f32(2, 5)) + 0.1  # unnormalized: Categorical normalizes them
LOW = (f32(3) - 2).astype(np.float32)
HIGH = (LOW + positive(3) + 0.5).astype(np.float32)
MASKED = np.array([[0.0, -INF, 1.0], [2.0, 0.5, -INF]], np.float32)
MVN_LOC, MVN_S = f32(2, 1, 3), spd(4, 3, 3)
MVN_VALUE = f32(5, 2, 4, 3)


def _one_hot(indices: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[indices]


# (id, distribution from (lib, tensor), value for log_prob, rtol)
STAT_CASES = [
    ("normal_numbers", lambda d, t: d.Normal(0.5, 2.0), f32(4), 1e-5),
    ("normal_broadcast", lambda d, t: d.Normal(t(f32(3, 1)), t(positive(4))), f32(2, 3, 4), 1e-5),
    ("normal_value_broadcasts", lambda d, t: d.Normal(t(f32(3, 4)), 0.7), f32(4), 1e-5),
    ("bernoulli_probs", lambda d, t: d.Bernoulli(probs=t(PROBS)), binary(2, 3), 1e-5),
    ("bernoulli_logits", lambda d, t: d.Bernoulli(logits=t(3 * f32(3))), binary(5, 3), 1e-5),
    (
        "categorical_probs",
        lambda d, t: d.Categorical(probs=t(WEIGHTS)),
        H.R.integers(0, 5, (7, 2)),
        1e-5,
    ),
    ("categorical_logits", lambda d, t: d.Categorical(logits=t(2 * f32(3, 4))), np.arange(3), 1e-5),
    ("categorical_masked", lambda d, t: d.Categorical(logits=t(MASKED)), np.array([[0, 1]]), 1e-5),
    (
        "one_hot_categorical",
        lambda d, t: d.OneHotCategorical(logits=t(f32(2, 3))),
        _one_hot(H.R.integers(0, 3, (4, 2)), 3),
        1e-5,
    ),
    (
        "uniform_outside_support",
        lambda d, t: d.Uniform(t(LOW), t(HIGH), validate_args=False),
        np.stack([LOW + 0.3 * (HIGH - LOW), LOW - 0.1, HIGH, LOW]).astype(np.float32),
        1e-5,
    ),
    (
        "independent",
        lambda d, t: d.Independent(d.Normal(t(f32(2, 3, 4)), t(positive(2, 3, 4))), 2),
        f32(5, 2, 3, 4),
        1e-5,
    ),
    (
        "mvn_scale_tril",
        lambda d, t: d.MultivariateNormal(t(MVN_LOC), scale_tril=t(np.linalg.cholesky(MVN_S))),
        MVN_VALUE,
        1e-4,
    ),
    (
        "mvn_covariance",
        lambda d, t: d.MultivariateNormal(t(MVN_LOC), covariance_matrix=t(MVN_S)),
        MVN_VALUE,
        1e-4,
    ),
    (
        "mvn_precision",
        lambda d, t: d.MultivariateNormal(t(MVN_LOC[0, 0]), precision_matrix=t(MVN_S)),
        MVN_VALUE[0],
        1e-4,
    ),
]
STATS = ["mean", "variance", "stddev", "mode"]
EXTRA_ATTRS = ["probs", "logits", "scale_tril", "covariance_matrix", "precision_matrix"]


@pytest.mark.parametrize(
    "make,value,rtol", [c[1:] for c in STAT_CASES], ids=[c[0] for c in STAT_CASES]
)
def test_statistics_match_torch(make, value, rtol):
    mine, theirs = both(make)
    assert mine.batch_shape == tuple(theirs.batch_shape)
    assert mine.event_shape == tuple(theirs.event_shape)
    assert mine.has_rsample == theirs.has_rsample
    names = STATS + [a for a in EXTRA_ATTRS if hasattr(theirs, a)]
    # all of ember's results are recorded before the first is read: one lazy program
    got = {name: getattr(mine, name) for name in names}
    got["entropy"], got["log_prob"] = mine.entropy(), mine.log_prob(em.tensor(value))
    want = {name: getattr(theirs, name) for name in names}
    want["entropy"], want["log_prob"] = theirs.entropy(), theirs.log_prob(torch.tensor(value))
    for name, value in want.items():
        assert_close(got[name], value, rtol, 1e-5, name)


def test_cdf_icdf_and_enumerate_support_match_torch():
    loc, scale, x, p = f32(3), positive(3), f32(4, 3), H.R.random((4, 3)).astype(np.float32)
    pairs = [
        (
            D.Normal(em.tensor(loc), em.tensor(scale)),
            TD.Normal(torch.tensor(loc), torch.tensor(scale)),
        ),
        (
            D.Uniform(em.tensor(LOW), em.tensor(HIGH)),
            TD.Uniform(torch.tensor(LOW), torch.tensor(HIGH)),
        ),
    ]
    for mine, theirs in pairs:
        inside = np.clip(x, LOW, HIGH - 1e-3) if isinstance(mine, D.Uniform) else x
        assert_close(mine.cdf(em.tensor(inside)), theirs.cdf(torch.tensor(inside)), 1e-5, 1e-6)
        assert_close(mine.icdf(em.tensor(p)), theirs.icdf(torch.tensor(p)), 1e-5, 1e-5)
    for make in (
        lambda d, t: d.Bernoulli(probs=t(PROBS)),
        lambda d, t: d.Categorical(logits=t(f32(2, 4))),
        lambda d, t: d.OneHotCategorical(logits=t(f32(2, 4))),
    ):
        mine, theirs = both(make)
        for expand in (True, False):
            assert_close(mine.enumerate_support(expand), theirs.enumerate_support(expand))


def test_expand_matches_torch():
    mine = D.Normal(em.tensor(f32(3)), 2.0).expand((4, 3))
    theirs = TD.Normal(torch.tensor(mine.loc.numpy()[0]), 2.0).expand((4, 3))
    x = f32(4, 3)
    assert mine.batch_shape == (4, 3) and mine.sample((2,)).shape == (2, 4, 3)
    assert_close(mine.log_prob(em.tensor(x)), theirs.log_prob(torch.tensor(x)))
    logits = f32(3)
    cat = D.Categorical(logits=em.tensor(logits)).expand((2,))
    assert cat.batch_shape == (2,) and cat.logits.shape == (2, 3) and cat.sample().shape == (2,)
    ind = D.Independent(D.Normal(em.zeros(3), 1.0), 1).expand((5,))
    assert (ind.batch_shape, ind.event_shape, ind.sample().shape) == ((5,), (3,), (5, 3))
    mvn = D.MultivariateNormal(em.zeros(2), covariance_matrix=em.eye(2)).expand((3,))
    assert mvn.batch_shape == (3,) and mvn.rsample((4,)).shape == (4, 3, 2)
    with pytest.raises(ValueError, match=r"batch_shape \(3,\) cannot be expanded to \(4, 2\)"):
        D.Normal(em.zeros(3), 1.0).expand((4, 2))


# -- KL divergence -------------------------------------------------------------------------------

P_BERN = np.array([0.0, 1.0, 0.3, 0.3, 0.5, 0.2], np.float32)
Q_BERN = np.array([0.2, 0.7, 0.0, 1.0, 0.5, 0.9], np.float32)
P_CAT = np.array([[0.2, 0.0, 0.8], [0.5, 0.5, 0.0]], np.float32)
Q_CAT = np.array([[0.3, 0.3, 0.4], [0.5, 0.0, 0.5]], np.float32)
Q_LOW = np.array([LOW[0] - 1, LOW[1] + 0.1, LOW[2] - 0.5], np.float32)
Q_HIGH = np.array([HIGH[0] + 1, HIGH[1], HIGH[2] - 0.2], np.float32)

KL_CASES = [
    (
        "normal_broadcast",
        lambda d, t: (
            d.Normal(t(f32(3, 1)), t(positive(4))),
            d.Normal(t(f32(4)), t(positive(3, 1))),
        ),
    ),
    (
        "normal_to_prior",
        lambda d, t: (d.Normal(t(f32(5, 4)), t(positive(5, 4))), d.Normal(0.0, 1.0)),
    ),
    ("bernoulli_edges", lambda d, t: (d.Bernoulli(probs=t(P_BERN)), d.Bernoulli(probs=t(Q_BERN)))),
    (
        "bernoulli_logits",
        lambda d, t: (d.Bernoulli(logits=t(f32(4))), d.Bernoulli(logits=t(f32(4)))),
    ),
    (
        "categorical_zeros",
        lambda d, t: (d.Categorical(probs=t(P_CAT)), d.Categorical(probs=t(Q_CAT))),
    ),
    (
        "categorical_logits",
        lambda d, t: (d.Categorical(logits=t(f32(2, 5))), d.Categorical(logits=t(f32(3, 1, 5)))),
    ),
    (
        "one_hot",
        lambda d, t: (
            d.OneHotCategorical(logits=t(f32(2, 3))),
            d.OneHotCategorical(probs=t(Q_CAT)),
        ),
    ),
    ("uniform", lambda d, t: (d.Uniform(t(LOW), t(HIGH)), d.Uniform(t(Q_LOW), t(Q_HIGH)))),
    (
        "independent",
        lambda d, t: (
            d.Independent(d.Normal(t(f32(2, 3)), t(positive(2, 3))), 1),
            d.Independent(d.Normal(t(f32(3)), t(positive(3))), 1),
        ),
    ),
    (
        "mvn",
        lambda d, t: (
            d.MultivariateNormal(t(MVN_LOC), covariance_matrix=t(MVN_S)),
            d.MultivariateNormal(t(f32(3)), scale_tril=t(np.linalg.cholesky(spd(3, 3)))),
        ),
    ),
]


@pytest.mark.parametrize("make", [c[1] for c in KL_CASES], ids=[c[0] for c in KL_CASES])
def test_kl_divergence_matches_torch(make):
    (p, q), (tp, tq) = both(make)
    assert_close(D.kl_divergence(p, q), TD.kl_divergence(tp, tq), rtol=1e-4, atol=1e-5)


def test_register_kl_dispatches_on_the_most_specific_pair():
    class Wide(D.Normal):
        pass

    p, q = Wide(em.tensor([0.5]), 2.0), D.Normal(0.0, 1.0)
    want = TD.kl_divergence(TD.Normal(torch.tensor([0.5]), 2.0), TD.Normal(0.0, 1.0))
    assert_close(D.kl_divergence(p, q), want)  # inherited: Normal-Normal

    @D.register_kl(Wide, D.Normal)
    def _kl_wide_normal(p, q):
        return p.loc * 0 + 42.0

    assert D.kl_divergence(p, q).item() == 42.0
    assert_close(
        D.kl_divergence(q, p),
        want * 0 + TD.kl_divergence(TD.Normal(0.0, 1.0), TD.Normal(torch.tensor([0.5]), 2.0)),
    )
    with pytest.raises(
        NotImplementedError, match=r"no KL divergence registered for \(Normal, Bernoulli\)"
    ):
        D.kl_divergence(q, D.Bernoulli(probs=0.5))
    with pytest.raises(TypeError, match="Distribution subclasses"):
        D.register_kl(int, D.Normal)


# -- sampling ------------------------------------------------------------------------------------

SAMPLE_CASES = [
    ("normal", lambda d, t: d.Normal(t(f32(2, 3)), 1.0)),
    ("bernoulli", lambda d, t: d.Bernoulli(logits=t(f32(3)))),
    ("categorical", lambda d, t: d.Categorical(logits=t(f32(2, 3, 4)))),
    ("one_hot", lambda d, t: d.OneHotCategorical(logits=t(f32(2, 4)))),
    ("one_hot_straight_through", lambda d, t: d.OneHotCategoricalStraightThrough(logits=t(f32(4)))),
    ("uniform", lambda d, t: d.Uniform(0.0, t(positive(3)))),
    ("independent", lambda d, t: d.Independent(d.Normal(t(f32(2, 3)), 1.0), 1)),
    ("mvn", lambda d, t: d.MultivariateNormal(t(f32(2, 3)), covariance_matrix=t(spd(3, 3)))),
]


@pytest.mark.parametrize("make", [c[1] for c in SAMPLE_CASES], ids=[c[0] for c in SAMPLE_CASES])
def test_sample_shapes_match_torch(make):
    mine, theirs = both(make)
    assert mine.has_rsample == theirs.has_rsample
    draws = []
    for shape in [(), (5,), (2, 3)]:
        got = mine.sample(shape)
        assert got.shape == tuple(theirs.sample(shape).shape), shape
        draws.append(got)
        if mine.has_rsample:
            assert mine.rsample(shape).shape == tuple(theirs.rsample(shape).shape)
    want_int = not torch.is_floating_point(theirs.sample())
    assert (draws[0].dtype in ("int32", "int64")) == want_int


def test_sample_is_detached_and_rsample_carries_gradients():
    loc = em.tensor([0.0, 1.0]).requires_grad_()
    d = D.Normal(loc, 1.0)
    assert not d.sample().requires_grad and d.rsample().requires_grad
    d.rsample((3,)).sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [3.0, 3.0])
    with pytest.raises(NotImplementedError, match="REINFORCE"):
        D.Categorical(logits=em.zeros(3)).rsample()


def test_sample_moments_agree_with_the_distribution():
    em.manual_seed(0)
    loc, scale = np.array([-1.0, 2.0], np.float32), np.array([0.5, 3.0], np.float32)
    z = D.Normal(em.tensor(loc), em.tensor(scale)).sample((N_DRAWS,)).numpy()
    within(z.mean(0), loc, scale)
    within(z.var(0), scale**2, scale**2 * math.sqrt(2))  # var of a sample variance: 2σ⁴/n

    p = np.array([[0.1, 0.7], [0.5, 0.95]], np.float32)
    b = D.Bernoulli(probs=em.tensor(p)).sample((N_DRAWS,)).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0}
    within(b.mean(0), p, np.sqrt(p * (1 - p)))

    # rows differ, so a sample assigned to the wrong batch element is caught
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.2, 0.1]], np.float32)
    c = D.Categorical(probs=em.tensor(probs)).sample((N_DRAWS,)).numpy()
    assert c.shape == (N_DRAWS, 2)
    freq = np.stack([(c == k).mean(0) for k in range(4)], -1)
    within(freq, probs, np.sqrt(probs * (1 - probs)))

    low, high = np.array([0.0, 5.0], np.float32), np.array([1.0, 10.0], np.float32)
    u = D.Uniform(em.tensor(low), em.tensor(high)).rsample((N_DRAWS,)).numpy()
    assert (u >= low).all() and (u < high).all()
    within(u.mean(0), (low + high) / 2, (high - low) / math.sqrt(12))

    cov = np.array([[2.0, 0.8], [0.8, 1.0]], np.float32)
    m = D.MultivariateNormal(em.tensor([1.0, -1.0]), covariance_matrix=em.tensor(cov))
    x = m.sample((N_DRAWS,)).numpy()
    within(x.mean(0), [1.0, -1.0], np.sqrt(np.diag(cov)))
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06)  # about 5 standard errors


class _Sampler(nn.Module):
    """Samples inside a traced forward: the randomness comes from the program's key."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        logits = self.head(x)
        actions = D.Categorical(logits=logits).sample((N_DRAWS // 4,))
        noise = D.Normal(logits, 0.5).rsample()
        return actions, logits, noise - logits


def test_sampling_inside_a_compiled_forward_follows_the_distribution():
    em.manual_seed(1)
    net = _Sampler()
    actions, logits, noise = net(np.ones((2, 2), np.float32))
    probs = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True)
    freq = np.stack([(actions.numpy() == k).mean(0) for k in range(3)], -1)
    within(freq, probs, np.sqrt(probs * (1 - probs)), n=N_DRAWS // 4)
    again, _, noise2 = net(np.ones((2, 2), np.float32))
    assert not np.array_equal(again.numpy(), actions.numpy()), "fresh draws every call"
    assert not np.array_equal(noise.numpy(), noise2.numpy())


# -- validation ----------------------------------------------------------------------------------


def test_invalid_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"Normal: parameter scale .* GreaterThan.*softplus"):
        D.Normal(em.zeros(2), em.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"Bernoulli: parameter probs .*Interval\(0.0, 1.0\)"):
        D.Bernoulli(probs=np.array([0.5, 1.5], np.float32))
    with pytest.raises(ValueError, match=r"exactly one of probs= or logits=, got both"):
        D.Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match=r"exactly one of probs= or logits=, got neither"):
        D.Categorical()
    with pytest.raises(ValueError, match=r"Categorical: parameter probs .*Simplex"):
        D.Categorical(probs=em.tensor([0.5, -0.1, 0.6]))
    with pytest.raises(ValueError, match="low must be less than high"):
        D.Uniform(em.tensor([0.0, 2.0]), em.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"shapes \(3,\), \(4,\) do not broadcast"):
        D.Normal(em.zeros(3), em.ones(4))
    with pytest.raises(ValueError, match="at least one dimension"):
        D.Categorical(logits=0.0)
    with pytest.raises(ValueError, match=r"reinterpreted_batch_ndims=2 .*batch_shape \(3,\)"):
        D.Independent(D.Normal(em.zeros(3), 1.0), 2)
    with pytest.raises(ValueError, match=r"exactly one of covariance_matrix.*got none"):
        D.MultivariateNormal(em.zeros(2))
    with pytest.raises(ValueError, match=r"loc of shape \(2,\) needs a scale_tril of shape"):
        D.MultivariateNormal(em.zeros(2), scale_tril=em.eye(3))
    with pytest.raises(ValueError, match="MultivariateNormal: parameter covariance_matrix"):
        D.MultivariateNormal(em.zeros(2), covariance_matrix=em.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"logits of shape \(\) have no category dimension"):
        F.gumbel_softmax(em.tensor(1.0))
    D.Normal(em.zeros(2), em.tensor([1.0, -1.0]), validate_args=False)  # opted out


class _BadScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return D.Normal(self.fc(x), -1.0).rsample()


def test_constant_arguments_are_validated_while_tracing():
    """A number is known at trace time; traced tensors are not checked (no host sync)."""
    with pytest.raises(ValueError, match="Normal: parameter scale"):
        _BadScale()(np.ones((1, 2), np.float32))


def test_values_outside_the_support_or_shape_raise():
    with pytest.raises(ValueError, match=r"within the support Boolean"):
        D.Bernoulli(probs=0.3).log_prob(em.tensor([0.5]))
    with pytest.raises(ValueError, match=r"support IntegerInterval\(0, 2\)"):
        D.Categorical(logits=em.zeros(3)).log_prob(em.tensor([3]))
    with pytest.raises(ValueError, match=r"shape \(3,\) must end with the event shape \(4,\)"):
        D.MultivariateNormal(em.zeros(4), scale_tril=em.eye(4)).log_prob(em.zeros(3))
    with pytest.raises(ValueError, match=r"\(2,\) does not broadcast with batch_shape"):
        D.Normal(em.zeros(3), 1.0).log_prob(em.zeros(2))
    with pytest.raises(ValueError, match="within the support HalfOpenInterval"):
        D.Uniform(0.0, 1.0).log_prob(1.5)
    assert D.Bernoulli(probs=0.3, validate_args=False).log_prob(em.tensor([0.5])).shape == (1,)


def test_set_default_validate_args_turns_checks_off_and_on():
    try:
        D.Distribution.set_default_validate_args(False)
        assert math.isnan(D.Normal(0.0, -1.0).log_prob(0.0).item())
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="scale"):
        D.Normal(0.0, -1.0)


# -- gradients: VAE (rsample), REINFORCE and actor-critic (log_prob) -------------------------------
