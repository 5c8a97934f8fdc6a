"""Signal processing as audio models use it, PyTorch as referee: window functions,
`Tensor.unfold` (sliding windows), `stft` / `istft`, and a multi-resolution STFT loss (the
vocoders' auxiliary loss) trained by the literal loop and by a compiled step."""

import numpy as np
import pytest
import torch

import ember as em

LIBS = {"torch": torch, "ember": em}
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_match_torch(name):
    for length in (0, 1, 2, 7, 16):
        for periodic in (True, False):
            got = getattr(em, name)(length, periodic).numpy()
            want = getattr(torch, name)(length, periodic).numpy()
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{length} {periodic}")
    assert getattr(em, name)(5, periodic=False, requires_grad=True).requires_grad


def test_tensor_unfold_matches_torch_values_and_gradients():
    x = np.random.default_rng(0).standard_normal((3, 11, 2)).astype("f")
    for args in ((1, 4, 2), (1, 3, 3), (0, 2, 1), (-1, 2, 1), (1, 11, 5), (1, 0, 4)):
        grads = {}
        for name, lib in LIBS.items():
            p = lib.tensor(x).requires_grad_()
            windows = p.unfold(*args)
            (windows * lib.arange(windows.shape[-1]).float()).sum().backward()
            grads[name] = (windows.detach().numpy(), p.grad.numpy())
        np.testing.assert_array_equal(grads["ember"][0], grads["torch"][0], err_msg=str(args))
        np.testing.assert_allclose(grads["ember"][1], grads["torch"][1], err_msg=str(args))
    with pytest.raises(em.errors.ShapeError, match="at most the dim's length"):
        em.randn(3, 4).unfold(1, 5, 1)


CASES = [
    dict(n_fft=64, hop_length=16),
    dict(n_fft=64, hop_length=16, win_length=48),
    dict(n_fft=32, normalized=True, center=False),
    dict(n_fft=64, hop_length=20, pad_mode="constant"),
    dict(n_fft=16, onesided=False),
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_stft_and_istft_match_torch(kw):
    x = np.random.default_rng(1).standard_normal((2, 400)).astype("f")
    win = kw.get("win_length", kw["n_fft"])
    spec_t = torch.stft(torch.tensor(x), window=torch.hann_window(win), return_complex=True, **kw)
    spec_e = em.stft(x, window=em.hann_window(win), return_complex=True, **kw)
    assert spec_e.dtype == em.complex64 and spec_e.shape == tuple(spec_t.shape)
    np.testing.assert_allclose(spec_e.numpy(), spec_t.numpy(), atol=1e-5)
    if not kw.get("center", True):
        return  # torch's istft needs a centred stft to meet its window check
    inverse = {k: v for k, v in kw.items() if k != "pad_mode"}
    for length in (None, 390, 420):
        want = torch.istft(spec_t, window=torch.hann_window(win), length=length, **inverse)
        got = em.istft(spec_t.numpy(), window=em.hann_window(win), length=length, **inverse)
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5, err_msg=str(length))


def test_stft_argument_checks_name_the_fix():
    with pytest.raises(ValueError, match="return_complex"):
        em.stft(em.randn(100), 16)
    with pytest.raises(em.errors.ShapeError, match="hann_window"):
        em.stft(em.randn(100), 16, window=em.ones(8, 2), return_complex=True)
    with pytest.raises(em.errors.ShapeError, match="complex"):
        em.istft(em.randn(9, 4), 16)


def _generator(lib):
    """A tiny 1-D conv generator (B, 1, L) -> (B, L)."""
    lib.manual_seed(0)
    nn = lib.nn
    net = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.Tanh(), nn.Conv1d(8, 1, 5, padding=2))
    rng = np.random.default_rng(2)
    with lib.no_grad():
        for p in net.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype("f") * 0.3))
    return net


def _stft_loss(lib, pred, target):
    """Multi-resolution STFT loss: spectral convergence plus log-magnitude L1."""
    total = 0.0
    for n_fft, hop in ((64, 16), (32, 8)):
        window = lib.hann_window(n_fft)
        mags = [
            lib.stft(s, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-5)
            for s in (pred, target)
        ]
        convergence = lib.linalg.norm(mags[1] - mags[0]) / lib.linalg.norm(mags[1])
        total = total + convergence + (mags[1].log() - mags[0].log()).abs().mean()
    return total


def _signals(n):
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 256, dtype=np.float32)
    return [
        (
            rng.standard_normal((2, 1, 256)).astype("f"),
            np.stack([np.sin(2 * np.pi * f * t) for f in rng.uniform(5, 40, 2)]).astype("f"),
        )
        for _ in range(n)
    ]


def test_stft_loss_trains_like_torch_in_the_literal_loop():
    results = {}
    for name, lib in LIBS.items():
        net = _generator(lib)
        opt = lib.optim.Adam(net.parameters(), lr=0.01)
        losses = []
        for x, y in _signals(3):
            opt.zero_grad()
            loss = _stft_loss(lib, net(lib.tensor(x)).squeeze(1), lib.tensor(y))
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        results[name] = (losses, {k: v.detach().numpy() for k, v in net.state_dict().items()})
    np.testing.assert_allclose(results["ember"][0], results["torch"][0], rtol=1e-4)
    for k, w in results["torch"][1].items():
        np.testing.assert_allclose(results["ember"][1][k], w, rtol=1e-3, atol=1e-5, err_msg=k)


class _STFTLoss(em.nn.Module):
    def forward(self, pred, target):
        return _stft_loss(em, pred.squeeze(1), target)


def test_stft_loss_compiled_step_matches_torch():
    net_t, net_e = _generator(torch), _generator(em)
    opt_t = torch.optim.Adam(net_t.parameters(), lr=0.01)
    model = em.compile(
        net_e, loss=_STFTLoss(), optimizer=em.optim.Adam(net_e.parameters(), lr=0.01)
    )
    for x, y in _signals(3):
        opt_t.zero_grad()
        want = _stft_loss(torch, net_t(torch.tensor(x)).squeeze(1), torch.tensor(y))
        want.backward()
        opt_t.step()
        got = model.train_step(x, y)["loss"]
        np.testing.assert_allclose(float(got), want.item(), rtol=1e-4)
    for k, w in net_t.state_dict().items():
        np.testing.assert_allclose(
            net_e.state_dict()[k].numpy(), w.numpy(), rtol=1e-3, atol=1e-5, err_msg=k
        )
