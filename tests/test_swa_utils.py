"""`ember.optim.swa_utils` against `torch.optim.swa_utils`: the averages after the same
weight sequences, SWALR's lrs, update_bn's statistics, state-dict keys; and SWA of a
model trained by the PyTorch loop and by a compiled model, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim import swa_utils as tswa

import ember as em
from ember import nn, optim
from ember.optim import swa_utils as eswa


def _pair(momentum: float = 0.1):
    em.manual_seed(0)
    ours = nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=momentum), nn.ReLU(), nn.Linear(4, 2)
    )
    ref = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        torch.nn.BatchNorm1d(4, momentum=momentum),
        torch.nn.ReLU(),
        torch.nn.Linear(4, 2),
    )
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    return ours, ref


def _weights(ref: torch.nn.Module, k: int, rng: np.random.Generator) -> dict:
    """A random state dict for step k (counters count up, variances stay positive)."""
    out = {}
    for name, value in ref.state_dict().items():
        if not value.dtype.is_floating_point:
            out[name] = np.array(3 * k + 1, np.int64)
            continue
        out[name] = rng.standard_normal(tuple(value.shape)).astype(np.float32)
        if name.endswith("running_var"):
            out[name] = np.abs(out[name]) + 0.5
    return out


def _assert_state_matches(ours: em.nn.Module, ref: torch.nn.Module, rtol=1e-6, atol=1e-7):
    got, want = ours.state_dict(), ref.state_dict()
    assert list(got) == list(want)
    for name, value in want.items():
        np.testing.assert_allclose(
            np.asarray(got[name], np.float64),
            value.numpy().astype(np.float64),
            rtol=rtol,
            atol=atol,
            err_msg=name,
        )


AVERAGES = {
    "swa": lambda lib: {},
    "ema_multi": lambda lib: {"multi_avg_fn": lib.get_ema_multi_avg_fn(0.9)},
    "ema_avg_fn": lambda lib: {"avg_fn": lib.get_ema_avg_fn(0.8)},
    "swa_multi": lambda lib: {"multi_avg_fn": lib.get_swa_multi_avg_fn()},
    "custom_avg_fn": lambda lib: {"avg_fn": lambda a, c, n: a + (c - a) * 0.25},
}


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", list(AVERAGES))
def test_averaged_model_matches_torch_on_the_same_weights(kind: str, use_buffers: bool):
    if kind == "swa_multi" and use_buffers:
        pytest.skip("torch's SWA multi_avg_fn rejects integer buffers (addcdiv)")
    ours, ref = _pair()
    avg = eswa.AveragedModel(ours, use_buffers=use_buffers, **AVERAGES[kind](eswa))
    tavg = tswa.AveragedModel(ref, use_buffers=use_buffers, **AVERAGES[kind](tswa))
    rng = np.random.default_rng(0)
    for k in range(4):
        sd = _weights(ref, k, rng)
        ours.load_state_dict(sd)
        ref.load_state_dict({n: torch.from_numpy(v) for n, v in sd.items()})
        avg.update_parameters(ours)
        tavg.update_parameters(ref)
        _assert_state_matches(avg, tavg)  # keys: n_averaged, then module.<...>
    assert int(avg.n_averaged.item()) == 4
    x = rng.standard_normal((5, 3)).astype(np.float32)
    avg.eval()
    tavg.eval()
    np.testing.assert_allclose(
        avg(em.tensor(x)).numpy(), tavg(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_averaged_copy_is_independent_and_loads_torch_state():
    ours, ref = _pair()
    avg = eswa.AveragedModel(ours)
    before = avg.module[0].weight.numpy()
    ours[0].weight.data = np.zeros((4, 3), np.float32)
    np.testing.assert_array_equal(avg.module[0].weight.numpy(), before)  # a deep copy
    tavg = tswa.AveragedModel(ref)
    tavg.update_parameters(ref)
    avg.load_state_dict({k: v.numpy() for k, v in tavg.state_dict().items()})
    _assert_state_matches(avg, tavg)


def test_bad_arguments_are_named():
    ours, _ = _pair()
    with pytest.raises(ValueError, match="Only one of avg_fn and multi_avg_fn"):
        eswa.AveragedModel(ours, avg_fn=eswa.get_swa_avg_fn(), multi_avg_fn=lambda *a: None)
    for fn in (eswa.get_ema_multi_avg_fn, eswa.get_ema_avg_fn):
        with pytest.raises(ValueError, match="decay"):
            fn(1.5)
    avg = eswa.AveragedModel(ours)
    with pytest.raises(ValueError, match="the model has 2 parameters"):
        avg.update_parameters(nn.Linear(3, 4))
    model = em.compile(ours, loss=nn.MSELoss(), optimizer=optim.SGD(ours.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="pass the nn.Module you compiled"):
        avg.update_parameters(model)


def _sgd_reference(w, b, batches, lrs):
    """Plain SGD on MSE for a Linear layer, in float64: the weights after each step."""
    out = []
    for (x, y), lr in zip(batches, lrs, strict=True):
        pred = x @ w.T + b
        grad = 2 * (pred - y) / pred.size
        w, b = w - lr * grad.T @ x, b - lr * grad.sum(0)
        out.append((w, b))
    return out


@pytest.mark.parametrize("runner", ["literal_loop", "compiled"])
def test_swa_of_trained_weights_with_swalr_matches_numpy(runner: str):
    """The SWA recipe: steps with SWALR's lrs, then an average of the weights after each."""
    em.manual_seed(0)
    net = nn.Linear(3, 2)
    w0, b0 = net.weight.numpy().astype(np.float64), net.bias.numpy().astype(np.float64)
    optimizer = optim.SGD(net.parameters(), lr=0.5)
    swa_model = eswa.AveragedModel(net)
    ema_model = eswa.AveragedModel(net, multi_avg_fn=eswa.get_ema_multi_avg_fn(0.7))
    scheduler = eswa.SWALR(optimizer, swa_lr=0.05, anneal_epochs=2, anneal_strategy="linear")
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optimizer)
    rng = np.random.default_rng(1)
    batches = [
        (rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype("f4"))
        for _ in range(5)
    ]
    lrs = []
    for x, y in batches:
        lrs.append(optimizer.param_groups[0]["lr"])
        if runner == "compiled":
            model.train_step(x, y)
        else:
            optimizer.zero_grad()
            nn.MSELoss()(net(em.tensor(x)), em.tensor(y)).backward()
            optimizer.step()
        swa_model.update_parameters(net)
        ema_model.update_parameters(net)
        scheduler.step()
    assert lrs == pytest.approx([0.5, 0.275, 0.05, 0.05, 0.05])
    trained = _sgd_reference(w0, b0, [(x.astype("f8"), y.astype("f8")) for x, y in batches], lrs)
    np.testing.assert_allclose(net.weight.numpy(), trained[-1][0], rtol=1e-4, atol=1e-5)
    for i, name in enumerate(("weight", "bias")):
        steps = np.stack([t[i] for t in trained])
        swa = getattr(swa_model.module, name).numpy()
        np.testing.assert_allclose(swa, steps.mean(0), rtol=1e-4, atol=1e-5)
        ema = steps[0]
        for s in steps[1:]:
            ema = 0.7 * ema + 0.3 * s
        np.testing.assert_allclose(
            getattr(ema_model.module, name).numpy(), ema, rtol=1e-4, atol=1e-5
        )
    # the next steps donate the model's arrays; the averaged copy keeps its own
    averaged = swa_model.module.weight.numpy()
    for x, y in batches[:2]:
        model.train_step(x, y)
    np.testing.assert_array_equal(swa_model.module.weight.numpy(), averaged)
    assert not np.allclose(net.weight.numpy(), trained[-1][0])


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 4])
def test_swalr_lrs_match_torch(strategy: str, anneal_epochs: int):
    lrs = (0.5, 0.2)
    tparams = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    topt = torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(tparams, lrs, strict=True)], lr=0.1
    )
    eparams = [nn.Parameter(np.zeros(1, np.float32)) for _ in lrs]
    eopt = optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(eparams, lrs, strict=True)], lr=0.1
    )
    kw = {"swa_lr": [0.05, 0.01], "anneal_epochs": anneal_epochs, "anneal_strategy": strategy}
    tsched, esched = tswa.SWALR(topt, **kw), eswa.SWALR(eopt, **kw)
    ours, theirs = [esched.get_last_lr()], [tsched.get_last_lr()]
    for i in range(8):
        topt.step()
        if i == 3:  # another schedule changes the lr mid-way: SWALR continues from it
            for group in (*topt.param_groups, *eopt.param_groups):
                group["lr"] *= 2
        tsched.step()
        esched.step()
        ours.append(esched.get_last_lr())
        theirs.append(tsched.get_last_lr())
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert [g["lr"] for g in eopt.param_groups] == ours[-1]


