"""State idioms of PyTorch training scripts, each run with torch and ember on the same
weights and data: a layer setting changed after the first call (`bn.momentum = None`,
`drop.p = 0`), a DQN target network filled with `copy_` and trained past, and a deep
copy taken right after an eager train-mode forward."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers import mse_steps_side_by_side

import ember as em
from ember import nn, optim


def _x(seed=0, shape=(8, 4)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


class StoresKL(nn.Module):
    """An encoder whose forward stores a tensor on self (the VAE tutorial's `self.kl`)."""

    def __init__(self, out: int = 3):
        super().__init__()
        self.fc, self.kl = nn.Linear(4, out), 0

    def forward(self, x):
        h = self.fc(x)
        self.kl = (h * h).mean()
        return h


def test_changed_layer_settings_reach_eager_and_compiled_steps_like_torch():
    bn, ref = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    for k in range(2):
        bn(em.tensor(_x(k)))
        ref(torch.from_numpy(_x(k)))
    bn.momentum = ref.momentum = None  # a cumulative average from here on
    for k in range(2, 4):
        bn(em.tensor(_x(k)))
        ref(torch.from_numpy(_x(k)))
    np.testing.assert_allclose(bn.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), ref.running_var.numpy(), rtol=1e-5)

    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.9))
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.0))
    y = np.zeros((8, 3), np.float32)
    model.train_step(_x(), y)  # traced with p = 0.9
    net[1].p = 0.0
    loss = float(model.train_step(_x(), y)["loss"])
    lin = torch.nn.Linear(4, 3)
    lin.load_state_dict(
        {k.split(".", 1)[1]: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()}
    )
    want = torch.nn.functional.mse_loss(lin(torch.from_numpy(_x())), torch.from_numpy(y)).item()
    np.testing.assert_allclose(loss, want, rtol=1e-5)


def test_a_target_network_filled_with_copy_survives_training_like_torch():
    em.manual_seed(0)
    net, target = nn.Linear(4, 2), nn.Linear(4, 2)
    ref, ref_target = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    opt, ref_opt = optim.SGD(net.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), lr=0.1)
    for step in range(4):
        if step % 2 == 0:  # DQN: refresh the target network every few steps
            for (t, p), (rt, rp) in zip(
                zip(target.parameters(), net.parameters(), strict=True),
                zip(ref_target.parameters(), ref.parameters(), strict=True),
                strict=True,
            ):
                t.data.copy_(p.detach())
                rt.data.copy_(rp.detach())
        x = _x(step)
        for model, tgt, o, lib in ((net, target, opt, em), (ref, ref_target, ref_opt, torch)):
            xt = lib.tensor(x) if lib is em else torch.from_numpy(x)
            o.zero_grad()
            with (em if lib is em else torch).no_grad():
                goal = tgt(xt).max(1).values
            ((model(xt).max(1).values - goal) ** 2 + model(xt).square().mean()).mean().backward()
            o.step()
    for got, want in ((net, ref), (target, ref_target)):
        for name, value in want.state_dict().items():
            np.testing.assert_allclose(
                np.asarray(got.state_dict()[name]), value.numpy(), rtol=1e-5, atol=1e-6
            )


def test_a_deep_copy_right_after_an_eager_forward_keeps_the_new_statistics():
    bn, ref = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    bn(em.tensor(_x()))
    ref(torch.from_numpy(_x()))
    twin, ref_twin = copy.deepcopy(bn), copy.deepcopy(ref)
    np.testing.assert_allclose(twin.running_mean.numpy(), ref_twin.running_mean.numpy(), rtol=1e-5)
    bn(em.tensor(_x(1)))  # the copy is independent
    np.testing.assert_allclose(twin.running_mean.numpy(), ref_twin.running_mean.numpy(), rtol=1e-5)


def _define_scaled(lib):
    class Scaled(lib.nn.Module):
        scale = 1.0  # a class-level default, overridden per instance

        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) * self.scale + getattr(self, "offset", 0.0)

    return Scaled


