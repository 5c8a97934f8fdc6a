"""OpInfo entries: conv, conv_transpose (via F.conv1d/2d/3d, F.conv_transpose1d/2d/3d)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op

import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError

rng = np.random.default_rng(0)
TF = torch.nn.functional


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def t(x):
    return torch.from_numpy(np.asarray(x))


def _conv(d, args, name, **kw):
    fe, ft = getattr(F, f"conv{d}d"), getattr(TF, f"conv{d}d")
    return Sample(lambda *a: fe(*a, **kw), args, lambda *a: ft(*map(t, a), **kw), name)


def _convt(d, args, name, **kw):
    fe, ft = getattr(F, f"conv_transpose{d}d"), getattr(TF, f"conv_transpose{d}d")
    return Sample(lambda *a: fe(*a, **kw), args, lambda *a: ft(*map(t, a), **kw), name)


CONV = OpInfo(
    "conv",
    [
        _conv(1, (r(2, 3, 9), r(4, 3, 3), r(4)), "1d-bias"),
        _conv(
            1,
            (r(2, 4, 10), r(6, 2, 3)),
            "1d-stride-pad-dil-groups",
            stride=2,
            padding=2,
            dilation=2,
            groups=2,
        ),
        _conv(2, (r(2, 3, 7, 6), r(5, 3, 3, 2), r(5)), "2d-bias"),
        _conv(
            2,
            (r(2, 4, 9, 8), r(6, 2, 3, 3), r(6)),
            "2d-tuples-groups",
            stride=(2, 1),
            padding=(1, 2),
            dilation=(1, 2),
            groups=2,
        ),
        _conv(2, (r(1, 4, 6, 6), r(4, 1, 3, 3)), "2d-depthwise", padding=1, groups=4),
        # PyTorch puts the odd extra padding of 'same' on the right: (1, 2) for a kernel of 4
        Sample(
            lambda x, w: F.conv2d(x, w, padding="same"),
            (r(2, 2, 7, 6), r(3, 2, 4, 3)),
            lambda x, w: TF.conv2d(TF.pad(t(x), (1, 1, 1, 2)), t(w)),
            "2d-same-even-kernel",
        ),
        _conv(
            2, (r(2, 2, 7, 6), r(3, 2, 3, 2)), "2d-same-dilated", padding="same", dilation=(2, 2)
        ),
        _conv(2, (r(2, 2, 5, 6), r(3, 2, 3, 3)), "2d-valid", padding="valid"),
        _conv(2, (r(3, 5, 5), r(2, 3, 3, 3), r(2)), "2d-unbatched", padding=1),
        _conv(2, (r(2, 3, 1, 1), r(4, 3, 1, 1)), "2d-size-1"),
        # float64 grads of an empty batch are trivially zero; the check is on the shapes
        Sample(
            lambda x, w: F.conv2d(x, w),
            (r(0, 2, 5, 5), r(3, 2, 3, 3)),
            lambda x, w: TF.conv2d(t(x), t(w)),
            "2d-size-0-batch",
            grad=False,
        ),
        Sample(
            lambda x, w: F.conv2d(x.permute(0, 3, 1, 2), w, stride=2),
            (r(2, 7, 6, 3), r(4, 3, 3, 3)),
            lambda x, w: TF.conv2d(t(x).permute(0, 3, 1, 2), t(w), stride=2),
            "2d-permuted-nhwc",
        ),
        # float16 input with a float32 weight: ember promotes like F.linear (PyTorch would refuse)
        Sample(
            lambda x, w: F.conv2d(x, w),
            (r(1, 2, 5, 5, dtype=np.float16), r(3, 2, 3, 3)),
            lambda x, w: TF.conv2d(t(x).float(), t(w)),
            "2d-mixed-f16-f32",
            rtol=1e-3,
            atol=1e-3,
        ),
        _conv(
            3,
            (r(2, 2, 5, 4, 6), r(3, 2, 2, 3, 2), r(3)),
            "3d-stride-pad",
            stride=(1, 2, 2),
            padding=(1, 0, 1),
        ),
        _conv(
            3,
            (r(1, 4, 4, 5, 5), r(4, 2, 3, 1, 3)),
            "3d-groups-dilation",
            dilation=(1, 1, 2),
            groups=2,
            padding="same",
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda x, w: raw_op(x, "conv", [x, w], stride=(), padding=(), dilation=(), groups=1),
            (r(1, 2, 3, 3), r(2, 2, 1, 1)),
            ShapeError,
            "conv: stride is empty",
        ),
        ErrorSample(
            lambda x, w: F.conv2d(x, w),
            (r(1, 2, 5, 5), r(4, 3, 3, 3)),
            ShapeError,
            r"expects an input with 3 channels.*\(1, 2, 5, 5\) has 2",
        ),
        ErrorSample(
            lambda x, w: F.conv2d(x, w, groups=3),
            (r(1, 3, 5, 5), r(4, 1, 3, 3)),
            ShapeError,
            r"groups=3, expected weight \(4, 1, 3, 3\) to be divisible by 3",
        ),
        ErrorSample(
            lambda x, w: F.conv2d(x, w),
            (r(1, 2, 5, 5), r(4, 2, 7, 7)),
            ShapeError,
            "smaller than the dilated kernel",
        ),
        ErrorSample(
            lambda x, w: F.conv2d(x, w, stride=2, padding="same"),
            (r(1, 2, 5, 5), r(4, 2, 3, 3)),
            ShapeError,
            "padding='same' is not supported for strided convolutions",
        ),
        ErrorSample(
            lambda x, w: F.conv2d(x, w),
            (r(2, 5, 5), r(4, 2, 3)),
            ShapeError,
            r"expected a 4-D weight",
        ),
        ErrorSample(
            lambda x, w: F.conv1d(x, w),
            (
                r(
                    5,
                ),
                r(4, 2, 3),
            ),
            ShapeError,
            r"expected a 2-D \(unbatched\) or 3-D \(batched\) input",
        ),
        ErrorSample(
            lambda x, w, b: F.conv1d(x, w, b),
            (r(1, 2, 5), r(4, 2, 3), r(3)),
            ShapeError,
            r"bias shape \(3,\) should be \(4,\)",
        ),
        ErrorSample(
            lambda x, w: F.conv2d(x, w, stride=(1, 2, 3)),
            (r(1, 2, 5, 5), r(4, 2, 3, 3)),
            ShapeError,
            r"stride must be an int or a tuple of 2 ints",
        ),
        ErrorSample(
            lambda x, w: F.conv1d(x, w),
            (np.ones((1, 2, 5), np.int32), np.ones((4, 2, 3), np.int32)),
            DTypeError,
            "expects a floating-point tensor",
        ),
    ],
)

CONV_TRANSPOSE = OpInfo(
    "conv_transpose",
    [
        _convt(1, (r(2, 3, 6), r(3, 4, 3), r(4)), "1d-bias"),
        _convt(
            1,
            (r(2, 4, 5), r(4, 3, 3)),
            "1d-stride-outpad-groups",
            stride=3,
            padding=1,
            output_padding=2,
            groups=2,
        ),
        _convt(
            2,
            (r(2, 4, 5, 6), r(4, 3, 3, 2), r(6)),
            "2d-everything",
            stride=(2, 3),
            padding=(1, 3),
            output_padding=(1, 2),
            groups=2,
            dilation=(2, 1),
        ),
        _convt(
            2,
            (r(1, 2, 4, 4), r(2, 3, 5, 5)),
            "2d-padding-beyond-kernel",
            padding=5,
            dilation=1,
            stride=3,
        ),
        _convt(2, (r(3, 4, 4), r(3, 2, 2, 2)), "2d-unbatched", stride=2),
        _convt(2, (r(2, 3, 1, 1), r(3, 2, 1, 1)), "2d-size-1"),
        # float64 grads of an empty batch are trivially zero; the check is on the shapes
        Sample(
            lambda x, w: F.conv_transpose2d(x, w, stride=2),
            (r(0, 2, 3, 3), r(2, 3, 2, 2)),
            lambda x, w: TF.conv_transpose2d(t(x), t(w), stride=2),
            "2d-size-0-batch",
            grad=False,
        ),
        Sample(
            lambda x, w: F.conv_transpose2d(x.permute(0, 3, 1, 2), w),
            (r(2, 4, 3, 2), r(2, 3, 3, 3)),
            lambda x, w: TF.conv_transpose2d(t(x).permute(0, 3, 1, 2), t(w)),
            "2d-permuted",
        ),
        _convt(
            3,
            (r(1, 2, 3, 4, 3), r(2, 2, 2, 3, 2), r(2)),
            "3d-stride-dilation",
            stride=2,
            dilation=(1, 2, 1),
            padding=(0, 1, 1),
            output_padding=(1, 0, 1),
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda x, w: raw_op(
                x,
                "conv_transpose",
                [x, w],
                stride=(),
                padding=(),
                output_padding=(),
                dilation=(),
                groups=1,
            ),
            (r(1, 2, 3, 3), r(2, 2, 1, 1)),
            ShapeError,
            "conv_transpose: stride is empty",
        ),
        ErrorSample(
            lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=2),
            (r(1, 2, 5, 5), r(2, 4, 3, 3)),
            ShapeError,
            "output padding must be smaller than either stride or dilation",
        ),
        ErrorSample(
            lambda x, w: F.conv_transpose2d(x, w),
            (r(1, 3, 5, 5), r(2, 4, 3, 3)),
            ShapeError,
            r"expects an input with 2 channels, but input \(1, 3, 5, 5\) has 3",
        ),
        ErrorSample(
            lambda x, w: F.conv_transpose1d(x, w, padding=3),
            (r(1, 2, 1), r(2, 1, 2)),
            ShapeError,
            "non-positive output size",
        ),
        ErrorSample(
            lambda x, w: F.conv_transpose2d(x, w, groups=3),
            (r(1, 4, 5, 5), r(4, 1, 3, 3)),
            ShapeError,
            r"groups=3, expected weight \(4, 1, 3, 3\) to be divisible by 3",
        ),
    ],
)

OP_DB = [CONV, CONV_TRANSPOSE]
