"""`ember.fft` (`em.fft`): PyTorch's `torch.fft` functions.

Every transform is the IR's one `fft` op (complex to complex, real to half spectrum, or
back; see `ember/graphdef/ops/fft.py`), so it traces, lowers to `jnp.fft` and
differentiates like any other op; the Hermitian transforms (`hfft`, `ihfft` ...) are
real ones of the conjugate. Arguments, defaults, `norm` and the result dtypes are
PyTorch's: a real or integer input of a complex transform becomes complex64
(complex128 from float64).

>>> import ember as em
>>> x = em.randn(4, 64)
>>> spectrum = em.fft.rfft(x)  # (4, 33) complex64
>>> em.fft.irfft(spectrum, n=64).shape
(4, 64)
"""

from __future__ import annotations

import numpy as np

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor, cast, emit, to_float
from ember.nn.functional.complex_numbers import conj
from ember.nn.functional.creation import tensor
from ember.nn.functional.shape import roll

__all__ = [
    "fft",
    "ifft",
    "fft2",
    "ifft2",
    "fftn",
    "ifftn",
    "rfft",
    "irfft",
    "rfft2",
    "irfft2",
    "rfftn",
    "irfftn",
    "hfft",
    "ihfft",
    "hfft2",
    "ihfft2",
    "hfftn",
    "ihfftn",
    "fftfreq",
    "rfftfreq",
    "fftshift",
    "ifftshift",
]

_NORMS = ("backward", "ortho", "forward")
# a Hermitian transform is a real one of the conjugate, scaled as the opposite direction
_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _norm(op: str, norm: str | None, x: Tensor) -> str:
    norm = "backward" if norm is None else norm
    if norm not in _NORMS:
        raise x.builder.error(
            ValueError(f"fft.{op}: norm must be one of {_NORMS} or None, got {norm!r}")
        )
    return norm


def _signal(op: str, input) -> Tensor:
    """The input in a dtype the transforms take: integers and bool become floats."""
    x = to_float(as_tensor(input))
    if x.dtype in ("float16", "bfloat16"):
        raise x.builder.error(
            DTypeError(
                f"fft.{op}: {x.dtype} transforms are not supported (input {x.shape}); "
                "fix: .float() first"
            )
        )
    return x


def _as_complex(x: Tensor) -> Tensor:
    return x if dtypes.is_complex(x.dtype) else cast(x, dtypes.complex_of(x.dtype))


def _require_real(op: str, x: Tensor) -> None:
    if dtypes.is_complex(x.dtype):
        raise x.builder.error(
            DTypeError(
                f"fft.{op}: expects a real input, got {x.dtype} with shape {x.shape}; fix: "
                f"fft.{op.removeprefix('r').removeprefix('ih').removeprefix('i')} for complex "
                "inputs, or pass .real"
            )
        )


def _plan(op: str, x: Tensor, s, dim, default_all: bool) -> tuple[tuple, tuple]:
    """(dims, sizes) from PyTorch's `s` / `n` and `dim` (None: the input's own sizes;
    -1 in `s` likewise)."""
    try:
        if dim is None:
            if s is None:
                dims = tuple(range(x.ndim)) if default_all else (x.ndim - 1,)
            else:
                dims = tuple(range(x.ndim - len(s), x.ndim))
        else:
            dims = (dim,) if isinstance(dim, int) else tuple(dim)
            dims = tuple(normalize_dim(d, x.ndim) for d in dims)
    except ShapeError as e:
        raise x.builder.error(ShapeError(f"fft.{op}: {e} (input {tuple(x.shape)})")) from None
    if not dims or s is not None and len(s) != len(dims) or len(set(dims)) != len(dims):
        raise x.builder.error(
            ShapeError(
                f"fft.{op}: s={s} and dim={dim} do not fit input {tuple(x.shape)}; fix: "
                "one signal size per transformed dim, each dim once"
            )
        )
    sizes = tuple(x.shape[d] if s is None or s[i] == -1 else int(s[i]) for i, d in enumerate(dims))
    return dims, sizes


def _transform(op: str, input, s, dim, norm, kind: str, inverse: bool, default_all: bool):
    x = _signal(op, input)
    norm = _norm(op, norm, x)
    if kind == "r2c":
        _require_real(op, x)
    else:
        x = _as_complex(x)
    dims, sizes = _plan(op, x, s, dim, default_all)
    if kind == "c2r" and (s is None or s[-1] == -1):
        sizes = (*sizes[:-1], 2 * (x.shape[dims[-1]] - 1))  # the half spectrum's signal
    if any(n < 1 for n in sizes):
        raise x.builder.error(
            ShapeError(
                f"fft.{op}: invalid number of data points {sizes} for input "
                f"{tuple(x.shape)} along dims {dims}; fix: pass n / s of at least 1"
            )
        )
    return emit("fft", [x], kind=kind, inverse=inverse, dims=dims, sizes=sizes, norm=norm)


def _one(n):
    return None if n is None else (n,)


# -- complex to complex -------------------------------------------------------------
def fft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """`torch.fft.fft`: the discrete Fourier transform over `dim`, of `n` points."""
    return _transform("fft", input, _one(n), dim, norm, "c2c", False, False)


def ifft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """`torch.fft.ifft`: the inverse of `fft`."""
    return _transform("ifft", input, _one(n), dim, norm, "c2c", True, False)


