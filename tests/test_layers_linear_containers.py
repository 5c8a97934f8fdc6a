"""Linear, Bilinear, Identity and the containers against PyTorch (names, values, gradients)."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember as em
from ember import nn


def _copy(tmod, emod):
    emod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})


def test_linear_and_bilinear_outputs_and_gradients_match_torch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    for tmod, emod, args in [
        (torch.nn.Linear(5, 3), nn.Linear(5, 3), (rng.standard_normal((2, 4, 5)),)),
        (
            torch.nn.Linear(5, 3, bias=False),
            nn.Linear(5, 3, bias=False),
            (rng.standard_normal((4, 5)),),
        ),
        (
            torch.nn.Bilinear(3, 4, 2),
            nn.Bilinear(3, 4, 2),
            (rng.standard_normal((5, 3)), rng.standard_normal((5, 4))),
        ),
    ]:
        args = tuple(a.astype(np.float32) for a in args)
        _copy(tmod, emod)
        assert list(emod.state_dict()) == list(tmod.state_dict())
        targs = [torch.from_numpy(a).requires_grad_() for a in args]
        tout = tmod(*targs)
        tout.sum().backward()
        np.testing.assert_allclose(emod(*args), tout.detach().numpy(), rtol=1e-5, atol=1e-6)

        from helpers import loss_and_grads

        if len(args) == 1:  # parameter gradients through ember's lowered graph
            y = np.zeros(tout.shape, np.float32)
            _, _, grads = loss_and_grads(emod, lambda o, t: (o + t).sum(), args[0], y)
            for name, p in tmod.named_parameters():
                np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_bilinear_default_init_bounds_follow_torch():
    em.manual_seed(0)
    w = nn.Bilinear(6, 4, 3).weight.numpy()
    bound = 1 / np.sqrt(6)
    assert w.shape == (3, 6, 4) and np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_identity_passes_input_through():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(nn.Identity(54, unused="x")(x), x)


class _Containers:
    """The same container structure built with torch.nn or ember.nn."""

    def __init__(self, lib):
        self.blocks = lib.ModuleList([lib.Linear(3, 3), lib.Linear(3, 3)])
        self.heads = lib.ModuleDict({"a": lib.Linear(3, 2), "b": lib.Linear(3, 1)})
        self.scales = lib.ParameterList([lib.Parameter(torch.ones(3) * 2) for _ in range(2)])
        self.extra = lib.ParameterDict({"shift": lib.Parameter(torch.zeros(3) + 0.5)})
        self.seq = lib.Sequential(OrderedDict([("fc", lib.Linear(3, 3)), ("act", lib.Tanh())]))


def _net(lib):
    c = _Containers(lib)

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.blocks, self.heads, self.scales = c.blocks, c.heads, c.scales
            self.extra, self.seq = c.extra, c.seq

        def forward(self, x):
            for block, scale in zip(self.blocks, self.scales, strict=True):
                x = block(x) * scale
            x = self.seq(x + self.extra["shift"])
            return self.heads["a"](x).sum(-1) + self.heads["b"](x)[..., 0]

    return Net()


def test_containers_register_like_torch_and_compute_the_same():
    torch.manual_seed(1)
    tnet, enet = _net(torch.nn), _net(nn)
    assert list(enet.state_dict()) == list(tnet.state_dict())
    assert [n for n, _ in enet.named_modules()] == [n for n, _ in tnet.named_modules()]
    _copy(tnet, enet)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        enet(x), tnet(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    assert len(enet.blocks) == 2 and "a" in enet.heads and len(enet.scales) == 2
    assert isinstance(enet.seq[0], nn.Linear) and isinstance(enet.seq[-1], nn.Tanh)


def _edit(lib, container, action):
    """One PyTorch container edit, applied to a torch.nn or ember.nn container."""
    kind, *args = action
    if kind == "set":
        container[args[0]] = lib.Linear(3, 3, bias=False)
    elif kind == "del":
        del container[args[0]]
    elif kind == "insert":
        container.insert(args[0], lib.Tanh())
    elif kind == "pop":
        return type(container.pop(args[0])).__name__
    elif kind == "extend":
        container.extend([lib.ReLU(), lib.Linear(3, 3)])
    return None


EDITS = [
    ("set", 1),
    ("set", -1),
    ("del", 0),
    ("del", slice(1, 3)),
    ("insert", 1),
    ("pop", 1),
    ("pop", -1),
    ("extend",),
]


def test_container_edits_match_torch_and_reach_compiled_steps():
    for cls in ("ModuleList", "Sequential"):
        for action in EDITS:
            torch.manual_seed(0)
            em.manual_seed(0)
            layers = [(lambda lib: lib.Linear(3, 3)), (lambda lib: lib.ReLU())] * 2
            if cls == "Sequential":
                t = torch.nn.Sequential(*[f(torch.nn) for f in layers])
                e = nn.Sequential(*[f(nn) for f in layers])
            else:
                t = torch.nn.ModuleList([f(torch.nn) for f in layers])
                e = nn.ModuleList([f(nn) for f in layers])
            assert _edit(torch.nn, t, action) == _edit(nn, e, action), (cls, action)
            assert [(n, type(m).__name__) for n, m in e.named_modules()] == [
                (n, type(m).__name__) for n, m in t.named_modules()
            ], (cls, action)
            assert list(e.state_dict()) == list(t.state_dict()), (cls, action)
    seq = nn.Sequential(nn.Linear(3, 3))
    for bad in (lambda: seq.__setitem__(5, nn.ReLU()), lambda: seq.__delitem__(-2)):
        try:
            bad()
        except IndexError as err:
            assert "out of range for Sequential of 1" in str(err)
        else:
            raise AssertionError("no IndexError")


def test_a_replaced_block_is_what_the_compiled_model_runs():
    from ember import optim

    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    model.train_step(x, y)
    net[0] = nn.Linear(4, 4)
    np.testing.assert_allclose(model.predict(x), net(x), rtol=1e-6)
    # the optimizer still holds the replaced block's parameters: a clear error, not a
    # silent update of the new block with the old one's state
    with pytest.raises(em.TraceError, match="not in the compiled module"):
        model.train_step(x, y)
    del net[1]
    np.testing.assert_allclose(model.predict(x), net(x), rtol=1e-6)
