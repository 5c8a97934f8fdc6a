"""Module registration, repr, traversal, modes, lazy seeded init, state_dict, eager calls."""

import numpy as np
import torch
from models import EmberMLP, mnist_like

import ember as em
from ember import nn, optim


def test_registration_and_torch_names():
    net = EmberMLP()
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "fc2"]
    assert [type(m).__name__ for m in net.children()] == ["Linear", "Linear"]
    assert net.fc1.weight.shape == (128, 784)
    sd = net.state_dict()
    assert list(sd) == list(EmberMLP().state_dict())
    assert sd["fc1.weight"].shape == (128, 784) and sd["fc1.weight"].dtype == np.float32


def test_reassigning_a_submodule_parameter_or_buffer_keeps_its_place_like_torch():
    """`net.fc1 = nn.Linear(...)` (fine-tuning a head), a new Parameter under an old name,
    a re-registered buffer and a ModuleDict entry keep their state-dict positions."""

    def build(lib):
        def param(n):
            return (
                lib.Parameter(torch.ones(n))
                if lib is torch.nn
                else nn.Parameter(np.ones(n, np.float32))
            )

        def buffer(value):
            return torch.full((1,), value) if lib is torch.nn else np.full(1, value)

        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = lib.Linear(2, 2)
                self.scale = param(2)
                self.register_buffer("count", buffer(0.0))
                self.heads = lib.ModuleDict({"a": lib.Linear(2, 1), "b": lib.Linear(2, 1)})
                self.fc2 = lib.Linear(2, 2)

        net = Net()
        net.fc1 = lib.Linear(2, 3)
        net.scale = param(3)
        net.register_buffer("count", buffer(1.0))
        net.heads["a"] = lib.Linear(2, 4)
        return net

    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [tuple(p.shape) for p in ours.parameters()] == [
        tuple(p.shape) for p in theirs.parameters()
    ]


def test_to_dtype_casts_floating_parameters_and_buffers_like_torch():
    import pytest

    for cast, tcast in [
        (lambda m: m.to(em.bfloat16), lambda m: m.to(torch.bfloat16)),
        (lambda m: m.to("cpu", dtype=em.float16), lambda m: m.to("cpu", dtype=torch.float16)),
        (lambda m: m.half(), lambda m: m.half()),
        (lambda m: m.bfloat16().float(), lambda m: m.bfloat16().float()),
    ]:
        em.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        ref = torch.nn.Sequential(
            torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)
        )
        ref.load_state_dict(
            {k: torch.from_numpy(np.asarray(v)) for k, v in net.state_dict().items()}
        )
        cast(net), tcast(ref)
        ours = net.state_dict()
        for name, value in ref.state_dict().items():
            if value.is_floating_point():
                assert str(ours[name].dtype) == str(value.dtype).removeprefix("torch."), name
                np.testing.assert_array_equal(
                    np.asarray(ours[name]).astype(np.float32), value.float().numpy(), err_msg=name
                )
    assert str(net[0].weight.dtype) == "float32"
    model = em.compile(net.to(em.bfloat16), loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    x = np.ones((8, 4), np.float32)
    assert np.isfinite(float(model.train_step(x, np.ones((8, 2), np.float32))["loss"]))
    assert str(net[0].weight.dtype) == "bfloat16"
    with pytest.raises(TypeError, match="only casts to floating-point dtypes"):
        net.to(em.int32)


def test_repr_matches_torch_layout():
    expected = (
        "EmberMLP(\n"
        "  (fc1): Linear(in_features=784, out_features=128, bias=True)\n"
        "  (fc2): Linear(in_features=128, out_features=10, bias=True)\n"
        ")"
    )
    assert repr(EmberMLP()) == expected
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.1))
    assert repr(seq) == repr(
        torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Dropout(0.1))
    )


def test_train_eval_modes_propagate():
    seq = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    seq.eval()
    assert not seq[1].training
    seq.train()
    assert all(m.training for m in seq.modules())


def test_lazy_init_is_deterministic_and_follows_pytorch_bounds():
    em.manual_seed(7)
    a = EmberMLP()
    em.manual_seed(7)
    b = EmberMLP()
    _ = b.fc2.weight.data  # materialize in a different order: same values
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])
    em.manual_seed(8)
    c = EmberMLP()
    assert not np.array_equal(c.state_dict()["fc1.weight"], a.state_dict()["fc1.weight"])
    w = a.state_dict()["fc1.weight"]
    bound = 1 / np.sqrt(784)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound  # uniform(-b, b) has std b/sqrt(3)


def test_module_reflects_trained_values_and_load_after_compile_reaches_the_step():
    net = EmberMLP()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.5))
    before = net.state_dict()["fc2.bias"].clone()
    x, y = mnist_like(32)
    model.train_step(x, y)
    assert not np.allclose(net.fc2.bias.numpy(), before)
    zeros = {k: np.zeros_like(v) for k, v in net.state_dict().items()}
    net.load_state_dict(zeros)
    np.testing.assert_array_equal(model.predict(x), np.zeros((32, 10), np.float32))


def test_calling_a_module_twice_with_same_shapes_compiles_once():
    net = EmberMLP()
    x, _ = mnist_like(8)
    before = em.compile_count("EmberMLP.__call__")
    y1 = net(x)
    y2 = net(x + 1)
    assert em.compile_count("EmberMLP.__call__") == before + 1
    assert y1.shape == (8, 10) and isinstance(y1, em.Tensor) and not np.allclose(y1, y2)
    net(x[:4])
    assert em.compile_count("EmberMLP.__call__") == before + 2


def test_fit_accepts_an_iterable_of_batches_like_a_dataloader():
    x, y = mnist_like(64)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(ds, batch_size=16)
    net = EmberMLP()
    model = em.compile(
        net, loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(lr=1e-3), metrics=["accuracy"]
    )
    history = model.fit(loader, epochs=3, verbose=0)
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    result = model.evaluate(x, y, verbose=0)
    assert set(result) == {"loss", "accuracy"}
    assert model.predict(x, batch_size=48).shape == (64, 10)  # ragged tail padded


def test_train_step_respects_submodules_the_user_put_in_eval_mode():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    net[1].eval()  # frozen statistics while fine-tuning, as in PyTorch
    before = net.state_dict()["1.running_mean"].clone()
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model.train_step(x, x)
    np.testing.assert_array_equal(net.state_dict()["1.running_mean"], before)
    assert net.training and not net[1].training and net[2].training  # flags restored
    model.predict(x)
    assert net.training and not net[1].training
