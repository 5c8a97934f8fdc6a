"""The reference MLP against PyTorch: logits, loss, gradients and 20-step trajectories."""

import numpy as np
import pytest
import torch
from helpers import loss_and_grads
from models import EmberMLP, mnist_like, torch_mlp, torch_state

import ember as em
from ember import nn, optim

RTOL, ATOL = 1e-5, 1e-6


def _pair(seed=0):
    torch.manual_seed(seed)
    tnet = torch_mlp()
    net = EmberMLP()
    net.load_state_dict(torch_state(tnet))
    return tnet, net


def test_logits_loss_and_gradients_match_torch():
    tnet, net = _pair()
    x, y = mnist_like(64)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    tlogits = tnet(tx)
    tloss = torch.nn.functional.cross_entropy(tlogits, ty)
    tloss.backward()
    loss, logits, grads = loss_and_grads(net, nn.CrossEntropyLoss(), x, y.astype(np.int32))
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loss, tloss.item(), rtol=RTOL)
    for name, p in tnet.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    np.testing.assert_allclose(net(x), tlogits.detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "make_pair",
    [
        pytest.param(
            lambda tp, ep: (
                torch.optim.SGD(tp, lr=0.05, momentum=0.9),
                optim.SGD(ep, lr=0.05, momentum=0.9),
            ),
            id="sgd-momentum",
        ),
        pytest.param(
            lambda tp, ep: (torch.optim.Adam(tp, lr=1e-3), optim.Adam(ep, lr=1e-3)), id="adam"
        ),
    ],
)
def test_twenty_compiled_steps_match_torch(make_pair):
    tnet, net = _pair(1)
    topt, eopt = make_pair(tnet.parameters(), net.parameters())
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=eopt, metrics=["accuracy"])
    x, y = mnist_like(20 * 32, seed=3)
    for step in range(20):
        xb, yb = x[step * 32 : (step + 1) * 32], y[step * 32 : (step + 1) * 32]
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(xb)), torch.from_numpy(yb))
        tloss.backward()
        topt.step()
        logs = model.train_step(xb, yb)
        np.testing.assert_allclose(float(logs["loss"]), tloss.item(), rtol=1e-4)
    state = net.state_dict()  # the module shows the trained values
    for name, p in tnet.named_parameters():
        np.testing.assert_allclose(
            state[name], p.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )
    assert model.step == 20
