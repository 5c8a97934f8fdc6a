"""`torch.fft` as models use it, PyTorch as referee: FNet's Fourier token mixing
(`fft(fft(x, dim=-1), dim=-2).real`) and a spectral loss on `rfft` magnitudes, the same
module code with `torch` or `ember` as its library, trained by the literal loop and by a
compiled step (jitted forward and backward together)."""

import numpy as np
import pytest
import torch

import ember as em

LIBS = {"torch": torch, "ember": em}
B, T, D = 2, 8, 12


def _fnet(lib, mixing: str):
    """One FNet encoder block: Fourier mixing, then a feed-forward layer, both residual."""
    nn = lib.nn

    class FNetBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

        def forward(self, x):
            if mixing == "fft2":
                mixed = lib.fft.fft2(x, dim=(-2, -1)).real
            else:  # the paper's code: one transform per dim
                mixed = lib.fft.fft(lib.fft.fft(x, dim=-1), dim=-2).real
            x = self.norm1(x + mixed)
            return self.norm2(x + self.ff(x))

    em_or_torch_seed = 0
    lib.manual_seed(em_or_torch_seed)
    net = FNetBlock()
    rng = np.random.default_rng(0)
    with lib.no_grad():  # the same weights in both libraries
        for p in net.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype("f") * 0.3))
    return net


def _spectral_loss(lib, pred, target):
    """An audio-style loss: L1 between rfft magnitudes (ortho) plus the time-domain MSE."""
    fft = lib.fft
    mag_p = fft.rfft(pred, dim=1, norm="ortho").abs()
    mag_t = fft.rfft(target, dim=1, norm="ortho").abs()
    return (mag_p - mag_t).abs().mean() + lib.nn.functional.mse_loss(pred, target)


def _batches(n):
    rng = np.random.default_rng(1)
    return [
        (rng.standard_normal((B, T, D)).astype("f"), rng.standard_normal((B, T, D)).astype("f"))
        for _ in range(n)
    ]


def _weights(net):
    return {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}


@pytest.mark.parametrize("mixing", ["fft-per-dim", "fft2"])
def test_fnet_block_with_spectral_loss_trains_like_torch_in_the_literal_loop(mixing):
    results = {}
    for name, lib in LIBS.items():
        net = _fnet(lib, mixing)
        opt = lib.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        losses, grads = [], None
        for x, y in _batches(3):
            opt.zero_grad()
            loss = _spectral_loss(lib, net(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            grads = grads or {n: p.grad.numpy().astype(np.float64)
                              for n, p in net.named_parameters()}  # fmt: skip
            opt.step()
            losses.append(float(loss.item()))
        results[name] = (losses, grads, _weights(net))
    (tl, tg, tw), (el, eg, ew) = results["torch"], results["ember"]
    np.testing.assert_allclose(el, tl, rtol=1e-5)
    for n in tg:
        np.testing.assert_allclose(eg[n], tg[n], rtol=1e-4, atol=1e-6, err_msg=n)
        np.testing.assert_allclose(ew[n], tw[n], rtol=1e-4, atol=1e-6, err_msg=n)


class _Spectral(em.nn.Module):
    def forward(self, pred, target):
        return _spectral_loss(em, pred, target)


def test_fnet_block_compiled_step_matches_torch():
    net_t = _fnet(torch, "fft-per-dim")
    opt_t = torch.optim.Adam(net_t.parameters(), lr=0.01)
    net_e = _fnet(em, "fft-per-dim")
    model = em.compile(
        net_e, loss=_Spectral(), optimizer=em.optim.Adam(net_e.parameters(), lr=0.01)
    )
    for x, y in _batches(4):
        opt_t.zero_grad()
        want = _spectral_loss(torch, net_t(torch.tensor(x)), torch.tensor(y))
        want.backward()
        opt_t.step()
        got = model.train_step(x, y)["loss"]
        np.testing.assert_allclose(float(got), want.item(), rtol=1e-5)
    for n, w in _weights(net_t).items():
        np.testing.assert_allclose(_weights(net_e)[n], w, rtol=1e-4, atol=1e-6, err_msg=n)
    graph = str(model.graph("train", x, y))
    assert "fft" in graph and "c64" in graph  # the IR shows the transforms


def test_frequencies_and_shifts_match_torch():
    for n, d in ((7, 0.3), (8, 1.0), (1, 2.0)):
        np.testing.assert_array_equal(em.fft.fftfreq(n, d).numpy(), torch.fft.fftfreq(n, d))
        np.testing.assert_array_equal(em.fft.rfftfreq(n, d).numpy(), torch.fft.rfftfreq(n, d))
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    for dim in (None, 0, (0, 1), -1):
        for name in ("fftshift", "ifftshift"):
            got = getattr(em.fft, name)(em.tensor(x), dim=dim).numpy()
            np.testing.assert_array_equal(got, getattr(torch.fft, name)(torch.tensor(x), dim=dim))


def test_gradients_flow_through_complex_values_outside_modules():
    """Eager tensors: a complex intermediate carries its gradient (before, a complex result
    did not require grad, so the literal loop silently dropped the spectral part)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 8, 6)).astype("f"), rng.standard_normal((2, 8, 6)).astype("f")
    cases = {
        "rfft-abs": lambda lib, p: (lib.fft.rfft(p, dim=1).abs() ** 2).sum(),
        "fft-imag": lambda lib, p: (lib.fft.fft(p).imag * lib.tensor(y)).sum(),
        "rotate": lambda lib, p: (
            lib.view_as_real(lib.view_as_complex(p.reshape(2, 8, 3, 2)) * (2 - 1j)).flatten(2)
            * lib.tensor(y)
        ).sum(),
    }
    for what, f in cases.items():
        grads = {}
        for name, lib in LIBS.items():
            p = lib.tensor(x).requires_grad_()
            f(lib, p).backward()
            grads[name] = p.grad.numpy()
        np.testing.assert_allclose(
            grads["ember"], grads["torch"], rtol=1e-5, atol=1e-5, err_msg=what
        )
