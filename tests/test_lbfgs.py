"""optim.LBFGS against torch.optim.LBFGS: the same closure, weights and data give the same
losses and parameters step by step, with and without the strong-Wolfe line search."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
from ember import nn, optim


def _problem(lib, net):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 1)) + 0.1 * rng.standard_normal((32, 1))).astype(np.float32)
    to = torch.from_numpy if lib is torch else em.tensor
    return to(x), to(y)


def _pair():
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    ref = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    return net, ref


def _run(lib, net, steps, **options):
    opt = (torch.optim if lib is torch else optim).LBFGS(net.parameters(), **options)
    x, y = _problem(lib, net)
    mse = torch.nn.functional.mse_loss if lib is torch else nn.functional.mse_loss

    def closure():
        opt.zero_grad()
        loss = mse(net(x), y)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return losses, opt


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 1.0, "max_iter": 5},
        {"lr": 0.5, "max_iter": 4, "history_size": 3},
        {"lr": 1.0, "max_iter": 6, "line_search_fn": "strong_wolfe"},
    ],
    ids=["plain", "short-history", "strong-wolfe"],
)
def test_lbfgs_follows_torch(options):
    net, ref = _pair()
    got, opt = _run(em, net, 4, **options)
    want, ref_opt = _run(torch, ref, 4, **options)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[name]), value.numpy(), rtol=1e-3, atol=1e-5, err_msg=name
        )
    ref_state = ref_opt.state[ref_opt.param_groups[0]["params"][0]]  # torch keys it by a tensor
    assert opt.state["func_evals"] == ref_state["func_evals"]
    assert opt.state["n_iter"] == ref_state["n_iter"]
    assert got[-1] < 0.5 * got[0]


def test_lbfgs_says_what_it_needs():
    net, _ = _pair()
    opt = optim.LBFGS(net.parameters())
    with pytest.raises(RuntimeError, match="needs a closure"):
        opt.step(None)
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS(net.parameters(), line_search_fn="armijo")
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [net[0].weight]}, {"params": [net[2].weight]}])


def test_compile_explains_that_lbfgs_runs_in_the_loop():
    net, _ = _pair()
    with pytest.raises(TypeError, match="LBFGS, which a compiled step cannot run.*closure"):
        em.compile(net, loss=nn.MSELoss(), optimizer=optim.LBFGS(net.parameters()))
