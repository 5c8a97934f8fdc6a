"""OpInfo entries: max_pool, avg_pool, adaptive_avg_pool, adaptive_max_pool."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op

import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError

rng = np.random.default_rng(1)
TF = torch.nn.functional


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def t(x):
    return torch.from_numpy(np.asarray(x))


def ties(*shape):
    """Few distinct values, so windows hold repeated maxima (indices must pick the first)."""
    return rng.integers(-2, 3, size=shape).astype(np.float32)


def _fn(name, args, sample_name, grad=True, **kw):
    fe, ft = getattr(F, name), getattr(TF, name)
    return Sample(lambda x: fe(x, **kw), args, lambda x: ft(t(x), **kw), sample_name, grad=grad)


MAX_POOL = OpInfo(
    "max_pool",
    [
        _fn("max_pool1d", (r(2, 3, 10),), "1d", kernel_size=3),
        _fn(
            "max_pool1d",
            (r(2, 3, 10),),
            "1d-all-options",
            kernel_size=3,
            stride=1,
            padding=1,
            dilation=2,
            ceil_mode=True,
            return_indices=True,
        ),
        _fn("max_pool2d", (r(2, 3, 8, 6),), "2d-k2", kernel_size=2),
        _fn(
            "max_pool2d",
            (r(2, 3, 9, 8),),
            "2d-ceil-pad",
            kernel_size=3,
            stride=2,
            padding=1,
            ceil_mode=True,
        ),
        _fn(
            "max_pool2d",
            (r(2, 2, 9, 8),),
            "2d-tuples-dilation-indices",
            kernel_size=(3, 2),
            stride=(2, 1),
            padding=(1, 1),
            dilation=(2, 1),
            return_indices=True,
        ),
        _fn(
            "max_pool2d",
            (r(3, 7, 7),),
            "2d-unbatched-ceil-indices",
            kernel_size=2,
            stride=2,
            ceil_mode=True,
            return_indices=True,
        ),
        _fn("max_pool2d", (r(2, 3, 1, 1),), "2d-size-1", kernel_size=1, return_indices=True),
        # an empty batch has nothing to differentiate; the check is on shapes
        _fn("max_pool2d", (r(0, 3, 4, 4),), "2d-size-0-batch", grad=False, kernel_size=2),
        # tied maxima are non-differentiable points; the check is the first-index rule
        _fn(
            "max_pool2d",
            (ties(2, 3, 6, 6),),
            "2d-ties-first-index",
            grad=False,
            kernel_size=3,
            stride=1,
            padding=1,
            return_indices=True,
        ),
        Sample(
            lambda x: F.max_pool2d(x.permute(0, 3, 1, 2), 2, return_indices=True),
            (r(2, 6, 4, 3),),
            lambda x: TF.max_pool2d(t(x).permute(0, 3, 1, 2), 2, return_indices=True),
            "2d-permuted",
        ),
        Sample(
            lambda x: F.max_pool2d(x, 2),
            (rng.integers(-50, 50, (2, 3, 4, 5)).astype(np.int32),),
            lambda x: TF.max_pool2d(t(x).long(), 2),
            "2d-int32",
        ),
        _fn(
            "max_pool3d",
            (r(2, 2, 5, 6, 5),),
            "3d-indices",
            kernel_size=2,
            stride=(1, 2, 2),
            padding=(1, 0, 1),
            return_indices=True,
        ),
        _fn(
            "max_pool3d",
            (r(1, 2, 7, 6, 6),),
            "3d-dilation-ceil",
            kernel_size=(2, 3, 2),
            stride=2,
            dilation=(2, 1, 2),
            ceil_mode=True,
        ),
    ],
    errors=[
        # IR attrs that name no spatial dim (only a loaded or hand-built graph has them)
        ErrorSample(
            lambda x: raw_op(
                x,
                "max_pool",
                kernel_size=(),
                stride=(),
                padding=(),
                dilation=(),
                ceil_mode=False,
                return_indices=False,
            ),
            (r(2, 3),),
            ShapeError,
            "max_pool: kernel_size is empty",
        ),
        ErrorSample(
            lambda x: F.max_pool2d(x, 2, padding=2),
            (r(1, 2, 5, 5),),
            ShapeError,
            "pad should be at most half of kernel size",
        ),
        ErrorSample(
            lambda x: F.max_pool2d(x, 7),
            (r(1, 2, 5, 5),),
            ShapeError,
            r"input \(1, 2, 5, 5\) gives output size \(0, 0\), which is too small",
        ),
        ErrorSample(
            lambda x: F.max_pool2d(x, 2),
            (r(5, 5),),
            ShapeError,
            r"expected a 3-D \(unbatched\) or 4-D \(batched\) input",
        ),
        ErrorSample(
            lambda x: F.max_pool2d(x, 2),
            (r(1, 0, 5, 5),),
            ShapeError,
            "expected non-zero channel and spatial sizes",
        ),
        ErrorSample(
            lambda x: F.max_pool2d(x, 2),
            (np.ones((1, 2, 4, 4), bool),),
            DTypeError,
            "expects a numeric tensor, got bool",
        ),
        ErrorSample(
            lambda x: F.max_pool2d(x, (2, 2, 2)),
            (r(1, 2, 4, 4),),
            ShapeError,
            "kernel_size must be an int or a tuple of 2 ints",
        ),
    ],
)

AVG_POOL = OpInfo(
    "avg_pool",
    [
        _fn("avg_pool1d", (r(2, 3, 10),), "1d", kernel_size=3),
        _fn(
            "avg_pool1d",
            (r(2, 3, 10),),
            "1d-pad-exclude-ceil",
            kernel_size=4,
            stride=3,
            padding=2,
            ceil_mode=True,
            count_include_pad=False,
        ),
        _fn(
            "avg_pool2d",
            (r(2, 3, 9, 8),),
            "2d-ceil-include-pad",
            kernel_size=3,
            stride=2,
            padding=1,
            ceil_mode=True,
            count_include_pad=True,
        ),
        _fn(
            "avg_pool2d",
            (r(2, 3, 9, 8),),
            "2d-ceil-exclude-pad",
            kernel_size=3,
            stride=2,
            padding=1,
            ceil_mode=True,
            count_include_pad=False,
        ),
        _fn(
            "avg_pool2d",
            (r(2, 3, 7, 8),),
            "2d-divisor-override",
            kernel_size=(3, 2),
            stride=(2, 3),
            padding=(1, 0),
            divisor_override=5,
        ),
        _fn("avg_pool2d", (r(3, 6, 6),), "2d-unbatched", kernel_size=2),
        _fn("avg_pool2d", (r(2, 3, 1, 1),), "2d-size-1", kernel_size=1),
        # an empty batch has nothing to differentiate; the check is on shapes
        _fn("avg_pool2d", (r(0, 3, 4, 4),), "2d-size-0-batch", grad=False, kernel_size=2),
        Sample(
            lambda x: F.avg_pool2d(x.permute(0, 3, 1, 2), 2, 1, 1),
            (r(2, 5, 4, 3),),
            lambda x: TF.avg_pool2d(t(x).permute(0, 3, 1, 2), 2, 1, 1),
            "2d-permuted",
        ),
        _fn(
            "avg_pool3d",
            (r(2, 2, 5, 6, 5),),
            "3d-pad-ceil",
            kernel_size=(2, 3, 2),
            stride=2,
            padding=(1, 1, 0),
            ceil_mode=True,
            count_include_pad=False,
        ),
        _fn("avg_pool3d", (r(1, 2, 4, 4, 4),), "3d-divisor", kernel_size=2, divisor_override=3),
    ],
    errors=[
        # IR attrs that name no spatial dim (only a loaded or hand-built graph has them)
        ErrorSample(
            lambda x: raw_op(
                x,
                "avg_pool",
                kernel_size=(),
                stride=(),
                padding=(),
                ceil_mode=False,
                count_include_pad=True,
                divisor_override=None,
            ),
            (r(2, 3),),
            ShapeError,
            "avg_pool: kernel_size is empty",
        ),
        ErrorSample(
            lambda x: F.avg_pool2d(x, 2),
            (np.ones((1, 2, 4, 4), np.int32),),
            DTypeError,
            "avg_pool2d: expects a floating-point tensor",
        ),
        ErrorSample(
            lambda x: F.avg_pool2d(x, 3, padding=2),
            (r(1, 2, 5, 5),),
            ShapeError,
            "pad should be at most half of kernel size",
        ),
        ErrorSample(
            lambda x: F.avg_pool2d(x, 2, divisor_override=0),
            (r(1, 2, 4, 4),),
            ShapeError,
            "divisor_override must be non-zero",
        ),
        ErrorSample(
            lambda x: F.avg_pool1d(x, 2, stride=0), (r(1, 2, 4),), ShapeError, "must be positive"
        ),
    ],
)

ADAPTIVE_AVG_POOL = OpInfo(
    "adaptive_avg_pool",
    [
        _fn("adaptive_avg_pool1d", (r(2, 3, 10),), "1d-uneven", output_size=4),
        _fn("adaptive_avg_pool1d", (r(2, 3, 5),), "1d-upsample-overlap", output_size=7),
        _fn("adaptive_avg_pool2d", (r(2, 3, 9, 8),), "2d", output_size=(4, 5)),
        _fn("adaptive_avg_pool2d", (r(2, 3, 9, 8),), "2d-none-keeps-size", output_size=(None, 3)),
        _fn("adaptive_avg_pool2d", (r(2, 3, 5, 7),), "2d-global", output_size=1),
        _fn("adaptive_avg_pool2d", (r(2, 3, 8, 6),), "2d-divisible", output_size=(4, 3)),
        _fn("adaptive_avg_pool2d", (r(3, 6, 4),), "2d-unbatched", output_size=(3, 4)),
        # a size-0 output has no values to differentiate; the check is on shapes
        _fn(
            "adaptive_avg_pool2d",
            (r(2, 3, 5, 5),),
            "2d-size-0-output",
            grad=False,
            output_size=(0, 2),
        ),
        Sample(
            lambda x: F.adaptive_avg_pool2d(x.permute(0, 3, 1, 2), (2, 3)),
            (r(2, 5, 7, 3),),
            lambda x: TF.adaptive_avg_pool2d(t(x).permute(0, 3, 1, 2), (2, 3)),
            "2d-permuted",
        ),
        _fn("adaptive_avg_pool3d", (r(1, 2, 5, 6, 7),), "3d", output_size=(2, 4, 3)),
    ],
    errors=[
        # IR attrs that name no spatial dim (only a loaded or hand-built graph has them)
        ErrorSample(
            lambda x: raw_op(x, "adaptive_avg_pool", output_size=()),
            (r(2, 3),),
            ShapeError,
            "adaptive_avg_pool: output_size is empty",
        ),
        ErrorSample(
            lambda x: F.adaptive_avg_pool2d(x, 2),
            (np.ones((1, 2, 4, 4), np.int32),),
            DTypeError,
            "adaptive_avg_pool2d: expects a floating-point tensor",
        ),
        ErrorSample(
            lambda x: F.adaptive_avg_pool2d(x, (2, 2, 2)),
            (r(1, 2, 4, 4),),
            ShapeError,
            "output_size must be an int or a tuple of 2 ints",
        ),
        ErrorSample(
            lambda x: F.adaptive_avg_pool2d(x, 2),
            (r(1, 2, 0, 4),),
            ShapeError,
            "expected non-zero channel and spatial sizes",
        ),
    ],
)

ADAPTIVE_MAX_POOL = OpInfo(
    "adaptive_max_pool",
    [
        _fn("adaptive_max_pool1d", (r(2, 3, 10),), "1d", output_size=4, return_indices=True),
        _fn(
            "adaptive_max_pool2d",
            (r(2, 3, 9, 8),),
            "2d-indices",
            output_size=(4, 5),
            return_indices=True,
        ),
        _fn("adaptive_max_pool2d", (r(2, 3, 5, 4),), "2d-upsample-overlap", output_size=(7, 6)),
        _fn("adaptive_max_pool2d", (r(2, 3, 8, 6),), "2d-divisible", output_size=(4, 3)),
        _fn(
            "adaptive_max_pool2d",
            (r(3, 9, 8),),
            "2d-unbatched-none",
            output_size=(None, 3),
            return_indices=True,
        ),
        # tied maxima are non-differentiable points; the check is the first-index rule
        _fn(
            "adaptive_max_pool2d",
            (ties(2, 3, 7, 9),),
            "2d-ties-first-index",
            grad=False,
            output_size=(3, 4),
            return_indices=True,
        ),
        Sample(
            lambda x: F.adaptive_max_pool2d(x.permute(0, 3, 1, 2), 2),
            (r(2, 5, 6, 3),),
            lambda x: TF.adaptive_max_pool2d(t(x).permute(0, 3, 1, 2), 2),
            "2d-permuted",
        ),
        _fn(
            "adaptive_max_pool3d",
            (r(1, 2, 5, 6, 7),),
            "3d-indices",
            output_size=(2, 4, 3),
            return_indices=True,
        ),
    ],
    errors=[
        # IR attrs that name no spatial dim (only a loaded or hand-built graph has them)
        ErrorSample(
            lambda x: raw_op(x, "adaptive_max_pool", output_size=(), return_indices=False),
            (r(2, 3),),
            ShapeError,
            "adaptive_max_pool: output_size is empty",
        ),
        ErrorSample(
            lambda x: F.adaptive_max_pool2d(x, 2),
            (r(4, 4),),
            ShapeError,
            r"expected a 3-D \(unbatched\) or 4-D \(batched\) input",
        ),
        ErrorSample(
            lambda x: F.adaptive_max_pool2d(x, -1),
            (r(1, 2, 4, 4),),
            ShapeError,
            "must be non-negative",
        ),
    ],
)

OP_DB = [MAX_POOL, AVG_POOL, ADAPTIVE_AVG_POOL, ADAPTIVE_MAX_POOL]
