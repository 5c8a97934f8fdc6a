"""`em.func.grad / grad_and_value / vjp / jvp / jacrev / jacfwd / hessian / vmap` against
torch.func on the same functions and values: PyTorch's per-sample-gradient recipe
(`vmap(grad(loss))` over `functional_call`), nesting, pytrees, `has_aux`, `argnums`, and
the errors a transform gives for value reads it cannot do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
import ember.nn.functional as F
from ember import nn
from ember.errors import TraceError

RNG = np.random.default_rng(0)
A = np.array([0.3, -1.2, 2.0], np.float32)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def _pair():
    em.manual_seed(0)
    net = _Net()
    ref = torch.nn.Sequential()
    ref.fc1, ref.fc2 = torch.nn.Linear(5, 8), torch.nn.Linear(8, 3)
    ref.forward = lambda x: ref.fc2(torch.relu(ref.fc1(x)))
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    return net, ref


def _close(got, want, tol=1e-5):
    if isinstance(want, dict):
        assert sorted(got) == sorted(want)
        for k in want:
            _close(got[k], want[k], tol)
    elif isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _close(g, w, tol)
    else:
        assert isinstance(got, em.Tensor), type(got)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("detach", [True, False])
def test_per_sample_gradients_match_torch_func(detach):
    """PyTorch's recipe, imports changed: vmap(grad(loss)) over functional_call; the
    parameters as detached tensors or as the Parameters themselves."""
    net, ref = _pair()
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 6)

    def loss(params, sample, target):
        out = em.func.functional_call(net, params, (sample.unsqueeze(0),))
        return F.cross_entropy(out, target.unsqueeze(0))

    def tloss(params, sample, target):
        out = torch.func.functional_call(ref, params, (sample.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, target.unsqueeze(0))

    params = {k: v.detach() if detach else v for k, v in net.named_parameters()}
    got = em.func.vmap(em.func.grad(loss), in_dims=(None, 0, 0))(params, em.tensor(x), em.tensor(y))
    tparams = {k: v.detach() for k, v in ref.named_parameters()}
    want = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tparams, torch.tensor(x), torch.tensor(y)
    )
    _close(got, want)
    # the per-example gradients average to the batch gradient of the mean loss
    net.zero_grad()
    F.cross_entropy(net(em.tensor(x)), em.tensor(y)).backward()
    np.testing.assert_allclose(
        got["fc1.weight"].numpy().mean(0), net.fc1.weight.grad.numpy(), rtol=1e-4, atol=1e-6
    )


def _f(a):
    return (a.sin() * a).sum()


def _h(a):
    return a.sin() * a.cos()[None].T


@pytest.mark.parametrize("name", ["grad", "hessian", "jacrev", "jacfwd"])
def test_derivatives_match_torch(name):
    fn = _f if name in ("grad", "hessian") else _h
    got = getattr(em.func, name)(fn)(em.tensor(A))
    want = getattr(torch.func, name)(fn)(torch.tensor(A))
    _close(got, want)


def test_grad_and_value_argnums_has_aux_and_pytrees_match_torch():
    def f(p, x, scale):
        out = (p["w"] * x).sum() * scale + (p["b"] ** 2).sum()
        return out, {"out": out * 2}

    p = {"w": A, "b": A[:2] * 3}
    x = A[::-1].copy()
    ep = {k: em.tensor(v) for k, v in p.items()}
    tp = {k: torch.tensor(v) for k, v in p.items()}
    for kw in ({}, {"argnums": (0, 1)}):
        got = em.func.grad_and_value(f, has_aux=True, **kw)(ep, em.tensor(x), 0.5)
        want = torch.func.grad_and_value(f, has_aux=True, **kw)(tp, torch.tensor(x), 0.5)
        _close(got, want)
    with pytest.raises(ValueError, match="argnums"):
        em.func.grad(f, argnums=3)(ep, em.tensor(x), 0.5)


def test_vjp_and_jvp_match_torch():
    ct = RNG.standard_normal((3, 3)).astype(np.float32)
    out, fn = em.func.vjp(_h, em.tensor(A))
    tout, tfn = torch.func.vjp(_h, torch.tensor(A))
    _close(out, tout)
    _close(fn(em.tensor(ct)), tfn(torch.tensor(ct)))
    got = em.func.jvp(_h, (em.tensor(A),), (em.tensor(ct[0]),))
    want = torch.func.jvp(_h, (torch.tensor(A),), (torch.tensor(ct[0]),))
    _close(got, want)


def test_vmap_in_out_dims_nesting_and_modules_match_torch():
    net, ref = _pair()
    x = RNG.standard_normal((4, 2, 5)).astype(np.float32)
    # a module called per example; in_dims=1 and out_dims=1
    got = em.vmap(lambda v: net(v), in_dims=1, out_dims=1)(em.tensor(x))
    want = torch.vmap(lambda v: ref(v), in_dims=1, out_dims=1)(torch.tensor(x))
    _close(got, want)
    # nested: an outer product per pair of rows
    a, b = RNG.standard_normal((3, 4)).astype(np.float32), A
    outer = em.vmap(em.vmap(lambda u, v: u * v, in_dims=(None, 0)), in_dims=(0, None))
    tout = torch.vmap(torch.vmap(lambda u, v: u * v, in_dims=(None, 0)), in_dims=(0, None))
    _close(outer(em.tensor(a), em.tensor(b)), tout(torch.tensor(a), torch.tensor(b)))


def test_value_reads_under_vmap_are_trace_errors_but_grad_allows_them():
    def branchy(x):
        return (x * 2).sum() if x.sum() > 0 else x.sum()

    # grad: values are known (as in torch.func.grad), so Python control flow works
    _close(em.func.grad(branchy)(em.tensor(A)), torch.func.grad(branchy)(torch.tensor(A)))
    with pytest.raises(TraceError, match="em.where"):
        em.vmap(branchy)(em.ones(2, 3))
    with pytest.raises(ValueError, match="randomness"):
        em.vmap(branchy, randomness="sometimes")
    with pytest.raises(ValueError, match="pair"):
        em.func.grad(lambda x: x.sum(), has_aux=True)(em.tensor(A))
