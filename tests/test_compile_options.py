"""Compile-time training options: LR changes without recompiles, schedulers, clipping,
gradient accumulation, optimizer state round trip — against PyTorch."""

import numpy as np
import pytest
import torch

import ember as em
from ember import nn, optim


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 7)
        self.fc2 = nn.Linear(7, 3)

    def forward(self, x):
        return self.fc2(em.tanh(self.fc1(x)))


def torch_small():
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _to_torch_names(k):
    return k.replace("fc1", "0").replace("fc2", "2")


def pair(seed=0):
    torch.manual_seed(seed)
    t = torch_small()
    e = Small()
    e.load_state_dict({k: t.state_dict()[_to_torch_names(k)].numpy() for k in e.state_dict()})
    return t, e


def mse(out, target):
    return ((out - target) ** 2).mean()


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)).astype(np.float32), rng.standard_normal((n, 3)).astype(
        np.float32
    )


def torch_step(t, opt, x, y, clip=None):
    opt.zero_grad()
    loss = ((t(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(t.parameters(), clip)
    opt.step()
    return loss.item()


def assert_same_params(t, e, rtol=1e-5, atol=1e-6):
    sd = e.state_dict()
    for k, v in sd.items():
        np.testing.assert_allclose(
            v, t.state_dict()[_to_torch_names(k)].numpy(), rtol=rtol, atol=atol, err_msg=k
        )


def test_changing_lr_100_times_compiles_once_and_matches_torch():
    t, e = pair()
    topt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)
    eopt = optim.SGD(e.parameters(), lr=0.1, momentum=0.9)
    model = em.compile(e, loss=mse, optimizer=eopt)
    x, y = data()
    for i in range(100):
        lr = 0.05 * (1 + np.sin(i / 7))
        for g in topt.param_groups:
            g["lr"] = lr
        eopt.param_groups[0]["lr"] = lr
        torch_step(t, topt, x, y)
        model.train_step(x, y)
    assert model.compile_count == 1
    ((step, _),) = model.programs.programs.values()
    assert step._cache_size() == 1  # jax did not retrace either
    assert_same_params(t, e, rtol=1e-4, atol=1e-5)


def test_scheduler_stepped_per_epoch_from_fit_callbacks_matches_torch():
    t, e = pair(1)
    topt = torch.optim.SGD(t.parameters(), lr=0.2)
    eopt = optim.SGD(e.parameters(), lr=0.2)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    esched = optim.lr_scheduler.StepLR(eopt, step_size=2, gamma=0.5)

    class StepScheduler:
        def on_epoch_end(self, epoch, logs):
            esched.step()

    model = em.compile(e, loss=mse, optimizer=eopt)
    x, y = data(32)
    model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[StepScheduler()])
    for _ in range(5):
        for i in range(0, 32, 8):
            torch_step(t, topt, x[i : i + 8], y[i : i + 8])
        tsched.step()
    assert esched.get_last_lr() == pytest.approx(tsched.get_last_lr())
    assert model.compile_count == 1
    assert_same_params(t, e, rtol=1e-4, atol=1e-5)


def test_clip_grad_norm_matches_torch():
    t, e = pair(2)
    topt = torch.optim.SGD(t.parameters(), lr=0.3)
    model = em.compile(e, loss=mse, optimizer=optim.SGD(lr=0.3), clip_grad_norm=0.05)
    x, y = data()
    for _ in range(10):
        torch_step(t, topt, x, y, clip=0.05)
        model.train_step(x, y)
    assert_same_params(t, e)


def test_clip_grad_value_clamps_each_gradient():
    _, e = pair(3)
    before = e.state_dict()
    model = em.compile(
        e, loss=lambda o, y: (o * 1000.0).sum(), optimizer=optim.SGD(lr=1.0), clip_grad_value=0.01
    )
    x, y = data()
    model.train_step(x, y)
    for k, v in e.state_dict().items():
        assert np.abs(v - before[k]).max() <= 0.01 + 1e-6


def test_gradient_accumulation_equals_one_large_batch_step():
    _, e1 = pair(4)
    _, e2 = pair(4)
    big = em.compile(e1, loss=mse, optimizer=optim.Adam(lr=0.01))
    acc = em.compile(e2, loss=mse, optimizer=optim.Adam(lr=0.01), accumulate_steps=4)
    x, y = data(32)
    for _ in range(3):
        big.train_step(x, y)
        before = e2.state_dict()
        for k in range(4):
            acc.train_step(x[k * 8 : (k + 1) * 8], y[k * 8 : (k + 1) * 8])
            if k < 3:  # no update until the 4th micro-batch
                for name, v in e2.state_dict().items():
                    np.testing.assert_array_equal(v, before[name])
    for k, v in e1.state_dict().items():
        np.testing.assert_allclose(e2.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_optimizer_state_round_trips_and_training_resumes_identically():
    _, e1 = pair(5)
    m1 = em.compile(e1, loss=mse, optimizer=optim.Adam(lr=0.01))
    x, y = data()
    for _ in range(5):
        m1.train_step(x, y)
    saved = m1.state_dict()
    _, e2 = pair(6)
    m2 = em.compile(e2, loss=mse, optimizer=optim.Adam(lr=0.01))
    m2.load_state_dict(saved)
    assert m2.step == 5
    for _ in range(5):
        m1.train_step(x, y)
        m2.train_step(x, y)
    for k, v in e1.state_dict().items():
        np.testing.assert_array_equal(e2.state_dict()[k], v)


def test_param_group_without_weight_decay_is_untouched_by_decay():
    # zero gradients: any change can only come from decoupled weight decay
    _, e = pair(7)
    before = e.state_dict()
    groups = [
        {"params": [e.fc1.weight, e.fc2.weight]},
        {"params": [e.fc1.bias, e.fc2.bias], "weight_decay": 0.0},
    ]
    model = em.compile(
        e,
        loss=lambda o, y: (o * 0.0).sum(),
        optimizer=optim.AdamW(groups, lr=0.01, weight_decay=0.1),
    )
    x, y = data()
    for _ in range(5):
        model.train_step(x, y)
    after = e.state_dict()
    for name in ("fc1.bias", "fc2.bias"):
        np.testing.assert_array_equal(after[name], before[name])
    for name in ("fc1.weight", "fc2.weight"):
        np.testing.assert_allclose(after[name], before[name] * (1 - 0.01 * 0.1) ** 5, rtol=1e-6)


def test_frozen_parameters_are_not_updated_even_when_given_to_the_optimizer():
    _, e = pair(8)
    e.fc1.weight.requires_grad = False
    before = e.state_dict()
    model = em.compile(e, loss=mse, optimizer=optim.AdamW(e.parameters(), lr=0.1, weight_decay=0.5))
    x, y = data()
    for _ in range(3):
        model.train_step(x, y)
    after = e.state_dict()
    np.testing.assert_array_equal(after["fc1.weight"], before["fc1.weight"])
    assert not np.allclose(after["fc1.bias"], before["fc1.bias"])