def test_swalr_resumes_from_its_state_dict_and_rejects_what_torch_rejects():
    eopt = optim.SGD([nn.Parameter(np.zeros(1, np.float32))], lr=0.3)
    sched = eswa.SWALR(eopt, swa_lr=0.01, anneal_epochs=5)
    for _ in range(2):
        sched.step()
    state = sched.state_dict()
    expected = []
    for _ in range(4):
        sched.step()
        expected.append(sched.get_last_lr())
    eopt2 = optim.SGD([nn.Parameter(np.zeros(1, np.float32))], lr=0.3)
    resumed = eswa.SWALR(eopt2, swa_lr=0.5, anneal_epochs=1, anneal_strategy="linear")
    resumed.load_state_dict(state)
    eopt2.param_groups[0]["lr"] = state["_last_lr"][0]  # as the optimizer's state would
    got = []
    for _ in range(4):
        resumed.step()
        got.append(resumed.get_last_lr())
    assert got == expected
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    for lib, opt in ((tswa, topt), (eswa, eopt)):
        with pytest.raises(ValueError, match="anneal_strategy"):
            lib.SWALR(opt, swa_lr=0.1, anneal_strategy="step")
        with pytest.raises(ValueError, match="anneal_epochs"):
            lib.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
        with pytest.raises(ValueError, match="swa_lr"):
            lib.SWALR(opt, swa_lr=[0.1, 0.2])


