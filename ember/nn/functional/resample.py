"""`F.interpolate`/`F.upsample*`, `F.pixel_shuffle`/`F.pixel_unshuffle`, `F.unfold`/`F.fold`."""

from __future__ import annotations

import math

from ember.errors import ShapeError, UnsupportedOpError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, emit
from ember.nn.functional._spatial import add_batch, drop_batch, ntuple
from ember.nn.functional.pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
)

__all__ = [
    "interpolate",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
    "pixel_shuffle",
    "pixel_unshuffle",
    "unfold",
    "fold",
]

_MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_AREA = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}
_MODES = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"


def _per_dim(x, value, d: int, name: str) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != d:
            raise x.builder.error(
                ShapeError(
                    "interpolate: input and output must have the same number of spatial "
                    f"dimensions, but got input {x.shape} with spatial dims {x.shape[2:]} and "
                    f"{name}={value!r}; fix: give (N, C, d1, ..., dK) input and K values"
                )
            )
        return tuple(value)
    return (value,) * d


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize (N, C, *spatial) to `size` or by `scale_factor`, PyTorch's coordinate rules.

    >>> y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    """
    x = as_tensor(input)
    d = x.ndim - 2
    known = mode in _MODE_RANK or mode in ("nearest", "nearest-exact", "area")
    if d not in (1, 2, 3) or not known:
        raise x.builder.error(
            ShapeError(
                f"interpolate: only 3-D, 4-D and 5-D inputs (N, C, *spatial) are supported for the "
                f"modes {_MODES}; got shape {x.shape} and mode {mode!r}"
            )
        )
    if mode in _MODE_RANK:
        if _MODE_RANK[mode] != d:
            raise x.builder.error(
                ShapeError(
                    f"interpolate: got {x.ndim}D input {x.shape}, but {mode} mode needs "
                    f"{_MODE_RANK[mode] + 2}D input"
                )
            )
    elif align_corners is not None:
        raise x.builder.error(
            ShapeError(
                "interpolate: align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
        )
    if antialias:
        raise x.builder.error(
            UnsupportedOpError(
                "interpolate: antialias=True is not supported; fix: pre-filter (e.g. avg_pool2d) "
                "and interpolate without antialiasing"
            )
        )
    if (size is None) == (scale_factor is None):
        raise x.builder.error(
            ShapeError(
                "interpolate: only one of size or scale_factor should be defined"
                if size is not None
                else "interpolate: either size or scale_factor should be defined"
            )
        )
    if size is not None:
        if recompute_scale_factor:
            raise x.builder.error(
                ShapeError(
                    "interpolate: recompute_scale_factor is not meaningful with an explicit size"
                )
            )
        out = tuple(int(s) for s in _per_dim(x, size, d, "size"))
        scales = (0.0,) * d
    else:
        factors = tuple(float(f) for f in _per_dim(x, scale_factor, d, "scale_factor"))
        out = tuple(math.floor(n * f) for n, f in zip(x.shape[2:], factors, strict=True))
        # with a user scale, PyTorch maps coordinates by 1/scale_factor, not in/out
        scales = (0.0,) * d if recompute_scale_factor or mode == "area" else factors
    if mode == "area":
        return _AREA[d](x, out)
    return emit(
        "interpolate", [x], size=out, mode=mode, align_corners=bool(align_corners), scales=scales
    )


def upsample(
    input, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None
) -> Tensor:
    """Deprecated PyTorch alias of `interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None) -> Tensor:
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None) -> Tensor:
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _check_factor(x, factor: int, op: str, name: str) -> int:
    factor = int(factor)
    if x.ndim < 3:
        raise x.builder.error(
            ShapeError(
                f"{op} expects input to have at least 3 dimensions, but got input with {x.ndim} "
                f"dimension(s) {x.shape}"
            )
        )
    if factor <= 0:
        raise x.builder.error(ShapeError(f"{op} expects a positive {name}, but got {factor}"))
    return factor


def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r): a reshape, a permute and a reshape."""
    x = as_tensor(input)
    r = _check_factor(x, upscale_factor, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise x.builder.error(
            ShapeError(
                "pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
                f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r} "
                f"(input shape {x.shape})"
            )
        )
    n = len(lead)
    y = x.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    y = y.permute(tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return y.reshape(tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of `pixel_shuffle`."""
    x = as_tensor(input)
    r = _check_factor(x, downscale_factor, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise x.builder.error(
            ShapeError(
                f"pixel_unshuffle expects height ({h}) and width ({w}) to be divisible by "
                f"downscale_factor={r} (input shape {x.shape})"
            )
        )
    n = len(lead)
    y = x.reshape(tuple(lead) + (c, h // r, r, w // r, r))
    y = y.permute(tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return y.reshape(tuple(lead) + (c * r * r, h // r, w // r))


def _block_args(x, op, kernel_size, dilation, padding, stride) -> dict:
    return {
        "kernel_size": ntuple(x, kernel_size, 2, "kernel_size", op),
        "dilation": ntuple(x, dilation, 2, "dilation", op),
        "padding": ntuple(x, padding, 2, "padding", op),
        "stride": ntuple(x, stride, 2, "stride", op),
    }


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks (N, C, H, W) -> (N, C * kh * kw, L), PyTorch's im2col."""
    x = as_tensor(input)
    x, unbatched = add_batch(x, 2, "unfold", "(N, C, H, W)")
    y = emit("im2col", [x], **_block_args(x, "unfold", kernel_size, dilation, padding, stride))
    return drop_batch(y, unbatched)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding blocks (N, C * kh * kw, L) into (N, C, *output_size): unfold's adjoint."""
    x = as_tensor(input)
    x, unbatched = add_batch(x, 1, "fold", "(N, C * prod(kernel_size), L)")
    y = emit(
        "col2im",
        [x],
        output_size=ntuple(x, output_size, 2, "output_size", "fold"),
        **_block_args(x, "fold", kernel_size, dilation, padding, stride),
    )
    return drop_batch(y, unbatched)
