"""`utils.checkpoint.checkpoint` in the literal loop and around modules with state.

Regions with parameters run op by op (lazy tensors) as in a compiled forward, and a
train-mode BatchNorm inside a region (torchvision's DenseNet with
`memory_efficient=True`) updates its running statistics once per forward. PyTorch
updates them a second time when the backward recomputes the region (pytorch#96136);
ember's statistics equal PyTorch's without checkpointing.
"""

import numpy as np
import pytest
import torch

import ember as em
import ember.utils.checkpoint as ecp


def _pair(make):
    """The same module in both frameworks, with PyTorch's initial weights."""
    torch.manual_seed(0)
    t = make(torch.nn)
    e = make(em.nn)
    e.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return t, e


def _close(got, want, tol=1e-5):
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=tol, atol=tol)


def test_a_region_with_parameters_trains_in_the_literal_loop():
    t, e = _pair(lambda nn: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), em.tensor(x, requires_grad=True)
    torch.utils.checkpoint.checkpoint(t, xt, use_reentrant=False).pow(2).sum().backward()
    ecp.checkpoint(e, xe, use_reentrant=False).pow(2).sum().backward()
    _close(xe.grad, xt.grad)
    for pt, pe in zip(t.parameters(), e.parameters(), strict=True):
        _close(pe.grad, pt.grad, 1e-5)


def _dense_layer(nn):
    """DenseNet's bottleneck: norm, relu, 1x1 conv, the part memory_efficient checkpoints."""

    class Bottleneck(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm2d(6)
            self.conv = nn.Conv2d(6, 4, 1, bias=False)
            self.head = nn.Linear(4, 3)

        def bottleneck(self, x):
            return self.conv(self.norm(x).relu())

        def forward(self, x, checkpointed):
            if checkpointed:
                if nn is torch.nn:
                    y = torch.utils.checkpoint.checkpoint(self.bottleneck, x, use_reentrant=False)
                else:
                    y = ecp.checkpoint(self.bottleneck, x, use_reentrant=False)
            else:
                y = self.bottleneck(x)
            return self.head(y.mean((2, 3)))

    return Bottleneck()


@pytest.mark.parametrize("mode", ["literal", "compiled"])
def test_batchnorm_inside_a_region_updates_its_statistics_once(mode):
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((4, 6, 5, 5)).astype(np.float32) for _ in range(3)]
    labels = [rng.integers(0, 3, 4) for _ in range(3)]
    t, e = _pair(_dense_layer)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)
    e_opt = em.optim.SGD(e.parameters(), lr=0.1, momentum=0.9)
    model = None
    if mode == "compiled":

        class Checkpointed(em.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = e

            def forward(self, x):
                return self.inner(x, True)

        model = em.compile(Checkpointed(), loss=em.nn.CrossEntropyLoss(), optimizer=e_opt)
    for x, y in zip(batches, labels, strict=True):
        t_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(t(torch.tensor(x), False), torch.tensor(y))
        loss.backward()
        t_opt.step()
        if model is not None:
            got = float(model.train_step(x, y.astype(np.int32))["loss"])
        else:
            e_opt.zero_grad()
            e_loss = em.nn.functional.cross_entropy(e(em.tensor(x), True), em.tensor(y))
            e_loss.backward()
            e_opt.step()
            got = e_loss.item()
        assert abs(got - loss.item()) < 1e-5
    want = t.state_dict()
    for name, value in e.state_dict().items():
        _close(value, want[name], 1e-5)
    assert int(np.asarray(e.norm.num_batches_tracked)) == 3


def test_pytorch_updates_twice_where_ember_updates_once():
    """The documented difference: PyTorch's recomputation runs BatchNorm's update again."""
    t, e = _pair(lambda nn: nn.BatchNorm2d(3))
    x = np.random.default_rng(2).standard_normal((4, 3, 2, 2)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    torch.utils.checkpoint.checkpoint(t, xt, use_reentrant=False).sum().backward()
    ecp.checkpoint(e, em.tensor(x, requires_grad=True)).sum().backward()
    assert int(t.num_batches_tracked) == 2  # the forward's update and the recomputation's
    assert int(np.asarray(e.num_batches_tracked)) == 1


def test_nested_regions_write_their_buffers_through():
    t, e = _pair(lambda nn: nn.BatchNorm1d(3))
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    t(torch.tensor(x))
    out = ecp.checkpoint(lambda a: ecp.checkpoint(e, a) * 2, em.tensor(x, requires_grad=True))
    out.sum().backward()
    _close(e.running_mean, t.running_mean)
    _close(e.running_var, t.running_var)


def test_a_buffer_written_in_a_loop_body_still_names_the_fix():
    bn = em.nn.BatchNorm1d(3)

    class Net(em.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = bn

        def forward(self, x):
            return em.fori_loop(0, 2, lambda i, h: self.bn(h), x)

    with pytest.raises(em.errors.TraceError, match="fori_loop|while_loop|scan") as info:
        em.trace(Net(), em.TensorSpec((4, 3)))
    assert "fix:" in str(info.value)