def test_update_bn_matches_torch_and_leaves_momentum_and_modes_as_they_were():
    ours, ref = _pair(momentum=0.3)
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((n, 3)).astype(np.float32) * 2 + 1 for n in (8, 8, 5)]
    # a train-mode call of the same shape first: its cached program has momentum=0.3
    ours(em.tensor(batches[0]))
    ref(torch.from_numpy(batches[0]))
    ours.eval()
    ref.eval()
    eswa.update_bn([(em.tensor(b), 0) for b in batches], ours)
    tswa.update_bn([(torch.from_numpy(b), 0) for b in batches], ref)
    _assert_state_matches(ours, ref, rtol=1e-5, atol=1e-6)
    assert not ours.training and not ours[1].training and ours[1].momentum == 0.3
    ours.train()  # and later training uses momentum=0.3 again
    ref.train()
    ours(em.tensor(batches[1]))
    ref(torch.from_numpy(batches[1]))
    _assert_state_matches(ours, ref, rtol=1e-5, atol=1e-6)


def test_update_bn_on_an_averaged_model_from_a_data_loader():
    from ember.utils.data import DataLoader, TensorDataset

    ours, ref = _pair()
    avg, tavg = eswa.AveragedModel(ours), tswa.AveragedModel(ref)
    avg.update_parameters(ours)
    tavg.update_parameters(ref)
    x = np.random.default_rng(3).standard_normal((20, 3)).astype(np.float32)
    y = np.zeros(20, np.float32)
    eswa.update_bn(DataLoader(TensorDataset(x, y), batch_size=8), avg)
    tswa.update_bn(
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)), 8), tavg
    )
    _assert_state_matches(avg, tavg, rtol=1e-5, atol=1e-6)
    plain = nn.Linear(3, 2)
    eswa.update_bn([em.tensor(x)], plain)  # no BatchNorm: nothing to do


def test_averaging_a_scanned_model_reads_its_stacked_storage_without_dissolving_it():
    from ember.nn.parameter_stack import StackMember

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return em.tanh(self.fc(x))

    em.manual_seed(0)
    net = nn.Sequential(*[Block() for _ in range(3)], nn.Linear(4, 1))
    model = em.compile(
        net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1), scan_layers=True
    )
    ema = eswa.AveragedModel(net, multi_avg_fn=eswa.get_ema_multi_avg_fn(0.5))
    rng = np.random.default_rng(4)
    history = []
    for _ in range(3):
        x, y = rng.standard_normal((6, 4)).astype("f4"), rng.standard_normal((6, 1)).astype("f4")
        model.train_step(x, y)
        ema.update_parameters(net)
        history.append({k: np.array(v) for k, v in net.state_dict().items()})
    assert type(net[0].fc.weight._data) is StackMember  # still one array per name
    for name in history[0]:
        expected = history[0][name]
        for step in history[1:]:
            expected = 0.5 * expected + 0.5 * step[name]
        np.testing.assert_allclose(
            ema.state_dict()["module." + name], expected, rtol=1e-6, atol=1e-7, err_msg=name
        )
