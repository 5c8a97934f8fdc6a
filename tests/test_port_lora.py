"""Idioms of LoRA-style adapter layers (microsoft/LoRA's loralib), PyTorch as referee:
a layer's own `train(mode)` override (merging its low-rank update on `model.eval()`),
masks that are Python lists or constant tensors on the module, `_conv_forward`, and
`p.data = p.data.T`."""

import numpy as np
import pytest
import torch

import ember as em

LIBS = {"torch": torch, "ember": em}


def _lora_linear(lib):
    """A linear layer with a rank-2 update that it folds into its weight in eval mode and
    takes out again in train mode, in the layer's own `train` override."""

    class LoRALinear(lib.nn.Linear):
        def __init__(self, n_in, n_out):
            super().__init__(n_in, n_out)
            self.lora_a = lib.nn.Parameter(self.weight.new_zeros((2, n_in)))
            self.lora_b = lib.nn.Parameter(self.weight.new_zeros((n_out, 2)))
            self.weight.requires_grad = False
            self.merged = False

        def delta(self):
            return (self.lora_b @ self.lora_a) * 0.5

        def train(self, mode=True):
            super().train(mode)
            if mode and self.merged:
                self.weight.data -= self.delta()
                self.merged = False
            elif not mode and not self.merged:
                self.weight.data += self.delta()
                self.merged = True
            return self

        def forward(self, x):
            out = lib.nn.functional.linear(x, self.weight, self.bias)
            return out if self.merged else out + x @ self.delta().T

    return LoRALinear


def _net(lib):
    lib.manual_seed(0)
    net = lib.nn.Sequential(_lora_linear(lib)(4, 6), lib.nn.Tanh(), _lora_linear(lib)(6, 3))
    rng = np.random.default_rng(0)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    state = {k: rng.standard_normal(shapes[k]).astype(np.float32) for k in sorted(shapes)}
    net.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return net


def test_model_eval_runs_each_layers_own_train_override():
    """`model.eval()` reaches every submodule through its own `train(False)`: the adapters
    fold their update into the weight (and unfold it on `model.train()`), as in PyTorch."""
    x = np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4)
    got = {}
    for name, lib in LIBS.items():
        net = _net(lib)
        before = np.asarray(net(lib.tensor(x)).detach())
        net.eval()
        merged = {k: np.asarray(v).copy() for k, v in net.state_dict().items()}
        after = np.asarray(net(lib.tensor(x)).detach())
        net.train()
        got[name] = (before, merged, after, [m.merged for m in (net[0], net[2])])
    t, e = got["torch"], got["ember"]
    np.testing.assert_allclose(e[0], t[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(e[2], t[2], rtol=1e-6, atol=1e-6)
    for k in t[1]:
        np.testing.assert_allclose(e[1][k], t[1][k], rtol=1e-6, atol=1e-6, err_msg=k)
    assert e[3] == t[3] == [False, False]
    assert not np.allclose(t[1]["0.weight"], _net(torch).state_dict()["0.weight"].numpy())


def test_train_rejects_a_non_bool_mode_like_pytorch():
    with pytest.raises(ValueError, match="boolean"):
        em.nn.Linear(2, 2).train("eval")


@pytest.mark.parametrize("name", ["torch", "ember"])
def test_a_list_of_bools_indexes_as_a_mask(name):
    lib = LIBS[name]
    x = lib.zeros((6,), dtype=lib.bool).view(3, -1)
    x[[True, False, True], :] = True
    y = lib.arange(6).view(3, 2)
    assert x.view(-1).tolist() == [True, True, False, False, True, True]
    assert y[[True, False, True]].tolist() == [[0, 1], [4, 5]]


def _masked_scatter_net(lib):
    """Rows of a zero block filled through a constant bool mask made in `__init__`
    (loralib's MergedLinear pads its q/v update this way)."""

    class Padded(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(3, 2)
            self.mask = lib.tensor([True, False, True, False])

        def forward(self, x):
            h = self.lin(x)
            out = h.new_zeros((x.shape[0], 4)).transpose(0, 1)
            out[self.mask] = h.transpose(0, 1)
            return out.transpose(0, 1)

    lib.manual_seed(0)
    net = Padded()
    net.lin.weight.data = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 7)
    net.lin.bias.data = lib.tensor(np.array([0.1, -0.2], np.float32))
    return net


def _mse_loop(lib, net, x, y, steps: int = 3) -> list:
    """The literal loop, SGD on the mean squared error; each step's loss."""
    opt = lib.optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = lib.nn.functional.mse_loss(net(lib.tensor(x)), lib.tensor(y))
        if lib is em:
            assert "call" in str(em.graph_of(loss))  # the module ran as one traced call
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_a_constant_mask_on_the_module_works_in_a_compiled_step_and_the_loop():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = rng.standard_normal((5, 4)).astype(np.float32)
    want = _mse_loop(torch, _masked_scatter_net(torch), x, y)

    net = _masked_scatter_net(em)
    model = em.compile(net, loss=em.nn.MSELoss(), optimizer=em.optim.SGD(net.parameters(), lr=0.1))
    compiled = [float(model.train_step(x, y)["loss"]) for _ in range(3)]
    np.testing.assert_allclose(compiled, want, rtol=1e-6)
    np.testing.assert_allclose(_mse_loop(em, _masked_scatter_net(em), x, y), want, rtol=1e-6)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_conv_forward_with_a_transformed_weight(padding_mode):
    x = np.linspace(-1, 1, 2 * 2 * 5 * 5, dtype=np.float32).reshape(2, 2, 5, 5)
    outs = []
    for lib in LIBS.values():

        class Doubled(lib.nn.Conv2d):
            def forward(self, x):
                return self._conv_forward(x, self.weight * 2, self.bias)

        lib.manual_seed(0)
        conv = Doubled(2, 3, 3, padding=1, padding_mode=padding_mode)
        conv.weight.data = lib.tensor(np.cos(np.arange(54.0)).reshape(3, 2, 3, 3).astype("f"))
        conv.bias.data = lib.tensor(np.array([0.1, -0.2, 0.3], "f"))
        outs.append(np.asarray(conv(lib.tensor(x)).detach()))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)


def test_assigning_data_of_another_shape_reshapes_the_parameter_and_trains():
    """`w.data = w.data.transpose(0, 1)` (loralib's fan_in_fan_out, GPT-2 Conv1D weights):
    the parameter takes the new shape, and training through it matches PyTorch."""
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    results = []
    for lib in LIBS.values():
        lin = lib.nn.Linear(3, 2)
        lin.weight.data = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10)
        lin.weight.data = lin.weight.data.transpose(0, 1)
        assert tuple(lin.weight.shape) == (3, 2)
        opt = lib.optim.SGD([lin.weight], lr=0.1)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = (lib.tensor(x) @ lin.weight).pow(2).sum()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((losses, np.asarray(lin.weight.detach())))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6, atol=1e-7)
