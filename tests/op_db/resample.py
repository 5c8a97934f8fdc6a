"""OpInfo entries: interpolate, im2col (F.unfold), col2im (F.fold), pixel (un)shuffle."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op

import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError, UnsupportedOpError

rng = np.random.default_rng(2)
TF = torch.nn.functional


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def t(x):
    return torch.from_numpy(np.asarray(x))


def _fn(name, args, sample_name, grad=True, rtol=1e-5, atol=1e-6, **kw):
    fe, ft = getattr(F, name), getattr(TF, name)
    return Sample(
        lambda x: fe(x, **kw),
        args,
        lambda x: ft(t(x), **kw),
        sample_name,
        grad=grad,
        rtol=rtol,
        atol=atol,
    )


def _interp(args, name, **kw):
    return _fn("interpolate", args, name, **kw)


INTERPOLATE = OpInfo(
    "interpolate",
    [
        _interp((r(2, 3, 5, 7),), "nearest-2x", scale_factor=2),
        _interp((r(2, 3, 5, 7),), "nearest-size-down-up", size=(3, 11)),
        _interp((r(2, 3, 5, 7),), "nearest-odd-scales", scale_factor=(1.7, 0.6)),
        _interp((r(2, 3, 5, 7),), "nearest-exact", scale_factor=1.7, mode="nearest-exact"),
        _interp((r(2, 3, 6),), "nearest-1d", size=10),
        _interp((r(1, 2, 3, 4, 5),), "nearest-3d", scale_factor=(2, 1.5, 0.5)),
        _interp((r(2, 3, 5),), "linear-1d", scale_factor=2.5, mode="linear"),
        _interp((r(2, 3, 5, 7),), "bilinear-scale", scale_factor=2.3, mode="bilinear"),
        _interp(
            (r(2, 3, 5, 7),),
            "bilinear-align-corners",
            size=(9, 4),
            mode="bilinear",
            align_corners=True,
        ),
        _interp(
            (r(2, 3, 8, 9),),
            "bilinear-recompute-scale",
            scale_factor=0.6,
            mode="bilinear",
            recompute_scale_factor=True,
        ),
        _interp((r(1, 2, 1, 1),), "bilinear-size-1-input", size=(3, 2), mode="bilinear"),
        # bicubic mixes 16 taps with float32 weights: a few ulps of the larger outputs
        _interp((r(2, 3, 5, 7),), "bicubic", size=(9, 4), mode="bicubic", atol=1e-5),
        _interp(
            (r(2, 3, 5, 7),),
            "bicubic-align-corners",
            scale_factor=(1.5, 2.5),
            mode="bicubic",
            align_corners=True,
            atol=1e-5,
        ),
        _interp((r(2, 3, 3, 4, 5),), "trilinear", size=(5, 3, 7), mode="trilinear"),
        _interp((r(2, 3, 4, 5),), "bilinear-same-size", size=(4, 5), mode="bilinear"),
        # an empty batch has nothing to differentiate; the check is on shapes
        _interp((r(0, 3, 4, 4),), "size-0-batch", grad=False, scale_factor=2, mode="bilinear"),
        Sample(
            lambda x: F.interpolate(x.permute(0, 3, 1, 2), scale_factor=2, mode="bilinear"),
            (r(2, 4, 3, 3),),
            lambda x: TF.interpolate(t(x).permute(0, 3, 1, 2), scale_factor=2, mode="bilinear"),
            "bilinear-permuted",
        ),
        Sample(
            lambda x: F.interpolate(x, scale_factor=2),
            (rng.integers(0, 255, (1, 2, 3, 4)).astype(np.uint8),),
            lambda x: TF.interpolate(t(x), scale_factor=2),
            "nearest-uint8",
        ),
        Sample(
            lambda x: F.upsample_bilinear(x, scale_factor=2),
            (r(1, 2, 3, 4),),
            lambda x: TF.interpolate(t(x), scale_factor=2, mode="bilinear", align_corners=True),
            "upsample-bilinear-alias",
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda x: raw_op(
                x, "interpolate", size=(), mode="nearest", align_corners=False, scales=()
            ),
            (r(1, 4),),
            ShapeError,
            "interpolate: size is empty",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, scale_factor=2, align_corners=True),
            (r(1, 2, 4, 4),),
            ShapeError,
            "align_corners option can only be set with the interpolating modes",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, scale_factor=2, mode="linear"),
            (r(1, 2, 4, 4),),
            ShapeError,
            "got 4D input .*, but linear mode needs 3D input",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, size=3, scale_factor=2),
            (r(1, 2, 4, 4),),
            ShapeError,
            "only one of size or scale_factor should be defined",
        ),
        ErrorSample(
            lambda x: F.interpolate(x),
            (r(1, 2, 4, 4),),
            ShapeError,
            "either size or scale_factor should be defined",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, size=(2, 3, 4)),
            (r(1, 2, 4, 4),),
            ShapeError,
            "same number of spatial dimensions",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", antialias=True),
            (r(1, 2, 4, 4),),
            UnsupportedOpError,
            "antialias=True is not supported",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
            (np.ones((1, 2, 4, 4), np.int32),),
            DTypeError,
            "expects a floating-point tensor",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, scale_factor=0.1),
            (r(1, 2, 4, 4),),
            ShapeError,
            "sizes should be greater than 0",
        ),
        ErrorSample(
            lambda x: F.interpolate(x, scale_factor=2, mode="cubic"),
            (r(1, 2, 4, 4),),
            ShapeError,
            "for the modes nearest",
        ),
    ],
)

IM2COL = OpInfo(
    "im2col",
    [
        _fn("unfold", (r(2, 3, 5, 6),), "k2", kernel_size=2),
        _fn(
            "unfold",
            (r(2, 3, 5, 6),),
            "all-options",
            kernel_size=(2, 3),
            dilation=(2, 1),
            padding=1,
            stride=(1, 2),
        ),
        _fn("unfold", (r(3, 4, 4),), "unbatched", kernel_size=3, padding=1),
        _fn("unfold", (r(2, 3, 1, 1),), "size-1", kernel_size=1),
        # an empty batch has nothing to differentiate; the check is on shapes
        _fn("unfold", (r(0, 3, 4, 4),), "size-0-batch", grad=False, kernel_size=2),
        Sample(
            lambda x: F.unfold(x.permute(0, 3, 1, 2), 2, stride=2),
            (r(2, 4, 6, 3),),
            lambda x: TF.unfold(t(x).permute(0, 3, 1, 2), 2, stride=2),
            "permuted",
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda x: raw_op(x, "im2col", kernel_size=(), dilation=(), padding=(), stride=()),
            (r(1, 4),),
            ShapeError,
            "unfold: kernel_size is empty",
        ),
        ErrorSample(
            lambda x: F.unfold(x, 2),
            (r(1, 2, 3, 4, 4),),
            ShapeError,
            r"expected a 3-D \(unbatched\) or 4-D \(batched\) input",
        ),
        ErrorSample(
            lambda x: F.unfold(x, 5),
            (r(1, 2, 3, 3),),
            ShapeError,
            "sliding blocks, but each must be at least one",
        ),
    ],
)


def _fold(args, name, grad=True, **kw):
    return Sample(lambda x: F.fold(x, **kw), args, lambda x: TF.fold(t(x), **kw), name, grad=grad)


COL2IM = OpInfo(
    "col2im",
    [
        _fold((r(2, 12, 12),), "k2", output_size=(4, 5), kernel_size=2),
        _fold(
            (r(2, 12, 15),),
            "all-options",
            output_size=(5, 6),
            kernel_size=(2, 3),
            dilation=(2, 1),
            padding=1,
            stride=(1, 2),
        ),
        _fold((r(18, 16),), "unbatched-overlapping", output_size=4, kernel_size=3, padding=1),
        _fold((r(2, 3, 1),), "size-1", output_size=1, kernel_size=1),
        Sample(
            lambda x: F.fold(x.permute(0, 2, 1), (3, 3), 2),
            (r(2, 4, 8),),
            lambda x: TF.fold(t(x).permute(0, 2, 1), (3, 3), 2),
            "permuted",
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda x: raw_op(
                x,
                "col2im",
                output_size=(3, 3),
                kernel_size=(0, 2),
                dilation=(1, 1),
                padding=(0, 0),
                stride=(1, 1),
            ),
            (r(1, 4, 4),),
            ShapeError,
            r"fold: kernel_size \(0, 2\), dilation \(1, 1\) and stride \(1, 1\) must be positive",
        ),
        ErrorSample(
            lambda x: F.fold(x, (4, 4), 2),
            (r(1, 12, 5),),
            ShapeError,
            r"number of sliding blocks 3 \* 3 = 9, but got 5",
        ),
        ErrorSample(
            lambda x: F.fold(x, (4, 4), 2),
            (r(1, 13, 9),),
            ShapeError,
            r"dimension 1 \(13\) to be divisible by the product of kernel_size",
        ),
    ],
)

PIXEL_SHUFFLE = OpInfo(
    "transpose",
    [
        _fn("pixel_shuffle", (r(2, 8, 3, 4),), "pixel-shuffle", upscale_factor=2),
        _fn(
            "pixel_shuffle",
            (r(2, 1, 18, 2, 3),),
            "pixel-shuffle-extra-batch-dims",
            upscale_factor=3,
        ),
        _fn("pixel_unshuffle", (r(2, 3, 4, 6),), "pixel-unshuffle", downscale_factor=2),
        _fn("pixel_unshuffle", (r(3, 6, 9),), "pixel-unshuffle-unbatched", downscale_factor=3),
    ],
    errors=[
        ErrorSample(
            lambda x: F.pixel_shuffle(x, 2),
            (r(1, 2, 5, 5),),
            ShapeError,
            r"input.size\(-3\)=2 is not divisible by 4",
        ),
        ErrorSample(
            lambda x: F.pixel_unshuffle(x, 2),
            (r(1, 2, 5, 4),),
            ShapeError,
            r"height \(5\) and width \(4\) to be divisible by downscale_factor=2",
        ),
        ErrorSample(
            lambda x: F.pixel_shuffle(x, 2), (r(4, 4),), ShapeError, "at least 3 dimensions"
        ),
    ],
)

OP_DB = [INTERPOLATE, IM2COL, COL2IM, PIXEL_SHUFFLE]
