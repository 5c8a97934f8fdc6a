"""Discrete Fourier transforms (`torch.fft`): one op over any set of dims.

`fft` transforms `dims` of its input, each to the signal size in `sizes` (zero-padded
or trimmed first, as PyTorch's `n` / `s`), with PyTorch's `norm` ("backward": no
scaling forward, 1/n inverse; "ortho": 1/sqrt(n) both ways; "forward": 1/n forward).
Its `kind` says what goes in and out:

- "c2c": complex to complex, forward or (`inverse`) backward;
- "r2c": real to the half spectrum of `dims[-1]` (`sizes[-1] // 2 + 1` bins);
- "c2r": that half spectrum back to a real signal of `sizes[-1]` samples.

The frontend (`ember.fft`) resolves PyTorch's defaults, so every size is explicit here.
"""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.graphdef import dtypes
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

KINDS = ("c2c", "r2c", "c2r")
NORMS = ("backward", "ortho", "forward")


def _fft(types, *, kind: str, inverse: bool, dims, sizes, norm: str, **attrs):
    (t,) = types
    if kind not in KINDS or norm not in NORMS:
        raise ValueError(f"fft: kind must be one of {KINDS} and norm one of {NORMS}")
    if len(dims) != len(sizes) or len(set(dims)) != len(dims) or not dims:
        raise ShapeError(f"fft: dims {tuple(dims)} and sizes {tuple(sizes)} do not pair up")
    if any(not 0 <= d < len(t.shape) for d in dims):
        raise ShapeError(f"fft: dims {tuple(dims)} out of range for shape {t.shape}")
    if any(s < 1 for s in sizes):
        raise ShapeError(
            f"fft: signal sizes must be at least 1, got {tuple(sizes)} for input {t.shape}"
        )
    if kind == "r2c":
        if t.dtype not in ("float32", "float64"):
            raise DTypeError(f"fft: a real transform takes float32/float64, got {t.dtype}")
        dtype = dtypes.complex_of(t.dtype)
    else:
        if not dtypes.is_complex(t.dtype):
            raise DTypeError(f"fft: a {kind} transform takes a complex tensor, got {t.dtype}")
        dtype = dtypes.real_part(t.dtype) if kind == "c2r" else t.dtype
    shape = list(t.shape)
    for d, s in zip(dims, sizes, strict=True):
        shape[d] = s
    if kind == "r2c":
        shape[dims[-1]] = sizes[-1] // 2 + 1
    return [TensorType(tuple(shape), dtype)]


register_op(
    "fft",
    _fft,
    attrs={"kind": "str", "inverse": "bool", "dims": "ints", "sizes": "ints", "norm": "str"},
)
