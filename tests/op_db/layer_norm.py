"""OpInfo entries: layer_norm, rms_norm (via F.layer_norm / F.rms_norm, affine parts included)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample

import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError

rng = np.random.default_rng(0)
TF = torch.nn.functional


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def t(x):
    return torch.from_numpy(np.asarray(x))


def _ln(shape, args, name, eps=1e-5):
    return Sample(
        lambda x, w, b: F.layer_norm(x, shape, w, b, eps),
        args,
        lambda x, w, b: TF.layer_norm(t(x), shape, t(w), t(b), eps),
        name,
    )


def _permuted(x):
    return x.permute(2, 0, 1)


LAYER_NORM = OpInfo(
    "layer_norm",
    [
        _ln((4,), (r(2, 3, 4), r(4), r(4)), "last-dim-affine"),
        _ln((3, 4), (r(2, 3, 4), r(3, 4), r(3, 4)), "two-dims-eps", eps=1e-3),
        Sample(
            lambda x: F.layer_norm(x, (5,)),
            (r(7, 5),),
            lambda x: TF.layer_norm(t(x), (5,)),
            "no-affine",
        ),
        Sample(
            lambda x: F.layer_norm(x, [6]), (r(6),), lambda x: TF.layer_norm(t(x), [6]), "1d-input"
        ),
        Sample(
            lambda x, w, b: F.layer_norm(_permuted(x), 2, w, b),
            (r(3, 2, 4), r(2), r(2)),
            lambda x, w, b: TF.layer_norm(t(x).permute(2, 0, 1), (2,), t(w), t(b)),
            "permuted-int-shape",
        ),
        Sample(
            lambda x, w: F.layer_norm(x, (4,), w),
            (r(3, 4), r(4)),
            lambda x, w: TF.layer_norm(t(x), (4,), t(w)),
            "weight-only",
        ),
        Sample(
            lambda x: F.layer_norm(x, (1,)),
            (r(5, 1),),
            lambda x: TF.layer_norm(t(x), (1,)),
            "size-1-normalized-dim",
        ),
        Sample(
            lambda x: F.layer_norm(x, (3,)),
            (r(0, 3),),
            lambda x: TF.layer_norm(t(x), (3,)),
            "size-0-batch",
        ),
        # float16 input with float32 parameters: float32 math, a float16 result (as PyTorch)
        _ln((4,), (r(2, 4, dtype=np.float16), r(4), r(4)), "mixed-f16-input-f32-affine"),
        Sample(
            lambda x, b: F.layer_norm(x, (4,), None, b),
            (r(3, 4), r(4)),
            lambda x, b: TF.layer_norm(t(x), (4,), None, t(b)),
            "bias-only",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x: F.layer_norm(x, (4,)),
            (r(2, 3),),
            ShapeError,
            r"normalized_shape=\(4,\).*input of shape \(2, 3\)",
        ),
        ErrorSample(
            lambda x, w: F.layer_norm(x, (3,), w),
            (r(2, 3), r(4)),
            ShapeError,
            r"weight of shape \(4,\)",
        ),
        ErrorSample(
            lambda x: F.layer_norm(x, ()), (r(2, 3),), ShapeError, "at least 1-dimensional"
        ),
        ErrorSample(
            lambda x: F.layer_norm(x, (3,)),
            (np.zeros((2, 3), np.int32),),
            DTypeError,
            "expects a floating-point tensor",
        ),
    ],
)

RMS_NORM = OpInfo(
    "rms_norm",
    [
        Sample(
            lambda x, w: F.rms_norm(x, (4,), w),
            (r(2, 3, 4), r(4)),
            lambda x, w: TF.rms_norm(t(x), (4,), t(w)),
            "finfo-eps-weight",
        ),
        Sample(
            lambda x, w: F.rms_norm(x, (3, 4), w, eps=1e-6),
            (r(2, 3, 4), r(3, 4)),
            lambda x, w: TF.rms_norm(t(x), (3, 4), t(w), eps=1e-6),
            "two-dims-eps",
        ),
        Sample(
            lambda x: F.rms_norm(x, 5), (r(4, 5),), lambda x: TF.rms_norm(t(x), (5,)), "no-weight"
        ),
        Sample(
            lambda x: F.rms_norm(_permuted(x), (2,)),
            (r(3, 2, 4),),
            lambda x: TF.rms_norm(t(x).permute(2, 0, 1), (2,)),
            "permuted",
        ),
        Sample(
            lambda x, w: F.rms_norm(x, (1,), w),
            (r(3, 1), r(1)),
            lambda x, w: TF.rms_norm(t(x), (1,), t(w)),
            "size-1-normalized-dim",
        ),
        Sample(
            lambda x: F.rms_norm(x, (3,)),
            (r(2, 0, 3),),
            lambda x: TF.rms_norm(t(x), (3,)),
            "size-0-batch",
        ),
        # float16 input with a float32 weight: float32 math (and float32's eps), a float16 result
        Sample(
            lambda x, w: F.rms_norm(x, (4,), w),
            (r(2, 4, dtype=np.float16), r(4)),
            lambda x, w: TF.rms_norm(t(x), (4,), t(w)),
            "mixed-f16-input-f32-weight",
        ),
        Sample(
            lambda x: F.rms_norm(x, (4,)),
            (0.01 * r(3, 4, dtype=np.float16),),
            lambda x: TF.rms_norm(t(x), (4,)),
            "f16-small-values-default-eps",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x: F.rms_norm(x, (2, 3)),
            (r(3, 2),),
            ShapeError,
            r"normalized_shape=\(2, 3\).*input of shape \(3, 2\)",
        ),
        ErrorSample(
            lambda x, w: F.rms_norm(x, (2,), w),
            (r(3, 2), r(2, 1)),
            ShapeError,
            r"weight of shape \(2, 1\)",
        ),
        ErrorSample(
            lambda x: F.rms_norm(x, (2,)),
            (np.ones((3, 2), bool),),
            DTypeError,
            "rms_norm: expects a floating-point tensor",
        ),
    ],
)

OP_DB = [LAYER_NORM, RMS_NORM]
