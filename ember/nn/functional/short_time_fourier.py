"""`stft` and `istft`, PyTorch's short-time Fourier transform and its inverse.

`stft` cuts the (reflect-)padded signal into frames `hop_length` apart
(`Tensor.unfold`), multiplies each by the window and transforms it with `em.fft`;
`istft` transforms the frames back, multiplies by the window again and overlap-adds
them (`F.fold`), dividing by the summed squared window. Both are compositions of IR ops,
so they trace, jit and differentiate like the rest. As in PyTorch, a real input needs
`return_complex` given explicitly.

>>> import ember as em
>>> spec = em.stft(em.randn(2, 400), n_fft=64, hop_length=16,
...                window=em.hann_window(64), return_complex=True)
>>> spec.shape  # (batch, n_fft // 2 + 1 frequencies, frames)
(2, 33, 26)
"""

from __future__ import annotations

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor
from ember.nn.functional.complex_numbers import view_as_real
from ember.nn.functional.creation import ones
from ember.nn.functional.pad import pad
from ember.nn.functional.resample import fold

__all__ = ["stft", "istft"]


def _window(x: Tensor, window, n_fft: int, win_length: int) -> Tensor:
    """The window (ones when None) zero-padded to `n_fft`, centred, as PyTorch does."""
    w = ones(win_length, dtype=dtypes.real_part(x.dtype)) if window is None else as_tensor(window)
    if tuple(w.shape) != (win_length,):
        raise x.builder.error(
            ShapeError(
                f"stft: the window must be 1-D of win_length {win_length}, got shape "
                f"{tuple(w.shape)}; fix: em.hann_window({win_length})"
            )
        )
    left = (n_fft - win_length) // 2
    return pad(w, (left, n_fft - win_length - left)) if win_length < n_fft else w


def _lengths(x: Tensor, op: str, n_fft: int, hop_length, win_length) -> tuple[int, int]:
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if n_fft < 1 or hop < 1 or not 0 < win <= n_fft:
        raise x.builder.error(
            ShapeError(
                f"{op}: expected 0 < win_length <= n_fft and hop_length > 0, got n_fft={n_fft}, "
                f"hop_length={hop}, win_length={win}"
            )
        )
    return hop, win


@tensor_method()
def stft(
    input,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window=None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided: bool | None = None,
    return_complex: bool | None = None,
) -> Tensor:
    """`torch.stft`: `(B?, L)` signals -> `(B?, frequencies, frames)` complex spectra
    (`view_as_real` pairs with `return_complex=False`)."""
    from ember import fft

    x = as_tensor(input)
    complex_input = dtypes.is_complex(x.dtype)
    if return_complex is None and not complex_input:
        raise x.builder.error(
            ValueError(
                "stft requires the return_complex parameter be given for real inputs; fix: "
                "return_complex=True (and view_as_real(...) for the old real form)"
            )
        )
    if x.ndim not in (1, 2):
        raise x.builder.error(ShapeError(f"stft: expected a 1-D or 2-D signal, got {x.shape}"))
    hop, win = _lengths(x, "stft", n_fft, hop_length, win_length)
    batched = x.ndim == 2
    x = x if batched else x.unsqueeze(0)
    if center:
        half = n_fft // 2
        x = pad(x.unsqueeze(1), (half, half), mode=pad_mode).squeeze(1)
    if x.shape[-1] < n_fft:
        raise x.builder.error(
            ShapeError(f"stft: the padded signal ({x.shape[-1]}) is shorter than n_fft={n_fft}")
        )
    frames = x.unfold(-1, n_fft, hop) * _window(x, window, n_fft, win)  # (B, frames, n_fft)
    onesided = not complex_input if onesided is None else onesided
    norm = "ortho" if normalized else "backward"
    spec = (fft.rfft if onesided else fft.fft)(frames, dim=-1, norm=norm).transpose(1, 2)
    spec = spec if batched else spec.squeeze(0)
    return spec if return_complex or return_complex is None else view_as_real(spec)


@tensor_method()
def istft(
    input,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window=None,
    center: bool = True,
    normalized: bool = False,
    onesided: bool | None = None,
    length: int | None = None,
    return_complex: bool = False,
) -> Tensor:
    """`torch.istft`: `(B?, frequencies, frames)` complex spectra -> `(B?, L)` signals,
    the least-squares inverse of `stft` with the same arguments. PyTorch also checks that
    the summed squared window is non-zero everywhere; a traced step cannot, so a window
    that leaves gaps gives inf/NaN there."""
    from ember import fft

    z = as_tensor(input)
    if not dtypes.is_complex(z.dtype) or z.ndim not in (2, 3):
        raise z.builder.error(
            ShapeError(
                f"istft: expected a complex (B?, frequencies, frames) spectrum, got {z.dtype} "
                f"{z.shape}; fix: stft(..., return_complex=True) gives one"
            )
        )
    hop, win = _lengths(z, "istft", n_fft, hop_length, win_length)
    batched = z.ndim == 3
    z = (z if batched else z.unsqueeze(0)).transpose(1, 2)  # (B, frames, frequencies)
    onesided = z.shape[-1] != n_fft if onesided is None else onesided
    norm = "ortho" if normalized else "backward"
    if onesided:
        frames = fft.irfft(z, n=n_fft, dim=-1, norm=norm)
    else:
        frames = fft.ifft(z, n=n_fft, dim=-1, norm=norm)
        frames = frames if return_complex else frames.real
    w = _window(frames, window, n_fft, win)
    count = frames.shape[1]
    total = n_fft + hop * (count - 1)

    def overlap_add(columns):  # (B, n_fft, frames) -> (B, total)
        out = fold(columns, (1, total), kernel_size=(1, n_fft), stride=(1, hop))
        return out.reshape(out.shape[0], total)

    signal = overlap_add((frames * w).transpose(1, 2))
    envelope = overlap_add((w * w).reshape(1, n_fft, 1).expand(1, n_fft, count))
    start = n_fft // 2 if center else 0
    end = total - n_fft // 2 if center else total
    if length is not None:
        end = start + length
    signal = (signal / envelope)[:, start : min(end, total)]
    if length is not None and signal.shape[-1] < length:
        signal = pad(signal, (0, length - signal.shape[-1]))
    return signal if batched else signal.squeeze(0)
