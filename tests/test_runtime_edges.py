"""Runtime edge cases: caches follow mode and requires_grad changes, eval graphs drop
dropout, shapeless inputs, empty data, single-pass generators, CSE of signed zeros."""

import numpy as np
import pytest

import ember as em
import ember.nn.functional as F
from ember import nn, optim
from ember.compiler import eliminate_common_subexpressions


def _xy(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal((n, 4)).astype(
        np.float32
    )


class AlwaysDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.5)  # training=True by default, as in PyTorch


def test_eval_and_predict_drop_functional_dropout():
    net = AlwaysDropout()
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    x, y = _xy()
    model.train_step(x, y)
    want = x @ net.fc.weight.numpy().T + net.fc.bias.numpy()
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)
    assert np.isfinite(model.evaluate(x, y, verbose=0)["loss"])


def test_freezing_after_the_first_step_takes_effect():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    x, y = _xy()
    model.train_step(x, y)
    net[0].weight.requires_grad = False
    frozen = net[0].weight.numpy()
    model.train_step(x, y)
    np.testing.assert_array_equal(net[0].weight.numpy(), frozen)
    assert model.compile_count == 2


def test_putting_a_submodule_in_eval_after_compiling_stops_its_statistics():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.0))
    x, y = _xy()
    model.train_step(x, y)
    net[1].eval()
    stats = net.state_dict()["1.running_mean"].clone()
    model.train_step(x, y)
    np.testing.assert_array_equal(net.state_dict()["1.running_mean"], stats)
    net(x)  # the eager path keys on every submodule's flag too
    np.testing.assert_array_equal(net.state_dict()["1.running_mean"], stats)


def test_list_inputs_of_new_shapes_compile_their_own_step():
    net = nn.Linear(2, 2)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    model.train_step([[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [1.0, 1.0]])
    model.train_step([[1.0, 2.0]] * 3, [[0.0, 0.0]] * 3)
    assert model.compile_count == 2


def test_every_form_of_an_xy_batch_runs_the_same_step():
    """numpy float32 pairs take the one-lookup path; float64, JAX arrays and lists the
    general one: all feed one compiled step and train identically."""
    import jax.numpy as jnp

    x, y = _xy()
    forms = [
        (x, y),
        (x.astype(np.float64), y.astype(np.float64)),
        (jnp.asarray(x), jnp.asarray(y)),
        (x.tolist(), y.tolist()),
        (x, jnp.asarray(y)),
    ]
    losses = []
    for batch in forms:
        em.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
        model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.Adam(net.parameters()))
        losses.append([float(model.train_step(*batch)["loss"]) for _ in range(3)])
        assert model.compile_count == 1
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.Adam(net.parameters()))
    for batch in forms[:3]:  # mixed forms in one model: still one compiled step
        losses.append([float(model.train_step(*batch)["loss"])])
    assert model.compile_count == 1
    np.testing.assert_array_equal(losses[:5], [losses[0]] * 5)
    np.testing.assert_array_equal([v[0] for v in losses[5:]], losses[0])


def test_empty_and_missing_data_raise_clear_errors():
    model = em.compile(nn.Linear(4, 4), loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    x, y = _xy()
    with pytest.raises(ValueError, match="predict got no examples"):
        model.predict(x[:0])
    with pytest.raises(ValueError, match="y is None"):
        model.fit(x, None, verbose=0)
    batches = ((x[i : i + 4], y[i : i + 4]) for i in range(0, 8, 4))
    with pytest.raises(ValueError, match="epoch 2 got no batches"):
        model.fit(batches, epochs=2, verbose=0)


def test_cse_keeps_signed_zero_constants_apart():
    class SignedZeros(nn.Module):
        def forward(self, x):
            return x * 0.0 + x * -0.0

    graph = em.trace(SignedZeros(), em.TensorSpec((3,)))
    constants = [n for n in eliminate_common_subexpressions(graph).nodes if n.op == "constant"]
    assert len(constants) == 2


@pytest.mark.parametrize("scan", [False, True])
def test_reordered_blocks_keep_their_optimizer_state_like_torch(scan):
    """Swapping two blocks of a ModuleList mid-training (same names and shapes, other
    parameter objects at each position): Adam's moments follow the parameters, as in
    PyTorch, in the unrolled and the scanned (stacked storage) model."""
    import torch

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

        def forward(self, x):
            for block in self.blocks:
                x = em.tanh(block(x))
            return x

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])

        def forward(self, x):
            for block in self.blocks:
                x = torch.tanh(block(x))
            return x

    em.manual_seed(0)
    net = Net()
    ref = TorchNet()
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    opt = optim.Adam(net.parameters(), lr=0.05)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=opt, scan_layers=scan)
    batches = [_xy(seed=s) for s in range(4)]
    for k, (x, y) in enumerate(batches):
        if k == 2:
            for blocks in (net.blocks, ref.blocks):
                first, second = blocks[0], blocks[1]
                blocks[0], blocks[1] = second, first
        model.train_step(x, y)
        ref_opt.zero_grad()
        torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        ref_opt.step()
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(
            net.state_dict()[name], value.numpy(), rtol=2e-5, atol=2e-6, err_msg=name
        )
