"""Idioms of torchvision's classification models, ported by changing imports, against
PyTorch: TorchScript decorators and `torch.fx.wrap` (densenet, stochastic depth), the
Hardtanh gradient at its bounds, and float64 SGD steps (the float64 check of a port)."""

import jax
import numpy as np
import pytest
import torch

import ember as em

for _m in (torch, em):  # at a module's top level, as torchvision's stochastic_depth.py does
    _m.fx.wrap("stochastic_depth")


def test_torchscript_decorators_and_fx_wrap_leave_the_eager_model_unchanged():
    def build(m):
        class DenseLayer(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = m.nn.Linear(3, 3)

            @m.jit.unused
            def call_checkpoint_bottleneck(self, x):
                raise AssertionError("not called in eager mode")

            @m.jit._overload_method
            def forward(self, x: "Tensor") -> "Tensor":  # noqa: F811, F821  (torchvision's)
                pass

            def forward(self, x):  # noqa: F811
                if m.jit.is_scripting() or m.jit.is_tracing():
                    return self.call_checkpoint_bottleneck(x)
                return self.fc(x).relu()

        m.manual_seed(0)
        return DenseLayer()

    net_t, net = build(torch), build(em)
    net.load_state_dict({k: v.detach().numpy() for k, v in net_t.state_dict().items()})
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(
        net(em.tensor(x)).numpy(), net_t(torch.tensor(x)).detach().numpy(), rtol=1e-6
    )
    assert em.jit.annotate(int, 3) == 3 and em.jit.script(net) is net


@pytest.mark.parametrize("bounds", [(0.0, 6.0), (-1.0, 1.0), (-2.5, 0.5)])
def test_hardtanh_gradient_is_zero_at_its_bounds_like_torch(bounds):
    lo, hi = bounds
    x = np.array([lo - 1, lo, (lo + hi) / 2, hi, hi + 1, np.nan], np.float32)

    def run(m):
        t = m.tensor(x, requires_grad=True)
        y = m.nn.Hardtanh(lo, hi)(t)
        y.nan_to_num(0.0).sum().backward()
        return y.detach().numpy(), t.grad.numpy()

    for got, want in zip(run(em), run(torch), strict=True):
        np.testing.assert_array_equal(got, want)


def test_float64_sgd_applies_the_learning_rate_in_float64_like_torch():
    w0 = np.array([1.0, -2.0, 0.5])

    def run(m):
        p = m.nn.Parameter(m.tensor(w0.copy(), dtype=m.float64))
        opt = m.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=1e-4)
        for _ in range(3):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        return p.detach().numpy()

    want = run(torch)
    with jax.enable_x64(True):
        got = run(em)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
