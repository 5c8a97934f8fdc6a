"""Gradients through ember.distributions against torch: rsample (VAE), log_prob
(REINFORCE, actor-critic), the Cholesky and solves of MultivariateNormal, and the
straight-through F.gumbel_softmax, compiled and on lazy tensors, with the same noise fed
to both libraries."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from unittest import mock

import distribution_helpers as H
import numpy as np
import pytest
import torch
import torch.distributions as TD
import torch.distributions.normal as torch_normal
import torch.nn.functional as TF
from distribution_helpers import (
    BATCH,
    X_DIM,
    Z_DIM,
    assert_close,
    f32,
    within,
)

import ember as em
import ember.distributions as D
import ember.nn.functional as F
from ember import nn, optim


def _encoder_decoder(lib):
    mod = nn if lib is em else torch.nn
    return mod.Linear(X_DIM, 2 * Z_DIM), mod.Linear(Z_DIM, X_DIM)


def _copy_weights(src_modules, dst_modules):
    for src, dst in zip(src_modules, dst_modules, strict=True):
        dst.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in src.state_dict().items()})


def _vae_loss(lib, d, func, enc, dec, x):
    mu, s = enc(x).chunk(2, -1)
    q = d.Normal(mu, func.softplus(s))
    z = q.rsample()
    recon = ((dec(z) - x) ** 2).sum()
    kl = d.kl_divergence(q, d.Normal(0.0, 1.0)).sum()
    return recon + kl, z, mu, q.scale


def test_vae_rsample_gradients_match_torch_with_the_same_noise():
    """Lazy tensors: the noise behind ember's rsample, (z - loc) / scale, is fed to torch's
    own Normal.rsample, so the loss and every parameter gradient must agree (a sample that
    does not carry gradients to loc and scale fails)."""
    em.manual_seed(0)
    enc, dec = _encoder_decoder(em)
    tenc, tdec = _encoder_decoder(torch)
    _copy_weights([enc, dec], [tenc, tdec])
    x = f32(BATCH, X_DIM)

    loss, z, mu, scale = _vae_loss(em, D, F, enc, dec, em.tensor(x))
    loss.backward()
    eps = ((z.numpy() - mu.numpy()) / scale.numpy()).astype(np.float32)
    assert 0.3 < eps.std() < 3 and z.requires_grad

    with mock.patch.object(torch_normal, "_standard_normal", lambda *a, **k: torch.from_numpy(eps)):
        tloss, *_ = _vae_loss(torch, TD, TF, tenc, tdec, torch.from_numpy(x))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    for mine, theirs in ((enc, tenc), (dec, tdec)):
        for (name, p), tp in zip(mine.named_parameters(), theirs.parameters(), strict=True):
            np.testing.assert_allclose(
                p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
            )


def _mvn_objective(lib, d, loc, factor, x):
    cov = factor @ factor.mT + lib.eye(3)
    p = d.MultivariateNormal(loc, covariance_matrix=cov)
    q = d.MultivariateNormal(loc * 0.5, scale_tril=lib.tril(factor) + 2 * lib.eye(3))
    return p.log_prob(x).sum() + p.entropy().sum() + d.kl_divergence(p, q).sum()


def test_mvn_gradients_through_cholesky_and_solves_match_torch():
    loc, factor, x = f32(2, 3), f32(3, 3), f32(4, 2, 3)
    mine = [em.tensor(a).requires_grad_() for a in (loc, factor)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (loc, factor)]
    _mvn_objective(em, D, *mine, em.tensor(x)).backward()
    _mvn_objective(torch, TD, *theirs, torch.tensor(x)).backward()
    for m, t in zip(mine, theirs, strict=True):
        assert_close(m.grad, t.grad, rtol=1e-4, atol=1e-4)


class _VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = _encoder_decoder(em)
        self.prior = D.Normal(em.zeros(Z_DIM), em.ones(Z_DIM))  # made outside any trace

    def training_step(self, x):
        mu, s = self.enc(x).chunk(2, -1)
        q = D.Normal(mu, F.softplus(s))
        recon = ((self.dec(q.rsample()) - x) ** 2).sum(-1).mean()
        kl = D.kl_divergence(q, self.prior).sum(-1).mean()
        return {"loss": recon + kl, "kl": kl}


def test_vae_with_rsample_trains_compiled():
    em.manual_seed(0)
    vae = _VAE()
    model = em.compile(vae, optimizer=optim.Adam(vae.parameters(), lr=2e-2))
    basis = f32(2, X_DIM)
    x = (H.R.standard_normal((64, 2)) @ basis).astype(np.float32)  # rank-2 data: compressible
    logs = [model.train_step(x) for _ in range(60)]
    losses = [float(lg["loss"]) for lg in logs]
    assert np.isfinite(losses).all() and all(float(lg["kl"]) >= 0 for lg in logs)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


N_ACTIONS = 3


def _policy(lib):
    mod = nn if lib is em else torch.nn
    return mod.Sequential(mod.Linear(4, 16), mod.Tanh(), mod.Linear(16, N_ACTIONS))


def _reinforce_loss(d, net, obs, actions, returns):
    dist = d.Categorical(logits=net(obs))
    return -(dist.log_prob(actions) * returns).mean() - 0.01 * dist.entropy().mean()


def test_reinforce_gradients_match_torch():
    em.manual_seed(0)
    net, tnet = _policy(em), _policy(torch)
    _copy_weights([net], [tnet])
    obs, returns, actions = f32(10, 4), f32(10), H.R.integers(0, N_ACTIONS, 10)

    _reinforce_loss(D, net, em.tensor(obs), em.tensor(actions), em.tensor(returns)).backward()
    t_actions = torch.from_numpy(actions.astype(np.int64))
    _reinforce_loss(
        TD, tnet, torch.from_numpy(obs), t_actions, torch.from_numpy(returns)
    ).backward()
    for (name, p), tp in zip(net.named_parameters(), tnet.parameters(), strict=True):
        np.testing.assert_allclose(
            p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name
        )


def _actor_critic(lib):
    mod = nn if lib is em else torch.nn

    class ActorCritic(mod.Module):
        """A PPO-style continuous policy: Gaussian actions with a learned log-std."""

        def __init__(self):
            super().__init__()
            self.body = mod.Linear(4, 8)
            self.mu = mod.Linear(8, 2)
            self.value = mod.Linear(8, 1)
            self.log_std = mod.Parameter(lib.full((2,), -0.3))

        def loss(self, d, obs, actions, advantages, returns):
            h = lib.tanh(self.body(obs))
            pi = d.Independent(d.Normal(self.mu(h), self.log_std.exp()), 1)
            actor = -(pi.log_prob(actions) * advantages).mean() - 0.01 * pi.entropy().mean()
            critic = 0.5 * ((self.value(h).squeeze(-1) - returns) ** 2).mean()
            return actor + critic

        def training_step(self, batch):
            return {"loss": self.loss(D, *batch)}

    return ActorCritic()


def test_actor_critic_compiled_step_matches_torch():
    em.manual_seed(0)
    net, tnet = _actor_critic(em), _actor_critic(torch)
    _copy_weights([net], [tnet])
    batch = (f32(16, 4), f32(16, 2), f32(16), f32(16))
    model = em.compile(net, optimizer=optim.SGD(net.parameters(), lr=0.1))
    model.train_step(batch)

    topt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    tnet.loss(TD, *(torch.from_numpy(b) for b in batch)).backward()
    topt.step()
    mine = net.state_dict()
    for name, value in tnet.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(mine[name]), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name
        )


# -- gumbel_softmax ------------------------------------------------------------------------------


P3 = np.array([0.1, 0.6, 0.3], np.float32)


@pytest.mark.parametrize(
    "hard,dim,tau,shape", [(False, -1, 1.0, (4, 5)), (True, 0, 0.5, (3, 4000))]
)
def test_gumbel_softmax_matches_torch_given_the_same_noise(hard, dim, tau, shape):
    """The exponential draws behind ember's Gumbel noise are replayed from the seed and
    fed to torch's own F.gumbel_softmax (through `exponential_`). The hard case draws 4000
    one-hot samples of one categorical (columns): their frequencies must follow it."""
    logits = np.tile(np.log(P3)[:, None], (1, shape[1])) if hard else f32(*shape)
    weights = f32(*shape)
    em.manual_seed(3)
    uniform = em.rand(*shape)
    em.manual_seed(3)
    x = em.tensor(logits).requires_grad_()
    y = F.gumbel_softmax(x, tau=tau, hard=hard, dim=dim)
    (y * em.tensor(weights)).sum().backward()
    exponential = -np.log1p(-uniform.numpy())

    tx = torch.tensor(logits, requires_grad=True)
    fill = lambda self, *a, **k: self.copy_(torch.from_numpy(exponential))  # noqa: E731
    with mock.patch.object(torch.Tensor, "exponential_", fill):
        ty = TF.gumbel_softmax(tx, tau=tau, hard=hard, dim=dim)
    (ty * torch.from_numpy(weights)).sum().backward()

    assert_close(y, ty, rtol=1e-5, atol=1e-6)
    assert_close(x.grad, tx.grad, rtol=1e-4, atol=1e-6)
    if hard:
        values = y.numpy()
        assert set(np.unique(values)) == {0.0, 1.0} and (values.sum(dim) == 1).all()
        assert np.abs(x.grad.numpy()).max() > 1e-3, "the soft sample's gradient passes through"
        within(values.mean(1), P3, np.sqrt(P3 * (1 - P3)), n=shape[1])


# -- layering ------------------------------------------------------------------------------------


def test_distributions_import_and_trace_without_jax():
    ember_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ember")
    code = textwrap.dedent(
        f"""
        import sys, types

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "jax" or name.startswith(("jax.", "jaxlib", "optax", "ember.runtime",
                                                     "ember.compiler", "ember.training")):
                    raise ImportError(name + " is blocked")

        sys.meta_path.insert(0, Block())
        pkg = types.ModuleType("ember")
        pkg.__path__ = [{ember_dir!r}]
        sys.modules["ember"] = pkg
        import ember.graphdef as g
        import ember.distributions as D
        from ember import nn
        from ember.frontend.trace import trace

        class Policy(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def forward(self, x):
                pi = D.Categorical(logits=self.fc(x))
                q = D.Normal(self.fc(x), 1.0)
                return pi.log_prob(pi.sample()) + D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(-1)

        graph = trace(Policy(), g.TensorSpec((2, 4)))
        assert "multinomial" in str(graph)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