def test_settings_follow_class_defaults_new_and_deleted_attributes_like_torch():
    em.manual_seed(0)
    net, ref = _define_scaled(em)(), _define_scaled(torch)()
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.0))
    y = np.zeros((8, 3), np.float32)

    def check():
        want = torch.nn.functional.mse_loss(ref(torch.from_numpy(_x())), torch.from_numpy(y))
        np.testing.assert_allclose(float(model.train_step(_x(), y)["loss"]), want.item(), rtol=1e-5)
        np.testing.assert_allclose(
            net(em.tensor(_x())).numpy(), ref(torch.from_numpy(_x())).detach().numpy(), rtol=1e-5
        )

    check()
    net.scale = ref.scale = 3.0  # overrides the class default
    check()
    net.offset = ref.offset = 10.0  # an attribute forward reads with getattr(..., default)
    check()
    del net.offset, ref.offset
    check()


def test_switching_a_setting_back_reuses_its_program():
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    y = np.zeros((8, 3), np.float32)
    counts = []
    for step in range(6):
        net[1].p = 0.5 if step % 2 == 0 else 0.0
        before = em.compile_count()
        model.train_step(_x(), y)
        counts.append(em.compile_count() - before)
    assert counts == [1, 1, 0, 0, 0, 0], counts  # one program per value of p
    net[1].p = 0.5  # an equal value assigned again: nothing to retrace
    before = em.compile_count()
    model.train_step(_x(), y)
    assert em.compile_count() == before


def test_a_tensor_stored_on_self_in_forward_is_this_calls_value_like_torch():
    """The popular VAE tutorial's idiom: the encoder's forward sets `self.kl = ...` and the
    loop adds `model.encoder.kl` to the loss. The eager call's program returns the stored
    tensors, so the attribute holds this call's value (with its gradient path)."""

    def build(lib, fn):
        class Encoder(lib.Module):
            def __init__(self):
                super().__init__()
                self.fc = lib.Linear(4, 3)
                self.kl = 0

            def forward(self, x):
                h = self.fc(x)
                self.kl = (fn.exp(h) - h).sum() * 0.1  # depends on this call's input
                self._last_hidden = h  # a private attribute too
                return h

        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.encoder, self.head = Encoder(), lib.Linear(3, 2)

            def forward(self, x):
                return self.head(fn.tanh(self.encoder(x)))

        return Net()

    em.manual_seed(0)
    net = build(nn, em)
    ref = build(torch.nn, torch)
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    opt = optim.SGD(net.parameters(), lr=0.05)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    target = np.ones((8, 2), np.float32)
    for k in range(4):
        out = net(em.tensor(_x(k)))
        loss = ((out - em.tensor(target)) ** 2).mean() + net.encoder.kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_out = ref(torch.from_numpy(_x(k)))
        ref_loss = ((ref_out - torch.from_numpy(target)) ** 2).mean() + ref.encoder.kl
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        np.testing.assert_allclose(float(loss), ref_loss.item(), rtol=1e-5)
        np.testing.assert_allclose(
            net.encoder._last_hidden.numpy(), ref.encoder._last_hidden.detach().numpy(), rtol=1e-5
        )
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[name]), value.numpy(), rtol=1e-5, err_msg=name
        )


def test_a_tensor_kept_from_a_compiled_step_says_where_it_came_from():
    net = StoresKL(out=2)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    model.train_step(_x(), np.zeros((8, 2), np.float32))
    with pytest.raises(em.TraceError, match="has finished.*training_step.*return it from forward"):
        float(net.kl)


