"""OpInfo entries: pad through F.pad (PyTorch's last-dim-first pad order, all four modes)."""

import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import randint, randn, reseed, t

import ember.nn.functional as F
from ember.errors import ShapeError

reseed(7)
TF = torch.nn.functional


def _pad(args, pad, mode="constant", value=None, name="", permute=False):
    def efn(a):
        return F.pad(a.transpose(-1, -2) if permute else a, pad, mode, value)

    def ref(a):
        x = t(a).transpose(-1, -2) if permute else t(a)
        return TF.pad(x, pad, mode) if value is None else TF.pad(x, pad, mode, value)

    return Sample(efn, args, ref, name or f"{mode}-{pad}")


PAD = OpInfo(
    "pad",
    [
        _pad((randn(2, 3),), (1, 2), name="constant-last-dim"),
        _pad((randn(2, 3, 4),), (1, 0, 0, 2), value=-1.5, name="constant-two-dims-value"),
        _pad((randn(2, 3, 4),), (1, 1, 1, 1, 1, 1), name="constant-all-dims"),
        _pad((randn(3, 5),), (-1, 2), name="constant-negative-crops"),
        _pad((randint(0, 9, 2, 3),), (1, 1), value=7, name="constant-int"),
        _pad((randn(0, 3),), (1, 1), name="constant-size-0"),
        _pad((randn(2, 3, 5),), (2, 3), "reflect"),
        _pad((randn(2, 3, 4, 5),), (1, 2, 2, 1), "reflect"),
        _pad((randn(3, 4, 5),), (1, 2, 0, 3), "reflect", name="reflect-unbatched-2d"),
        _pad((randn(1, 2, 3, 3, 4),), (1, 1, 2, 0, 1, 2), "reflect", name="reflect-3d"),
        _pad((randn(2, 3, 4),), (2, 3), "replicate"),
        _pad((randn(2, 2, 3, 4),), (0, 2, 3, 1), "replicate"),
        _pad((randn(2, 3, 4),), (2, 4), "circular"),
        _pad((randn(2, 2, 3, 4),), (1, 2, 3, 0), "circular"),
        _pad((randn(2, 4, 3),), (1, 2), "reflect", name="reflect-permuted", permute=True),
        _pad((randn(2, 3, 4),), (-1, 2), "circular", name="circular-negative"),
    ],
    errors=[
        ErrorSample(lambda a: F.pad(a, (1,)), (randn(2, 3),), ShapeError, r"divisible by 2"),
        ErrorSample(
            lambda a: F.pad(a, (1, 1, 1, 1, 1, 1)),
            (randn(2, 3),),
            ShapeError,
            r"padding \(1, 1, 1, 1, 1, 1\) covers 3 dims but the input \(2, 3\) has only 2",
        ),
        ErrorSample(
            lambda a: F.pad(a, (3, 0), "reflect"),
            (randn(2, 3),),
            ShapeError,
            r"reflect padding \(3, 0\) of dim 1 must be smaller than its size 3",
        ),
        ErrorSample(
            lambda a: F.pad(a, (4, 0), "circular"),
            (randn(2, 3),),
            ShapeError,
            r"circular padding \(4, 0\) of dim 1 must be at most its size 3",
        ),
        ErrorSample(
            lambda a: F.pad(a, (1, 1), "reflect"),
            (randn(4),),
            ShapeError,
            r"reflect padding of 1 dims needs a 2-D or 3-D input",
        ),
        ErrorSample(
            lambda a: F.pad(a, (1, 1), "wrap"), (randn(2, 4),), ShapeError, r"mode must be one of"
        ),
        ErrorSample(lambda a: F.pad(a, (-3, -1)), (randn(2, 3),), ShapeError, r"negative padding"),
    ],
)

OP_DB = [PAD]
