"""Tensors taken from a model's state before a step keep their values after it.

Steps donate the state's arrays; a tensor that shares one (`p.detach().clone()`, `p.data`,
a buffer read, `opt.state[p]["exp_avg"]`, a tensor assigned with `p.data = t`) used to
fail at its next read with JAX's "Array has been deleted". Each case runs steps of both
runners (a compiled `train_step`, the literal `loss.backward(); opt.step()` loop) and
checks the snapshot against the value read before the steps; the EMA idiom is checked
against PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import mse_steps_side_by_side

import ember as em
from ember import nn, optim

X = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
Y = np.random.default_rng(1).standard_normal((8, 1)).astype(np.float32)


def _net():
    em.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))


def _compiled(net):
    opt = optim.Adam(net.parameters(), lr=0.1)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=opt)
    model.train_step(X, Y)  # the state now lives in arrays the next steps donate
    return lambda: model.train_step(X, Y), opt


def _literal_loop(net):
    opt = optim.Adam(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        nn.functional.mse_loss(net(em.tensor(X)), em.tensor(Y)).backward()
        opt.step()

    step()
    return step, opt


SNAPSHOTS = {
    "p.detach().clone()": lambda net, opt: net[0].weight.detach().clone(),
    "p.detach()": lambda net, opt: net[0].weight.detach(),
    "p.clone()": lambda net, opt: net[0].weight.clone(),
    "p.data": lambda net, opt: net[0].weight.data,
    "em.tensor(p)": lambda net, opt: em.tensor(net[0].weight),
    "bn.running_mean": lambda net, opt: net[1].running_mean,
    "bn.running_var.clone()": lambda net, opt: net[1].running_var.clone(),
    'opt.state[p]["exp_avg"]': lambda net, opt: opt.state[net[0].weight]["exp_avg"],
}


@pytest.mark.parametrize("runner", [_compiled, _literal_loop], ids=["train_step", "loop"])
@pytest.mark.parametrize("take", list(SNAPSHOTS.values()), ids=list(SNAPSHOTS))
def test_a_snapshot_keeps_its_value_through_later_steps(runner, take):
    net = _net()
    step, opt = runner(net)
    snapshot = take(net, opt)
    before = np.array(snapshot.numpy(), copy=True)
    for _ in range(3):
        step()
    np.testing.assert_array_equal(snapshot.numpy(), before)
    assert np.isfinite(net[0].weight.numpy()).all()


@pytest.mark.parametrize("runner", [_compiled, _literal_loop], ids=["train_step", "loop"])
def test_a_tensor_assigned_into_the_state_keeps_its_value(runner):
    net = _net()
    step, _ = runner(net)
    w = em.randn(3, 4)
    expected = np.array(w.numpy(), copy=True)
    with em.no_grad():
        net[0].weight.data = w
        net[0].weight.data.mul_(1.0)  # an in-place write through `.data`, pending at first
    for _ in range(2):
        step()
    np.testing.assert_array_equal(w.numpy(), expected)
    assert not np.array_equal(net[0].weight.numpy(), expected)  # the model trained on


def test_an_ema_of_the_weights_matches_torch_over_the_literal_loop():
    """The EMA idiom: shadow copies taken once, updated in place after every step."""
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    shadow = {n: p.detach().clone() for n, p in net.named_parameters()}
    ref_shadow = {n: p.detach().clone() for n, p in ref.named_parameters()}
    for k in range(4):
        x, y = np.roll(X, k, axis=0), np.roll(Y, k, axis=0)
        mse_steps_side_by_side(net, opt, ref, ref_opt, x, y)
        with em.no_grad(), torch.no_grad():
            for n, p in net.named_parameters():
                shadow[n].mul_(0.9).add_(p.detach(), alpha=0.1)
            for n, p in ref.named_parameters():
                ref_shadow[n].mul_(0.9).add_(p.detach(), alpha=0.1)
    for n, v in ref_shadow.items():
        np.testing.assert_allclose(shadow[n].numpy(), v.numpy(), rtol=1e-5, atol=1e-6)


def test_state_dict_entries_given_to_a_donating_jax_program_leave_the_module_intact():
    """`jnp.asarray(net.state_dict()[k])` into the user's own `jax.jit(..., donate_argnums)`
    (a hand-written JAX step started from ember's weights) must not delete the module's
    arrays, nor may ember's next step delete the user's."""
    import jax
    import jax.numpy as jnp

    net = _net()
    step, _ = _compiled(net)
    params = {k: jnp.asarray(v) for k, v in net.state_dict().items()}
    before = {k: np.array(v) for k, v in params.items()}
    halve = jax.jit(lambda p: jax.tree_util.tree_map(lambda a: a * 2, p), donate_argnums=0)
    doubled = halve(params)
    step()
    assert np.isfinite(net[0].weight.numpy()).all()
    for k, v in doubled.items():
        np.testing.assert_array_equal(np.asarray(v), before[k] * 2)