def test_stored_tensors_read_inside_a_later_trace_are_errors_not_stale_values():
    """A cached program would freeze a stored tensor it reads (another module's `kl`, or a
    running value the forward overwrites): both raise, naming the fix."""

    class Criterion(nn.Module):
        def __init__(self, enc):
            super().__init__()
            self.enc = [enc]  # a reference, not a submodule

        def forward(self, out, target):
            return ((out - target) ** 2).mean() + self.enc[0].kl

    enc = StoresKL()
    out = enc(em.tensor(_x(0)))
    with pytest.raises(em.TraceError, match="stored on a module.*pass it as an argument"):
        Criterion(enc)(out, em.zeros(8, 3))

    class Running(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.avg = nn.Linear(4, 4), em.zeros(4)

        def forward(self, x):
            h = self.fc(x)
            self.avg = self.avg * 0.5 + h.mean(0) * 0.5
            return h

    with pytest.raises(em.TraceError, match=r"reads and overwrites .*\['avg'\].*register_buffer"):
        Running()(em.tensor(_x(0)))


def test_deepcopy_of_tensors_and_of_modules_holding_them_like_torch():
    """`copy.deepcopy` of a leaf keeps values and requires_grad (as torch); a module holding
    a tensor its forward stored (`best = deepcopy(model)` after an eager call) copies too."""
    w = em.tensor(_x(0), requires_grad=True)
    w.grad = em.ones(8, 4)
    c = copy.deepcopy(w)
    assert c is not w and c.requires_grad and c.is_leaf
    np.testing.assert_array_equal(c.numpy(), _x(0))
    np.testing.assert_array_equal(c.grad.numpy(), 1.0)
    ref = copy.deepcopy(torch.tensor(_x(0), requires_grad=True))
    assert ref.requires_grad == c.requires_grad

    enc = StoresKL()
    enc(em.tensor(_x(1)))
    best = copy.deepcopy(enc)
    assert float(best.kl) == float(enc.kl) and not best.kl.requires_grad
    best.fc.weight.data.mul_(0.0)  # independent of the original
    assert np.abs(enc.fc.weight.numpy()).sum() > 0


def test_stored_tensor_collection_is_per_thread():
    """A forward traced in one thread does not see (or record) another thread's writes,
    like the tracer's own stack."""
    import threading

    from ember.frontend import stored_tensors

    seen = []
    with stored_tensors.collect():
        assert stored_tensors.collecting()
        thread = threading.Thread(target=lambda: seen.append(stored_tensors.collecting()))
        thread.start()
        thread.join()
    assert seen == [False]
    assert not stored_tensors.collecting()


def test_a_model_ema_written_through_state_dict_entries_matches_torch():
    """timm's ModelEmaV2 idiom: `ema_v.copy_(ema_v * d + (1 - d) * model_v)` over the
    entries of `ema.state_dict()` (buffers and the int counter included), after every
    step of the literal loop; and the tutorial's `state_dict()[k].size()` printout."""

    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.BatchNorm1d(6), lib.nn.Linear(6, 2))

    torch.manual_seed(0)
    ref, ref_ema = build(torch), build(torch)
    ref_ema.load_state_dict(ref.state_dict())
    net, ema = build(em), build(em)
    weights = {k: v.numpy() for k, v in ref.state_dict().items()}
    net.load_state_dict(weights)
    ema.load_state_dict(weights)
    assert [tuple(v.size()) for v in net.state_dict().values()] == [
        tuple(v.size()) for v in ref.state_dict().values()
    ]
    # SGD: the first bias feeds BatchNorm, so its gradient is rounding noise, which Adam
    # would turn into +-lr steps of either sign
    opt, ref_opt = optim.SGD(net.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), 0.1)
    for k in range(3):
        x, y = _x(k), _x(k + 10, (8, 2))
        mse_steps_side_by_side(net, opt, ref, ref_opt, x, y)
        for model, averaged, lib in ((net, ema, em), (ref, ref_ema, torch)):
            with lib.no_grad():
                msd = model.state_dict()
                for name, ema_v in averaged.state_dict().items():
                    ema_v.copy_(ema_v * 0.9 + 0.1 * msd[name].detach())
    got, want = ema.state_dict(), ref_ema.state_dict()
    assert list(got) == list(want)
    for name, v in want.items():
        np.testing.assert_allclose(got[name].numpy(), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert not np.allclose(got["0.weight"].numpy(), net.state_dict()["0.weight"].numpy())


def test_a_tensor_read_from_outside_the_module_in_an_eager_call_warns_naming_the_fix():
    """`net(x)` reuses its traced program, so a global tensor forward reads is frozen at
    its first value (torch reads it anew): a warning says so at the user's line; tensors
    the module holds (attributes, lists of them) are not flagged."""
    state = {"noise": em.ones(1, 2)}

    class ReadsAGlobal(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.scale = em.full((1, 2), 2.0)
            self.masks = [em.ones(1, 2)]

        def forward(self, x):
            return self.fc(x) * self.scale * self.masks[0] + state["noise"]

    net = ReadsAGlobal()
    with pytest.warns(UserWarning, match="made outside the module") as caught:
        net(em.ones(1, 2))
    assert len(caught) == 1 and caught[0].filename == __file__
    assert "register_buffer" in str(caught[0].message)
