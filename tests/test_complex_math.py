"""Math on complex tensors against PyTorch: the unary functions PyTorch defines on complex
numbers, `sgn`, `mean`, `var`/`std`, norms and complex random draws; values and the
gradients that reach the real tensors the complex ones came from, in the literal loop and
in a compiled step."""

import numpy as np
import pytest
import torch

import ember as em
from ember.graphdef.ops.elementwise import COMPLEX_UNARY

LIBS = {"torch": torch, "ember": em}
# inputs kept off the branch cuts and poles of log, sqrt, asin, acosh ... so finite
# differences and both libraries agree
PAIRS = (np.random.default_rng(0).standard_normal((3, 5, 2)) * 0.5 + [0.8, 0.3]).astype("f")


def _grad_through(lib, f):
    """f's value at complex(PAIRS) and the gradient of a real function of it w.r.t. PAIRS."""
    x = lib.tensor(PAIRS).requires_grad_()
    out = f(lib, lib.view_as_complex(x))
    real = lib.view_as_real(out) if lib.is_complex(out) else out
    weights = lib.tensor(np.cos(np.arange(real.numel())).reshape(real.shape).astype("f"))
    (real * weights).sum().backward()
    value = out.detach().resolve_conj() if lib is torch else out.detach()
    return value.numpy(), x.grad.numpy()


def _unary(name):
    return lambda lib, z: getattr(lib, name)(z)


CASES = {name: _unary(name) for name in COMPLEX_UNARY}
CASES.update(
    {
        # PyTorch and JAX both differentiate acosh as 1 / sqrt(z^2 - 1), whose sign is off
        # where Re z < 0, and near z^2 - 1's branch cut they land on different sides:
        # compared where the formula is the derivative
        "acosh": lambda lib, z: lib.acosh(z + 1.5),
        "sgn": lambda lib, z: lib.sgn(z),
        "mean": lambda lib, z: z.mean(dim=1),
        "var": lambda lib, z: z.var(dim=0),
        "std": lambda lib, z: z.std(),
        "vector_norm": lambda lib, z: lib.linalg.vector_norm(z, dim=-1),
        "pow": lambda lib, z: z ** (0.5 + 1j),
        "exp-i-theta": lambda lib, z: lib.exp(1j * z.real) * z,
    }
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_complex_math_values_and_gradients_match_torch(name):
    (want, want_grad), (got, got_grad) = (_grad_through(lib, CASES[name]) for lib in LIBS.values())
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(got_grad, want_grad, rtol=2e-4, atol=2e-5)


def test_complex_random_draws_have_torch_dtypes_and_moments():
    z = em.randn(20000, dtype=em.cfloat, generator=em.Generator().manual_seed(0))
    assert z.dtype == em.complex64
    parts = np.stack([z.real.numpy(), z.imag.numpy()])
    np.testing.assert_allclose(parts.std(axis=1), [np.sqrt(0.5)] * 2, rtol=0.03)  # as torch
    u = em.rand(20000, dtype=em.complex64, generator=em.Generator().manual_seed(1))
    assert 0 <= u.real.numpy().min() and u.imag.numpy().max() < 1
    np.testing.assert_allclose([u.real.numpy().mean(), u.imag.numpy().mean()], 0.5, atol=0.02)


def _gated(lib):
    """A complex gate: pairs of features as complex numbers through exp and sigmoid."""
    lib.manual_seed(0)
    net = lib.nn.Linear(6, 8)
    rng = np.random.default_rng(4)
    with lib.no_grad():
        net.weight.copy_(lib.tensor(rng.standard_normal((8, 6)).astype("f") * 0.3))
        net.bias.copy_(lib.tensor(rng.standard_normal(8).astype("f") * 0.3))

    class Gated(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = net

        def forward(self, x):
            z = lib.view_as_complex(self.proj(x).reshape(*x.shape[:-1], 4, 2))
            return lib.view_as_real(lib.exp(z * 0.5j) * lib.sigmoid(z)).flatten(-2)

    return Gated()


def test_complex_gate_compiled_step_matches_torch():
    net_t, net_e = _gated(torch), _gated(em)
    opt_t = torch.optim.SGD(net_t.parameters(), lr=0.1)
    model = em.compile(
        net_e, loss=em.nn.MSELoss(), optimizer=em.optim.SGD(net_e.parameters(), lr=0.1)
    )
    rng = np.random.default_rng(5)
    for _ in range(3):
        x, y = rng.standard_normal((4, 6)).astype("f"), rng.standard_normal((4, 8)).astype("f")
        opt_t.zero_grad()
        want = torch.nn.functional.mse_loss(net_t(torch.tensor(x)), torch.tensor(y))
        want.backward()
        opt_t.step()
        np.testing.assert_allclose(float(model.train_step(x, y)["loss"]), want.item(), rtol=1e-5)
    for k, w in net_t.state_dict().items():
        np.testing.assert_allclose(net_e.state_dict()[k].numpy(), w.numpy(), rtol=1e-4, atol=1e-6)
