"""Rprop and ASGD end to end: a compiled train step against torch.optim, ASGD's average
(`state[p]["ax"]`, which the parameters never read), and torch's argument checks.
Trajectory parity over 100 steps is in test_optim_parity.py, the state layout in
test_optimizer_state.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import mlp_pair, regression_batches

import ember as em
from ember import nn, optim


def _nets():
    return mlp_pair()


def _batches(n: int):
    return regression_batches(n, seed=3)


def _train_both(name: str, kwargs: dict, steps: int):
    net, ref = _nets()
    opt = getattr(optim, name)(net.parameters(), **kwargs)
    ref_opt = getattr(torch.optim, name)(ref.parameters(), **kwargs)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=opt)
    for x, y in _batches(steps):
        model.train_step(x, y)
        ref_opt.zero_grad()
        torch.nn.MSELoss()(ref(torch.tensor(x)), torch.tensor(y)).backward()
        ref_opt.step()
    return net, ref, opt, ref_opt


def _assert_params_close(net, ref, rtol=2e-5, atol=1e-6):
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[k]), v.numpy(), rtol=rtol, atol=atol, err_msg=k
        )


def test_compiled_rprop_matches_torch():
    kwargs = {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.1)}
    net, ref, opt, ref_opt = _train_both("Rprop", kwargs, steps=6)
    _assert_params_close(net, ref)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        for n in ("prev", "step_size"):
            np.testing.assert_allclose(
                np.asarray(opt.state[p][n]), ref_opt.state[q][n].numpy(), rtol=2e-5, atol=1e-7
            )
        assert float(opt.state[p]["step"]) == float(ref_opt.state[q]["step"]) == 6.0


def test_compiled_asgd_averages_like_torch():
    """t0=2: the average starts moving at step 4; eta decays visibly with lambd=0.1."""
    kwargs = {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 2.0, "weight_decay": 0.01}
    net, ref, opt, ref_opt = _train_both("ASGD", kwargs, steps=8)
    _assert_params_close(net, ref)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        mine, theirs = opt.state[p], ref_opt.state[q]
        assert sorted(mine) == sorted(theirs) == ["ax", "eta", "mu", "step"]
        for n in ("ax", "eta", "mu"):
            want = theirs[n].numpy()
            got = np.asarray(mine[n])
            assert got.shape == want.shape and got.dtype == want.dtype, n
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7, err_msg=n)
        assert float(mine["mu"]) == np.float32(1 / 6)  # 1 / max(1, 8 - t0)
        # averaging started: the average is not the last iterate
        assert not np.allclose(np.asarray(mine["ax"]), np.asarray(p), atol=1e-7)


def test_argument_checks_and_torch_switches():
    ps = [em.zeros(3)]
    with pytest.raises(ValueError, match="learning rate"):
        optim.Rprop(ps, lr=-1.0)
    with pytest.raises(ValueError, match="etas"):
        optim.Rprop(ps, etas=(1.2, 0.5))
    with pytest.raises(ValueError, match="step_sizes"):
        optim.Rprop(ps, step_sizes=(1.0, 1e-3))
    with pytest.raises(ValueError, match="learning rate"):
        optim.ASGD(ps, lr=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.ASGD(ps, weight_decay=-0.1)
    # torch's implementation switches are accepted and ignored (ASGD's also positionally)
    opt = optim.Rprop(ps, capturable=True, foreach=False, differentiable=False, maximize=True)
    assert opt.param_groups[0]["maximize"] is True and "foreach" not in opt.defaults
    opt = optim.ASGD(ps, 0.1, 1e-4, 0.75, 1e6, 0.0, None, True)
    assert opt.param_groups[0]["maximize"] is True and "foreach" not in opt.defaults
    assert optim.ASGD(ps, capturable=True, differentiable=True).defaults["lr"] == 1e-2
