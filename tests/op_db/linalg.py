"""OpInfo entries: matmul, linear, einsum."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample

import ember as em
import ember.nn.functional as F
from ember.errors import ShapeError

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def t(x):
    return torch.from_numpy(np.asarray(x))


OP_DB = [
    OpInfo(
        "matmul",
        [
            Sample(lambda a, b: a @ b, (r(3, 4), r(4, 5)), lambda a, b: t(a) @ t(b), "2d"),
            Sample(
                lambda a, b: em.matmul(a, b),
                (r(2, 1, 3, 4), r(5, 4, 2)),
                lambda a, b: torch.matmul(t(a), t(b)),
                "batched-broadcast",
            ),
            Sample(lambda a, b: a @ b, (r(4), r(4, 3)), lambda a, b: t(a) @ t(b), "vector-matrix"),
            Sample(
                lambda a, b: a @ b, (r(2, 3, 4), r(4)), lambda a, b: t(a) @ t(b), "matrix-vector"
            ),
            Sample(lambda a, b: a @ b, (r(0, 4), r(4, 2)), lambda a, b: t(a) @ t(b), "size-0"),
        ],
        errors=[
            ErrorSample(
                lambda a, b: a @ b,
                (r(3, 4), r(5, 2)),
                ShapeError,
                r"matmul: shapes \(3, 4\) and \(5, 2\)",
            ),
        ],
    ),
    OpInfo(
        "linear",
        [
            Sample(
                lambda x, w, b: F.linear(x, w, b),
                (r(2, 3, 4), r(5, 4), r(5)),
                lambda x, w, b: torch.nn.functional.linear(t(x), t(w), t(b)),
                "bias",
            ),
            Sample(
                lambda x, w: F.linear(x, w),
                (r(6, 4), r(5, 4)),
                lambda x, w: torch.nn.functional.linear(t(x), t(w)),
                "no-bias",
            ),
            # out <= in features, 2**14 weights, 256 rows: CPU's linear_transposed_cotangent
            Sample(
                lambda x, w, b: F.linear(x, w, b),
                (r(2, 128, 136), r(128, 136), r(128)),
                lambda x, w, b: torch.nn.functional.linear(t(x), t(w), t(b)),
                "narrow-bias",
            ),
            Sample(
                lambda x, w: F.linear(x, w),
                (r(256, 130), r(128, 130)),
                lambda x, w: torch.nn.functional.linear(t(x), t(w)),
                "narrow-rows",
            ),
        ],
        errors=[
            ErrorSample(
                lambda x, w: F.linear(x, w), (r(6, 3), r(5, 4)), ShapeError, r"in_features=4"
            ),
        ],
    ),
    OpInfo(
        "einsum",
        [
            Sample(
                lambda a, b: em.einsum("bij,bjk->bik", a, b),
                (r(2, 3, 4), r(2, 4, 5)),
                lambda a, b: torch.einsum("bij,bjk->bik", t(a), t(b)),
                "bmm",
            ),
            Sample(
                lambda a: em.einsum("ii", a),
                (r(3, 3),),
                lambda a: torch.einsum("ii", t(a)),
                "trace",
            ),
            Sample(
                lambda a, b: em.einsum("...ij,...jk", a, b),
                (r(2, 3, 4), r(2, 4, 5)),
                lambda a, b: torch.einsum("...ij,...jk", t(a), t(b)),
                "ellipsis",
            ),
        ],
        errors=[
            ErrorSample(
                lambda a, b: em.einsum("ij,jk->ik", a, b),
                (r(2, 3), r(4, 5)),
                ShapeError,
                "index 'j' has sizes 3 and 4",
            ),
        ],
    ),
]
