"""OpInfo entries: the `fft` op through `em.fft` (complex, real and Hermitian transforms,
signal sizes, dims, norms). Samples start and end in real tensors (`view_as_real` of
complex results), so the float64 gradient check covers the transforms in between."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op
from opinfo_inputs import randn, reseed, t

import ember as em
from ember.errors import DTypeError, ShapeError

reseed(23)


def _real(z):
    return em.view_as_real(z) if em.is_complex(z) else z


def _treal(z):
    return torch.view_as_real(z.resolve_conj()) if torch.is_complex(z) else z


def _same(name, build, *args, **kwargs):
    """A sample of `em.fft.<name>` and `torch.fft.<name>` on the same real-valued inputs;
    `build` turns the raw inputs into the transform's input (in either library)."""

    def ours(*xs):
        return _real(getattr(em.fft, name)(build(em, *xs), **kwargs))

    def theirs(*xs):
        return _treal(getattr(torch.fft, name)(build(torch, *(t(x) for x in xs)), **kwargs))

    label = ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"
    return Sample(ours, args, theirs, f"{name}({label})", rtol=1e-4, atol=1e-5)


def _as_is(m, x):
    return x


def _complex(m, x):
    return m.view_as_complex(x)


def _half_spectrum(m, x):
    return m.fft.rfft(x, dim=-1)


OP_DB = [
    OpInfo(
        "fft",
        [
            _same("fft", _as_is, randn(3, 8)),
            _same("fft", _complex, randn(3, 6, 2), n=9, norm="ortho"),
            _same("ifft", _complex, randn(5, 4, 2), n=3, dim=0, norm="forward"),
            _same("fft2", _complex, randn(2, 5, 6, 2), s=(4, 8)),
            _same("ifftn", _complex, randn(2, 3, 4, 5, 2)),  # four dims: two XLA calls
            _same("rfft", _as_is, randn(4, 10), n=12, norm="ortho"),
            _same("irfft", _half_spectrum, randn(3, 10)),
            _same("irfft", _half_spectrum, randn(3, 9), n=9, norm="forward"),
            _same("rfftn", _as_is, randn(2, 3, 4, 6)),  # a real dim and three complex ones
            _same("rfft2", _as_is, randn(3, 5, 7), s=(6, 8), dim=(0, 2)),
            _same("irfftn", _complex, randn(3, 4, 5, 2), s=(3, 6, 8)),
            _same("irfft2", _complex, randn(2, 4, 5, 2), norm="ortho"),
            _same("hfft", _complex, randn(3, 6, 2), n=10),
            _same("ihfft", _as_is, randn(3, 7), norm="ortho"),
            _same("hfft2", _complex, randn(4, 5, 2)),
            _same("ihfftn", _as_is, randn(3, 4, 6)),
        ],
        [
            ErrorSample(lambda x: em.fft.rfft(em.fft.fft(x)), (randn(4),), DTypeError, "real"),
            ErrorSample(
                lambda x: em.fft.fft(x, n=0), (randn(4),), ShapeError, "number of data points"
            ),
            ErrorSample(lambda x: em.fft.irfft(em.fft.rfft(x)), (randn(1),), ShapeError, "data"),
            ErrorSample(lambda x: em.fft.fft(x, norm="half"), (randn(4),), ValueError, "norm"),
            ErrorSample(lambda x: em.fft.fft(x.half()), (randn(4),), DTypeError, "float16"),
            ErrorSample(lambda x: em.fft.fft2(x), (randn(4),), ShapeError, "out of range"),
            ErrorSample(
                lambda x: em.fft.fftn(x, s=(2, 2), dim=(0,)), (randn(4, 4),), ShapeError, "s="
            ),
            ErrorSample(
                lambda x: raw_op(
                    x, "fft", kind="r2c", inverse=False, dims=(1,), sizes=(4,), norm="ortho"
                ),
                (randn(4, 4).astype(np.int32),),
                DTypeError,
                "float32/float64",
            ),
        ],
    ),
]
