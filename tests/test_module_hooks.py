"""Forward hooks (`register_forward_pre_hook`, `register_forward_hook`) against PyTorch:
feature extraction in eager calls, hooks that change inputs and outputs in compiled
training steps, ordering, kwargs, removal, and the error for backward hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import settle_pending_tensors_of_earlier_tests

import ember as em
from ember import nn, optim


def _define(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = lib.nn.Linear(5, 8)
            self.bn = lib.nn.BatchNorm1d(8)
            self.act = lib.nn.Tanh()
            self.fc2 = lib.nn.Linear(8, 3)

        def forward(self, x, scale=1.0):
            return self.fc2(self.act(self.bn(self.fc1(x)))) * scale

    return Net


def _pair():
    em.manual_seed(0)
    net = _define(em)()
    ref = _define(torch)()
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    return net, ref


def _batches(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((6, 5)).astype(np.float32),
            rng.standard_normal((6, 3)).astype(np.float32),
        )
        for _ in range(n)
    ]


def _close(a, b, rtol=1e-5, atol=1e-6, msg=""):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, err_msg=msg)


def test_forward_hooks_capture_every_eager_call_like_torch():
    net, ref = _pair()
    seen = {"ember": {}, "torch": {}}
    for lib, model in (("ember", net), ("torch", ref)):
        for name in ("fc1", "bn", "act"):
            getattr(model, name).register_forward_hook(
                lambda m, args, out, name=name, lib=lib: seen[lib].__setitem__(name, out.detach())
            )
    for x, _ in _batches():  # train mode: bn uses and updates batch statistics
        out = net(em.tensor(x))
        out_ref = ref(torch.from_numpy(x))
        _close(out.detach().numpy(), out_ref.detach().numpy())
        for name in ("fc1", "bn", "act"):
            _close(seen["ember"][name].numpy(), seen["torch"][name].numpy(), msg=name)
    _close(net.bn.running_mean.numpy(), ref.bn.running_mean.numpy())
    _close(net.bn.running_var.numpy(), ref.bn.running_var.numpy())


def test_hooks_that_change_inputs_and_outputs_train_compiled_like_torch():
    net, ref = _pair()
    for model in (net, ref):
        model.fc1.register_forward_pre_hook(lambda m, args: (args[0] * 0.5,))
        model.act.register_forward_hook(lambda m, args, out: out + args[0] * 0.1)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for x, y in _batches():
        loss = model.train_step(x, y)["loss"]
        opt.zero_grad()
        loss_ref = torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y))
        loss_ref.backward()
        opt.step()
        _close(float(loss), loss_ref.item())
    for name, value in ref.state_dict().items():
        _close(net.state_dict()[name], value.numpy(), msg=name)


def test_removing_a_hook_retraces_the_compiled_step():
    net, ref = _pair()
    handle = net.fc2.register_forward_hook(lambda m, args, out: out * 0.0)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.0))
    x, y = _batches(1)[0]
    hooked = float(model.eval_step(x, y)["loss"])
    _close(hooked, float(np.mean(y**2)))  # the hook zeroed the output
    handle.remove()
    model.reset_metrics()  # eval logs average over the calls since the last reset
    unhooked = float(model.eval_step(x, y)["loss"])
    ref.eval()
    want = torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y)).item()
    _close(unhooked, want)
    assert not np.isclose(hooked, unhooked)


def test_order_prepend_kwargs_and_context_handles_match_torch():
    calls = {"ember": [], "torch": []}

    def run(lib, model):
        log = calls[lib]
        model.register_forward_pre_hook(lambda m, args: log.append("pre-a"))
        model.register_forward_pre_hook(lambda m, args: log.append("pre-b"), prepend=True)

        def kw_pre(m, args, kwargs):
            log.append("pre-kw")
            return args, {**kwargs, "scale": 2.0}

        model.register_forward_pre_hook(kw_pre, with_kwargs=True)
        model.register_forward_hook(lambda m, args, out: log.append("post-a"))

        def kw_post(m, args, kwargs, out):
            log.append(f"post-kw scale={kwargs['scale']}")
            return out + 1

        with model.register_forward_hook(kw_post, with_kwargs=True, prepend=True):
            x = _batches(1)[0][0]
            first = model(em.tensor(x) if lib == "ember" else torch.from_numpy(x), scale=3.0)
        second = model(em.tensor(x) if lib == "ember" else torch.from_numpy(x))
        return first.detach().numpy(), second.detach().numpy()

    net, ref = _pair()
    net.eval()
    ref.eval()
    got, want = run("ember", net), run("torch", ref)
    assert calls["ember"] == calls["torch"]
    _close(got[0], want[0])
    _close(got[1], want[1])


def test_always_call_hooks_run_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    seen = []
    m = Boom()
    m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    m.register_forward_hook(lambda mod, args, out: seen.append("not always"))
    with pytest.raises(ValueError, match="boom"):
        m(em.ones(2))
    assert seen == [None]


def test_an_output_kept_by_a_hook_gets_its_gradient_like_torch():
    net, ref = _pair()
    kept = {}
    net.act.register_forward_hook(lambda m, args, out: kept.__setitem__("ember", out))
    ref.act.register_forward_hook(lambda m, args, out: kept.__setitem__("torch", out))
    x, y = _batches(1)[0]
    loss = nn.functional.mse_loss(net(em.tensor(x)), em.tensor(y))
    loss_ref = torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y))
    (g,) = em.autograd.grad(loss, kept["ember"])
    (g_ref,) = torch.autograd.grad(loss_ref, kept["torch"])
    _close(g.numpy(), g_ref.numpy())


def test_backward_hooks_say_what_to_use_instead():
    net, _ = _pair()
    with pytest.raises(NotImplementedError, match=r"Linear.register_full_backward_hook.*fix"):
        net.fc1.register_full_backward_hook(lambda m, gi, go: None)
    with pytest.raises(TypeError, match="callable"):
        net.register_forward_hook("not a function")


def _define_gradcam(lib):
    class GradCam(lib.nn.Module):
        """Grad-CAM's recipe: keep a feature map's gradient with a hook set in forward."""

        def __init__(self):
            super().__init__()
            self.features = lib.nn.Conv2d(3, 4, 3)
            self.head = lib.nn.Linear(4 * 4 * 4, 2)
            self.gradients = None

        def save_gradient(self, grad):
            self.gradients = grad

        def forward(self, x):
            a = self.features(x).relu()
            a.register_hook(self.save_gradient)
            self.kept = a
            a.retain_grad()
            return self.head(a.flatten(1))

    return GradCam


def test_tensor_hooks_set_in_forward_see_every_eager_calls_gradient_like_torch():
    em.manual_seed(0)
    net, ref = _define_gradcam(em)(), _define_gradcam(torch)()
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    rng = np.random.default_rng(0)
    for _ in range(2):  # the hook runs on every call, with that call's gradient
        x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
        net(em.tensor(x))[:, 1].sum().backward()
        ref(torch.from_numpy(x))[:, 1].sum().backward()
        _close(net.gradients.numpy(), ref.gradients.numpy())
        _close(net.kept.grad.numpy(), ref.kept.grad.numpy())


def test_an_eager_call_of_a_hooked_module_does_not_retrace_the_compiled_step():
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)

        def forward(self, x):
            out = self.fc(x)
            self.last_map = out  # ViT-style bookkeeping on self
            return out

    settle_pending_tensors_of_earlier_tests()
    net = Attention()
    net.register_forward_hook(lambda m, args, out: None)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    x, y = _batches(1)[0]
    for _ in range(2):  # the step, the eager call and the lazy cut that runs it
        model.train_step(x, y)
        net(em.tensor(x))
    before = em.compile_count()
    for _ in range(3):
        model.train_step(x, y)
        net(em.tensor(x))
    assert em.compile_count() == before
