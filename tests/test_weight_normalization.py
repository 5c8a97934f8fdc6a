"""Weight norm, spectral norm and parametrizations (`nn.utils`) against PyTorch: the same
state-dict keys, forward values, power-iteration buffers and training trajectories,
compiled and in the literal loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
from ember import nn, optim
from ember.nn.utils import parametrize

OLD, NEW = "utils", "parametrizations"


def _wrap(lib, api: str, kind: str, layer, **kw):
    utils = lib.nn.utils
    fn = getattr(utils if api == OLD else utils.parametrizations, kind)
    return fn(layer, **kw)


CASES = {
    # name: (layer builder(lib), input shape, normalization, kwargs)
    "conv1d-weight-norm": (lambda lib: lib.nn.Conv1d(3, 6, 3), (4, 3, 9), "weight_norm", {}),
    "linear-weight-norm-dim1": (lambda lib: lib.nn.Linear(5, 4), (6, 5), "weight_norm", {"dim": 1}),
    "linear-weight-norm-whole": (
        lambda lib: lib.nn.Linear(5, 4),
        (6, 5),
        "weight_norm",
        {"dim": None},
    ),
    "linear-spectral-norm": (lambda lib: lib.nn.Linear(5, 7), (6, 5), "spectral_norm", {}),
    "conv2d-spectral-norm-2it": (
        lambda lib: lib.nn.Conv2d(3, 4, 3),
        (2, 3, 6, 6),
        "spectral_norm",
        {"n_power_iterations": 2},
    ),
    "convT2d-spectral-norm": (
        lambda lib: lib.nn.ConvTranspose2d(3, 4, 3),
        (2, 3, 5, 5),
        "spectral_norm",
        {},
    ),
}


def _pair(case: str, api: str):
    build, shape, kind, kw = CASES[case]
    torch.manual_seed(0)
    ref = _wrap(torch, api, kind, build(torch), **kw)
    em.manual_seed(0)
    net = _wrap(em, api, kind, build(em), **kw)
    want = ref.state_dict()
    assert list(net.state_dict()) == list(want)  # PyTorch's keys, in PyTorch's order
    net.load_state_dict({k: v.detach().numpy() for k, v in want.items()})
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    return net, ref, batches


def _assert_state(net, ref, rtol=2e-5, atol=2e-6):
    got = net.state_dict()
    for key, value in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(got[key]), value.detach().numpy(), rtol=rtol, atol=atol, err_msg=key
        )


def _torch_steps(ref, batches, lr=0.1):
    opt = torch.optim.SGD(ref.parameters(), lr=lr)
    losses = []
    for x in batches:
        opt.zero_grad()
        loss = ref(torch.from_numpy(x)).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


class _SquareLoss(nn.Module):
    def forward(self, out, _):
        return out.square().mean()


@pytest.mark.parametrize("api", [OLD, NEW])
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_training_follows_torch(case, api):
    net, ref, batches = _pair(case, api)
    model = em.compile(net, loss=_SquareLoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    losses = [float(model.train_step(x, x)["loss"]) for x in batches]
    np.testing.assert_allclose(losses, _torch_steps(ref, batches), rtol=2e-5, atol=1e-6)
    _assert_state(net, ref)  # parameters and the power-iteration vectors


@pytest.mark.parametrize("api", [OLD, NEW])
@pytest.mark.parametrize("case", ["conv1d-weight-norm", "linear-spectral-norm"])
def test_the_literal_loop_follows_torch(case, api):
    net, ref, batches = _pair(case, api)
    opt = optim.SGD(net.parameters(), lr=0.1)
    for x in batches:
        opt.zero_grad()
        loss = net(em.tensor(x)).square().mean()
        loss.backward()
        opt.step()
    _torch_steps(ref, batches)
    _assert_state(net, ref)


@pytest.mark.parametrize("api", [OLD, NEW])
def test_eval_mode_keeps_the_vectors_and_matches_torch(api):
    net, ref, batches = _pair("conv2d-spectral-norm-2it", api)
    net.eval()
    ref.eval()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    out = net(em.tensor(batches[0])).detach().numpy()
    np.testing.assert_allclose(
        out, ref(torch.from_numpy(batches[0])).detach().numpy(), rtol=2e-5, atol=2e-6
    )
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), before[key], err_msg=key)


def test_removing_the_normalization_keeps_the_weight_like_torch():
    for kind, remove in (("weight_norm", "remove_weight_norm"), ("spectral_norm", None)):
        case = "conv1d-weight-norm" if kind == "weight_norm" else "linear-spectral-norm"
        net, ref, _ = _pair(case, OLD)
        net.eval()
        ref.eval()
        remove = remove or "remove_spectral_norm"
        getattr(nn.utils, remove)(net)
        getattr(torch.nn.utils, remove)(ref)
        assert list(net.state_dict()) == list(ref.state_dict())
        _assert_state(net, ref)


def test_a_custom_parametrization_with_right_inverse_like_torch():
    def define(lib):
        class Symmetric(lib.nn.Module):
            def forward(self, X):
                return X.triu() + X.triu(1).transpose(0, 1)

            def right_inverse(self, A):
                return A.triu()

        return Symmetric

    torch.manual_seed(0)
    ref = torch.nn.Linear(4, 4)
    em.manual_seed(0)
    net = nn.Linear(4, 4)
    net.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    torch.nn.utils.parametrize.register_parametrization(ref, "weight", define(torch)())
    parametrize.register_parametrization(net, "weight", define(em)())
    assert parametrize.is_parametrized(net, "weight") and not parametrize.is_parametrized(
        net, "bias"
    )
    _assert_state(net, ref)
    w = net.weight.detach().numpy()
    np.testing.assert_allclose(w, w.T)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    model = em.compile(net, loss=_SquareLoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    model.train_step(x, x)
    _torch_steps(ref, [x])
    _assert_state(net, ref)
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    with em.no_grad(), torch.no_grad():  # assigning goes through right_inverse
        net.weight = em.tensor(a)
        ref.weight = torch.from_numpy(a)
    _assert_state(net, ref)
    np.testing.assert_allclose(net.weight.detach().numpy(), ref.weight.detach().numpy())
    with pytest.raises(AttributeError, match="computed from other parameters"):
        nn.utils.weight_norm(nn.Linear(2, 2)).weight = em.zeros(2, 2)
    parametrize.remove_parametrizations(net, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(ref, "weight")
    assert list(net.state_dict()) == list(ref.state_dict())
    _assert_state(net, ref)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="no parameter 'kernel'"):
        nn.utils.weight_norm(nn.Linear(2, 2), name="kernel")
    with pytest.raises(ValueError, match="no parameter 'kernel'"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(2, 2), name="kernel")

    class Flatten(nn.Module):
        def forward(self, X):
            return X.reshape(-1)

    with pytest.raises(ValueError, match=r"shape \(2, 3\).*into shape \(6,\)"):
        parametrize.register_parametrization(nn.Linear(3, 2), "weight", Flatten())
