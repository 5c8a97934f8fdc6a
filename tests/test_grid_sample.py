"""`F.affine_grid` and `F.grid_sample` (the spatial transformer tutorial) against torch:
values and gradients for every mode and padding, and a compiled transformer's steps."""

import numpy as np
import pytest
import torch

import ember as em
from ember import nn
from ember.nn import functional as F

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
THETA = (np.eye(2, 3)[None] + 0.3 * RNG.standard_normal((2, 2, 3))).astype(np.float32)


@pytest.mark.parametrize("size", [(2, 3, 4, 7), (2, 1, 3, 4, 5)])
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_matches_torch(size, align):
    theta = np.eye(len(size) - 2, len(size) - 1)[None] + 0.3 * RNG.standard_normal(
        (2, len(size) - 2, len(size) - 1)
    )
    theta = theta.astype(np.float32)
    ours = F.affine_grid(em.tensor(theta), size, align_corners=align)
    theirs = torch.nn.functional.affine_grid(torch.tensor(theta), size, align_corners=align)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_values_and_gradients_match_torch(mode, padding, align):
    grid = 1.7 * torch.nn.functional.affine_grid(torch.tensor(THETA), (2, 3, 4, 7), align)
    x_t, g_t = torch.tensor(X, requires_grad=True), grid.detach().requires_grad_()
    x_e, g_e = (
        em.tensor(X, requires_grad=True),
        em.tensor(grid.detach().numpy(), requires_grad=True),
    )
    out_t = torch.nn.functional.grid_sample(x_t, g_t, mode, padding, align)
    out_e = F.grid_sample(x_e, g_e, mode, padding, align)
    w = RNG.standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_t * torch.tensor(w)).sum().backward()
    (out_e * em.tensor(w)).sum().backward()
    np.testing.assert_allclose(out_e.detach().numpy(), out_t.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(x_e.grad.numpy(), x_t.grad.numpy(), atol=1e-5)
    if mode == "bilinear":
        np.testing.assert_allclose(g_e.grad.numpy(), g_t.grad.numpy(), atol=1e-4)


class _Transformer(nn.Module):
    """The tutorial's shape: a localization net predicts theta, then sample and classify."""

    def __init__(self, m):
        super().__init__()
        self.loc = m.nn.Linear(36, 6)
        self.fc = m.nn.Linear(36, 3)

    def forward(self, x):
        theta = self.loc(x.flatten(1)).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        return self.fc(F.grid_sample(x, grid, align_corners=False).flatten(1))


def test_a_compiled_spatial_transformer_trains_like_torch():
    em.manual_seed(0)
    net = _Transformer(em)
    ref = torch.nn.Module()
    ref.loc, ref.fc = torch.nn.Linear(36, 6), torch.nn.Linear(36, 3)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    x = RNG.standard_normal((4, 1, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    model = em.compile(
        net, loss=nn.CrossEntropyLoss(), optimizer=em.optim.SGD(net.parameters(), lr=0.1)
    )
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(3):
        logs = model.train_step(x, y)
        xt = torch.tensor(x)
        theta = ref.loc(xt.flatten(1)).view(-1, 2, 3)
        grid = torch.nn.functional.affine_grid(theta, xt.size(), align_corners=False)
        out = ref.fc(torch.nn.functional.grid_sample(xt, grid, align_corners=False).flatten(1))
        loss = torch.nn.functional.cross_entropy(out, torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        np.testing.assert_allclose(float(logs["loss"]), loss.item(), rtol=1e-5)
    np.testing.assert_allclose(net.loc.weight.numpy(), ref.loc.weight.detach().numpy(), atol=1e-5)
