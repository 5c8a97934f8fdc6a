"""Complex tensors as Meta's LLaMA uses them for rotary position embeddings
(`torch.polar`, `view_as_complex`, `view_as_real`), PyTorch as referee: the same module
code with `torch` or `ember` as its library, trained by the literal loop and by a
compiled step, plus complex dtype promotion and constants."""

import math

import numpy as np
import pytest
import torch

import ember as em

LIBS = {"torch": torch, "ember": em}
B, T, D, H = 2, 6, 16, 2


def _frequencies(lib, dim: int, end: int, theta: float = 10000.0):
    """Unit phasors exp(i t w_k), one row per position (a complex64 tensor)."""
    w = 1.0 / (theta ** (lib.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = lib.outer(lib.arange(end).float(), w)
    return lib.polar(lib.ones_like(angles), angles)


def _rotate(lib, x, freqs):
    """Pairs of x's last dimension as complex numbers, turned by `freqs` (T, hd / 2)."""
    xc = lib.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    shape = [d if i in (1, xc.ndim - 1) else 1 for i, d in enumerate(xc.shape)]
    return lib.view_as_real(xc * freqs.view(*shape)).flatten(3).type_as(x)


def _attention(lib, as_buffer: bool = False):
    """as_buffer: the table as a non-persistent buffer (as llama2.c keeps its cos/sin),
    else a plain attribute (as Meta's LLaMA does)."""
    F = lib.nn.functional

    class Attention(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.wq = lib.nn.Linear(D, D, bias=False)
            self.wk = lib.nn.Linear(D, D, bias=False)
            self.wv = lib.nn.Linear(D, D, bias=False)
            freqs = _frequencies(lib, D // H, 2 * T)
            if as_buffer:
                self.register_buffer("freqs_cis", freqs, persistent=False)
            else:
                self.freqs_cis = freqs

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = (w(x).view(b, t, H, D // H) for w in (self.wq, self.wk, self.wv))
            freqs = self.freqs_cis[:t]
            q, k = _rotate(lib, q, freqs), _rotate(lib, k, freqs)
            q, k, v = (a.transpose(1, 2) for a in (q, k, v))
            scores = q @ k.transpose(2, 3) / math.sqrt(D // H)
            mask = lib.triu(lib.full((t, t), float("-inf")), diagonal=1)
            out = F.softmax(scores + mask, dim=-1) @ v
            return out.transpose(1, 2).reshape(b, t, D)

    net = Attention()
    rng = np.random.default_rng(0)
    with lib.no_grad():
        for w in (net.wq, net.wk, net.wv):
            w.weight.copy_(lib.tensor(rng.standard_normal((D, D)).astype("f") * 0.3))
    return net


def _batches(n):
    rng = np.random.default_rng(1)
    return [
        (rng.standard_normal((B, T, D)).astype("f"), rng.standard_normal((B, T, D)).astype("f"))
        for _ in range(n)
    ]


def _weights(net):
    return {k: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, np.float64)
            for k, v in net.state_dict().items()}  # fmt: skip


@pytest.mark.parametrize("as_buffer", [False, True], ids=["attribute", "buffer"])
def test_rotary_attention_trains_like_torch_in_the_literal_loop(as_buffer):
    results = {}
    for name, lib in LIBS.items():
        net = _attention(lib, as_buffer)
        opt = lib.optim.SGD(net.parameters(), lr=0.1)
        losses, grads = [], None
        for x, y in _batches(3):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(net(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            grads = grads or {n: np.asarray(p.grad.numpy(), np.float64)
                              for n, p in net.named_parameters()}  # fmt: skip
            opt.step()
            losses.append(float(loss.item()))
        results[name] = (losses, grads, _weights(net))
    (tl, tg, tw), (el, eg, ew) = results["torch"], results["ember"]
    np.testing.assert_allclose(el, tl, rtol=1e-5)
    for n in tg:
        np.testing.assert_allclose(eg[n], tg[n], rtol=1e-4, atol=1e-6, err_msg=n)
        np.testing.assert_allclose(ew[n], tw[n], rtol=1e-4, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("as_buffer", [False, True], ids=["attribute", "buffer"])
def test_rotary_attention_compiled_step_matches_torch(as_buffer):
    net_t = _attention(torch, as_buffer)
    opt_t = torch.optim.Adam(net_t.parameters(), lr=0.01)
    net_e = _attention(em, as_buffer)
    model = em.compile(
        net_e, loss=em.nn.MSELoss(), optimizer=em.optim.Adam(net_e.parameters(), lr=0.01)
    )
    for x, y in _batches(4):
        opt_t.zero_grad()
        want = torch.nn.functional.mse_loss(net_t(torch.tensor(x)), torch.tensor(y))
        want.backward()
        opt_t.step()
        got = model.train_step(x, y)["loss"]
        np.testing.assert_allclose(float(got), want.item(), rtol=1e-5)
    for n, w in _weights(net_t).items():
        np.testing.assert_allclose(_weights(net_e)[n], w, rtol=1e-4, atol=1e-6, err_msg=n)
    assert "c64" in str(model.graph("train", x, y))  # the IR shows the complex values
    assert set(net_e.state_dict()) == set(net_t.state_dict())  # a non-persistent table is not


def test_complex_promotion_constants_and_queries_match_torch():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 2)).astype("f")
    for lib in LIBS.values():
        z = lib.view_as_complex(lib.tensor(a))
        assert lib.is_complex(z) and not lib.is_floating_point(z)
        assert (z * 2.0).dtype == lib.complex64
        assert (lib.tensor(a[:, 0]) + z).dtype == lib.complex64  # float32 + complex64
    z_t = torch.view_as_complex(torch.tensor(a))
    z_e = em.view_as_complex(em.tensor(a))
    cases = {
        "times 1j": lambda lib, z: z * 1j + 0.5,
        "abs": lambda lib, z: z.abs(),
        "angle": lambda lib, z: lib.angle(z),
        "conj": lambda lib, z: z.conj().resolve_conj(),
        "real/imag": lambda lib, z: z.real - 2 * z.imag,
        "constant": lambda lib, z: z * lib.tensor(np.array([1 + 2j, -1j, 3], np.complex64)),
        "isreal": lambda lib, z: lib.isreal(lib.complex(z.real, z.real * 0)),
    }
    for what, f in cases.items():
        got, want = np.asarray(f(em, z_e).numpy()), f(torch, z_t).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=what)


def test_complex_misuse_names_the_fix():
    with pytest.raises(em.errors.ShapeError, match="last dimension is 2"):
        em.view_as_complex(em.randn(3, 3))
    with pytest.raises(em.errors.DTypeError, match="view_as_complex, polar or complex"):
        em.view_as_real(em.randn(3, 2))
    z = em.view_as_complex(em.randn(3, 2))
    with pytest.raises(em.errors.DTypeError, match="use abs"):
        em.relu(z)
    with pytest.raises(em.errors.DTypeError, match="complex numbers have no order"):
        z < z  # noqa: B015
    with pytest.raises(em.errors.DTypeError, match=r"erf: ember does not take complex"):
        em.erf(z)  # not silently cast to float (PyTorch has no complex erf either)
