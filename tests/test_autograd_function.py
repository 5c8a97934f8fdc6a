"""Custom autograd (`em.autograd.Function`, `Tensor.register_hook`, `retain_grad`) against
torch.autograd: compiled train steps, the literal loop, lazy backward, the IR and errors."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ember as em
from ember import nn, optim
from ember.errors import ShapeError, TraceError
from ember.graphdef import Graph, verify
from ember.runtime.stats import COMPILES

R = np.random.default_rng(0)


def functions(lib):
    """The research-code idioms, written once for `torch` and once for `ember`."""
    Function = lib.autograd.Function

    class GradReverse(Function):  # DANN's gradient reversal layer
        @staticmethod
        def forward(ctx, x, lambd):
            ctx.lambd = lambd
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return -ctx.lambd * grad, None

    class RoundSTE(Function):  # straight-through rounding
        @staticmethod
        def forward(ctx, x):
            return x.round()

        @staticmethod
        def backward(ctx, grad):
            return grad

    class SignSTE(Function):  # binarized nets: sign forward, clipped identity backward
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sign()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * (x.abs() <= 1).to(grad.dtype)

    class Clamp(Function):  # a clamp with a hand-written gradient
        @staticmethod
        def forward(ctx, x, lo, hi):
            ctx.save_for_backward(x)
            ctx.lo, ctx.hi = lo, hi
            return x.clamp(lo, hi)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            inside = (x >= ctx.lo) & (x <= ctx.hi)
            return grad * inside.to(grad.dtype), None, None

    class Swish(Function):  # memory-efficient swish: backward from saved tensors
        @staticmethod
        def forward(ctx, x):
            s = x.sigmoid()
            ctx.save_for_backward(x, s)
            return x * s

        @staticmethod
        def backward(ctx, grad):
            x, s = ctx.saved_tensors
            return grad * (s * (1 + x * (1 - s)))

    class Exp(Function):  # the newer style: forward without ctx, then setup_context
        @staticmethod
        def forward(x):
            return x.exp()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    class ScaledPositive(Function):  # two outputs, one marked non-differentiable
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x, scale)
            out = x * scale
            mask = out > 0
            ctx.mark_non_differentiable(mask)
            return out, mask

        @staticmethod
        def backward(ctx, grad, grad_mask):
            x, scale = ctx.saved_tensors
            return grad * scale, grad * x  # scale's gradient is summed over the batch

    return SimpleNamespace(**{k: v for k, v in locals().items() if isinstance(v, type)})


EM, TORCH = functions(em), functions(torch)


def apply(lib, name, x, scale=None):
    """Case `name` on `x` (`scale`: a (1, n) tensor for the two-input case)."""
    fns = EM if lib is em else TORCH
    if name == "grad_reverse":
        return fns.GradReverse.apply(x, 0.7)
    if name == "round_ste":
        return fns.RoundSTE.apply(x * 3) / 3
    if name == "sign_ste":
        return fns.SignSTE.apply(x)
    if name == "clamp":
        return fns.Clamp.apply(x, -0.4, 0.5)
    if name == "swish":
        return fns.Swish.apply(x)
    if name == "exp":
        return fns.Exp.apply(x * 0.5)
    out, mask = fns.ScaledPositive.apply(x, scale)
    return out * mask.to(out.dtype) + out * 0.1


CASES = ["grad_reverse", "round_ste", "sign_ste", "clamp", "swish", "exp", "scaled_positive"]


# -- lazy tensors: backward() and autograd.grad ---------------------------------------------------

X = R.standard_normal((4, 6)).astype("float32")
S = R.standard_normal((1, 6)).astype("float32")
C = R.standard_normal((4, 6)).astype("float32")


@pytest.mark.parametrize("name", CASES)
def test_lazy_backward_matches_torch(name):
    grads = {}
    for lib in (em, torch):
        x = lib.tensor(X, requires_grad=True)
        scale = lib.tensor(S, requires_grad=True)
        (apply(lib, name, x, scale) * lib.tensor(C)).sum().backward()
        sg = scale.grad.numpy() if scale.grad is not None else np.zeros_like(S)
        grads[lib] = (x.grad.numpy(), sg)
    for got, want in zip(grads[em], grads[torch], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["swish", "exp", "clamp"])
def test_custom_backward_equals_the_derived_gradient(name):
    """Gradient check: functions whose hand-written backward is the true derivative give
    what differentiating the plain expression gives (cotangent C, em.autograd.grad)."""
    plain = {
        "swish": lambda x: x * x.sigmoid(),
        "exp": lambda x: (x * 0.5).exp(),
        "clamp": lambda x: x.clamp(-0.4, 0.5),
    }[name]
    x = em.tensor(X, requires_grad=True)
    (custom,) = em.autograd.grad(apply(em, name, x), [x], grad_outputs=em.tensor(C))
    (derived,) = em.autograd.grad(plain(x), [x], grad_outputs=em.tensor(C))
    np.testing.assert_allclose(custom.numpy(), derived.numpy(), rtol=1e-5, atol=1e-6)


def test_higher_order_gradient_differentiates_the_custom_backward():
    got = []
    for lib in (em, torch):
        x = lib.tensor(X[0], requires_grad=True)
        (g,) = lib.autograd.grad(apply(lib, "swish", x).sum(), [x], create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), [x])
        got.append(gg.numpy())
    np.testing.assert_allclose(got[0], got[1], rtol=1e-4, atol=1e-5)


def test_context_inputs_and_closures_follow_pytorch():
    seen = {}

    class Probe(em.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k):
            seen["needs"] = ctx.needs_input_grad
            return x * y * k + w  # w: a closed-over tensor gets no gradient, as in torch

        @staticmethod
        def backward(ctx, grad):
            return grad, None, None

    w = em.tensor(np.ones(3, "float32"), requires_grad=True)
    x = em.tensor(np.ones(3, "float32"), requires_grad=True)
    out = Probe.apply(x, em.tensor(np.full(3, 2.0, "float32")), 3)
    np.testing.assert_allclose(out.numpy(), [7.0, 7.0, 7.0])
    out.sum().backward()
    assert seen["needs"] == (True, False, False)
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])
    assert w.grad is None
    with em.no_grad():
        assert not Probe.apply(x, x, 1).requires_grad


# -- compiled train steps and the literal loop ---------------------------------------------------


def make_nets(name, seed=0):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 3)
            self.scale = nn.Parameter(np.linspace(-1, 1, 8, dtype="float32")[None])

        def forward(self, x):
            return self.fc2(apply(em, name, self.fc1(x), self.scale))

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(6, 8), torch.nn.Linear(8, 3)
            self.scale = torch.nn.Parameter(torch.zeros(1, 8))

        def forward(self, x):
            return self.fc2(apply(torch, name, self.fc1(x), self.scale))

    em.manual_seed(seed)
    net, ref = Net(), TorchNet()
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    return net, ref


BATCHES = [
    (R.standard_normal((8, 6)).astype("float32"), R.standard_normal((8, 3)).astype("float32"))
    for _ in range(3)
]


def torch_steps(ref, lr=0.2):
    opt = torch.optim.SGD(ref.parameters(), lr=lr)
    losses = []
    for x, y in BATCHES:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(ref(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def assert_same_state(net, ref):
    want = ref.state_dict()
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(np.asarray(v), want[k].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_compiled_train_step_matches_torch(name):
    net, ref = make_nets(name)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.2))
    losses = [float(model.train_step(x, y)["loss"]) for x, y in BATCHES]
    np.testing.assert_allclose(losses, torch_steps(ref), rtol=1e-5)
    assert_same_state(net, ref)


def test_literal_loop_matches_torch_and_compiles_once():
    net, ref = make_nets("swish", seed=1)
    opt, criterion = optim.SGD(net.parameters(), lr=0.2), nn.MSELoss()
    losses, compiles = [], []
    for x, y in BATCHES:
        opt.zero_grad()
        loss = criterion(apply(em, "grad_reverse", net(em.tensor(x))), em.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
        compiles.append(sum(COMPILES.values()))
    ref_losses = []
    topt = torch.optim.SGD(ref.parameters(), lr=0.2)
    for x, y in BATCHES:
        topt.zero_grad()
        out = apply(torch, "grad_reverse", ref(torch.tensor(x)))
        loss = torch.nn.functional.mse_loss(out, torch.tensor(y))
        loss.backward()
        topt.step()
        ref_losses.append(loss.item())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert_same_state(net, ref)
    assert compiles[1] == compiles[2]  # equal bodies are interned: one program per loop


# -- gradient hooks -----------------------------------------------------------------------------


def test_hooks_on_lazy_tensors_match_torch():
    W = R.standard_normal((6, 3)).astype("float32")

    def run(lib):
        x, w = lib.tensor(X, requires_grad=True), lib.tensor(W, requires_grad=True)
        h = x @ w
        seen = []
        h.register_hook(seen.append)  # inspecting a gradient (the hook keeps a tensor)
        h.register_hook(lambda g: g * 3)
        handle = h.register_hook(lambda g: g * 100)
        handle.remove()
        w.register_hook(lambda g: g.clamp(-1, 1))  # a leaf's hook runs before .grad
        h.retain_grad()
        y = lib.tanh(h)
        (y * y).sum().backward()
        return [t.detach().numpy() for t in (x.grad, w.grad, seen[0], h.grad)]

    for got, want in zip(run(em), run(torch), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def hooked_nets(seed):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 3)

        def forward(self, x):
            h = em.tanh(self.fc1(x))
            h.register_hook(lambda g: g * 0.5)
            return self.fc2(h)

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(6, 8), torch.nn.Linear(8, 3)

        def forward(self, x):
            h = torch.tanh(self.fc1(x))
            h.register_hook(lambda g: g * 0.5)
            return self.fc2(h)

    em.manual_seed(seed)
    net, ref = Net(), TorchNet()
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    for m in (net, ref):  # per-parameter gradient clipping, registered once
        m.fc1.weight.register_hook(lambda g: g.clamp(-0.05, 0.05))
    return net, ref


def test_hooks_in_compiled_train_step_match_torch():
    net, ref = hooked_nets(0)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.2))
    losses = [float(model.train_step(x, y)["loss"]) for x, y in BATCHES]
    np.testing.assert_allclose(losses, torch_steps(ref), rtol=1e-5)
    assert_same_state(net, ref)


def test_hooks_in_literal_loop_match_torch():
    net, ref = hooked_nets(2)
    opt, criterion = optim.SGD(net.parameters(), lr=0.2), nn.MSELoss()
    losses = []
    for x, y in BATCHES:
        opt.zero_grad()
        loss = criterion(net(em.tensor(x)), em.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(losses, torch_steps(ref), rtol=1e-5)
    assert_same_state(net, ref)


def test_parameter_hooks_are_part_of_the_compiled_program():
    em.manual_seed(0)
    net = nn.Linear(6, 3)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=1.0))
    x, y = BATCHES[0]
    before = np.asarray(net.bias.data).copy()
    model.train_step(x, y)
    plain = np.asarray(net.bias.data) - before
    handle = net.bias.register_hook(lambda g: g * 0)  # registered after the first compile
    before = np.asarray(net.bias.data).copy()
    model.train_step(x, y)
    np.testing.assert_array_equal(np.asarray(net.bias.data), before)
    handle.remove()
    model.train_step(x, y)
    assert not np.allclose(np.asarray(net.bias.data), before) and plain.any()


# -- the IR --------------------------------------------------------------------------------------


def test_ir_prints_parses_and_serializes_custom_vjp():
    net, _ = make_nets("swish")
    graph = em.trace(net, em.TensorSpec((4, 6)))
    text = str(graph)
    assert 'custom_vjp(%0) {grad_inputs=[0], name="Swish", num_residuals=2}' in text
    assert "graph Swish.forward(" in text and "graph Swish.backward(" in text
    verify(graph)
    assert str(Graph.parse(text)) == text
    assert str(Graph.from_json(graph.to_json())) == text
    x = em.tensor(X, requires_grad=True)
    pending = str(em.graph_of(apply(em, "grad_reverse", x).sum()))
    assert 'name="GradReverse", num_residuals=0' in pending


# -- errors --------------------------------------------------------------------------------------


def _fn(backward, forward=lambda ctx, x, k=1: x * k):
    return type(
        "Broken",
        (em.autograd.Function,),
        {"forward": staticmethod(forward), "backward": staticmethod(backward)},
    )


@pytest.mark.parametrize(
    "backward, error, match",
    [
        (lambda ctx, g: g, TraceError, r"Broken.backward returned an incorrect number"),
        (lambda ctx, g: (g[0], None), ShapeError, r"shape \(3,\) for input 0 of shape \(2, 3\)"),
        (lambda ctx, g: (g, g), TraceError, r"gradient for input 1, which is not a tensor"),
        (lambda ctx, g: (1.0, None), TraceError, r"returned a float as the gradient of input 0"),
    ],
)
def test_bad_backward_raises_ember_errors(backward, error, match):
    x = em.tensor(np.ones((2, 3), "float32"), requires_grad=True)
    with pytest.raises(error, match=match):
        _fn(backward).apply(x, 2)
    net = nn.Linear(3, 3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = net

        def forward(self, x):
            return _fn(backward).apply(self.fc(x), 2)

    with pytest.raises(error, match=match):
        em.trace(Net(), em.TensorSpec((2, 3)))


def test_misuse_raises_errors_with_the_fix():
    x = em.tensor(np.ones(3, "float32"), requires_grad=True)
    concrete = _fn(lambda ctx, g: g, forward=lambda ctx, x: x * float(x.sum()))
    with pytest.raises(TraceError, match=r"(?s)concrete value.*Broken.forward"):
        concrete.apply(x)
    with pytest.raises(TraceError, match="legacy autograd.Function"):
        EM.Swish()(x)
    with pytest.raises(ShapeError, match=r"changed the gradient's shape from \(3,\) to \(\)"):
        y = x * 2
        y.register_hook(lambda g: g.sum())
        y.sum().backward()
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        em.tensor(np.ones(3, "float32")).register_hook(lambda g: g)

    class Late(nn.Module):
        def forward(self, x):
            h = x * 2
            out = h + 1
            h.register_hook(lambda g: g)
            return out

    class ParamHook(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            self.fc.weight.register_hook(lambda g: g)
            return self.fc(x)

    class Retain(nn.Module):
        def forward(self, x):
            h = x * 2
            h.retain_grad()
            return h

    spec = em.TensorSpec((2, 3))
    with pytest.raises(TraceError, match="before using it"):
        em.trace(Late(), spec)
    with pytest.raises(TraceError, match="register it once after building the model"):
        em.trace(ParamHook(), spec)
    with pytest.raises(TraceError, match="keeps no gradients of intermediate tensors"):
        em.trace(Retain(), spec)