def fft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """`torch.fft.fft2`: the transform over two dims (the last two by default)."""
    return _transform("fft2", input, s, dim, norm, "c2c", False, True)


def ifft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """`torch.fft.ifft2`: the inverse of `fft2`."""
    return _transform("ifft2", input, s, dim, norm, "c2c", True, True)


def fftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:
    """`torch.fft.fftn`: the transform over `dim` (every dim, or the last `len(s)`)."""
    return _transform("fftn", input, s, dim, norm, "c2c", False, True)


def ifftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:
    """`torch.fft.ifftn`: the inverse of `fftn`."""
    return _transform("ifftn", input, s, dim, norm, "c2c", True, True)


# -- real signals and their half spectra ---------------------------------------------
def rfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """`torch.fft.rfft`: the transform of a real signal, its `n // 2 + 1` non-negative
    frequencies."""
    return _transform("rfft", input, _one(n), dim, norm, "r2c", False, False)


def irfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """`torch.fft.irfft`: the real signal of `n` points (default `2 * (m - 1)`) whose
    half spectrum is `input`."""
    return _transform("irfft", input, _one(n), dim, norm, "c2r", True, False)


def rfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """`torch.fft.rfft2`: `rfftn` over two dims."""
    return _transform("rfft2", input, s, dim, norm, "r2c", False, True)


def irfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """`torch.fft.irfft2`: the inverse of `rfft2`."""
    return _transform("irfft2", input, s, dim, norm, "c2r", True, True)


def rfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:
    """`torch.fft.rfftn`: the transform of a real signal over `dim`, halved on the last."""
    return _transform("rfftn", input, s, dim, norm, "r2c", False, True)


def irfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:
    """`torch.fft.irfftn`: the inverse of `rfftn`."""
    return _transform("irfftn", input, s, dim, norm, "c2r", True, True)


# -- Hermitian signals: real transforms of the conjugate -------------------------------
def _hermitian(op: str, input, s, dim, norm, default_all: bool) -> Tensor:
    x = _as_complex(_signal(op, input))
    return _transform(op, conj(x), s, dim, _DUAL[_norm(op, norm, x)], "c2r", True, default_all)


def _inverse_hermitian(op: str, input, s, dim, norm, default_all: bool) -> Tensor:
    x = _signal(op, input)
    _require_real(op, x)
    dual = _DUAL[_norm(op, norm, x)]
    return conj(_transform(op, x, s, dim, dual, "r2c", False, default_all))


def hfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """`torch.fft.hfft`: the (real) transform of a Hermitian-symmetric signal given by
    its first half."""
    return _hermitian("hfft", input, _one(n), dim, norm, False)


def ihfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """`torch.fft.ihfft`: the inverse of `hfft`: a real signal's inverse transform, halved."""
    return _inverse_hermitian("ihfft", input, _one(n), dim, norm, False)


def hfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """`torch.fft.hfft2`: `hfftn` over two dims."""
    return _hermitian("hfft2", input, s, dim, norm, True)


def ihfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """`torch.fft.ihfft2`: the inverse of `hfft2`."""
    return _inverse_hermitian("ihfft2", input, s, dim, norm, True)


def hfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:
    """`torch.fft.hfftn`: the n-dimensional `hfft` (the last dim holds the half)."""
    return _hermitian("hfftn", input, s, dim, norm, True)


def ihfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:
    """`torch.fft.ihfftn`: the inverse of `hfftn`."""
    return _inverse_hermitian("ihfftn", input, s, dim, norm, True)


# -- frequencies and reordering ------------------------------------------------------
def _frequencies(steps: np.ndarray, n: int, d: float, dtype, kwargs: dict) -> Tensor:
    dtype = dtypes.DEFAULT_FLOAT if dtype is None else dtypes.requested(dtype)
    # PyTorch's order of operations: the integer steps in the dtype, times 1 / (n * d)
    values = steps.astype(dtype) * np.asarray(1.0 / (n * d), dtype)
    return tensor(values, dtype=dtype, **kwargs)


def fftfreq(n: int, d: float = 1.0, *, dtype=None, **kwargs) -> Tensor:
    """`torch.fft.fftfreq`: the sample frequencies of an `n`-point `fft`, spacing `d`:
    `[0, 1, ..., -(n // 2), ..., -1] / (n * d)`."""
    steps = np.arange(n)
    steps[(n + 1) // 2 :] -= n
    return _frequencies(steps, n, d, dtype, kwargs)


def rfftfreq(n: int, d: float = 1.0, *, dtype=None, **kwargs) -> Tensor:
    """`torch.fft.rfftfreq`: the non-negative frequencies of an `n`-point `rfft`."""
    return _frequencies(np.arange(n // 2 + 1), n, d, dtype, kwargs)


def _shifted(input, dim, sign: int) -> Tensor:
    x = as_tensor(input)
    dims = tuple(range(x.ndim)) if dim is None else (dim,) if isinstance(dim, int) else dim
    dims = tuple(normalize_dim(d, x.ndim) for d in dims)
    if not dims:
        return x
    return roll(x, tuple(sign * (x.shape[d] // 2) for d in dims), dims)


def fftshift(input, dim=None) -> Tensor:
    """`torch.fft.fftshift`: the zero frequency moved to the centre of `dim` (every dim)."""
    return _shifted(input, dim, 1)


def ifftshift(input, dim=None) -> Tensor:
    """`torch.fft.ifftshift`: the inverse of `fftshift`."""
    return _shifted(input, dim, -1)
