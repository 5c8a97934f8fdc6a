"""OpInfo entries: ctc_loss (padded and concatenated targets, reductions, zero_infinity)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample

import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def logp(*shape):
    x = r(*shape)
    return (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(np.float32)


def i32(*values):
    return np.array(values, np.int32)


def t(x):
    x = np.asarray(x)
    return torch.from_numpy(x.astype(np.int64) if np.issubdtype(x.dtype, np.integer) else x)


def ctc(**kw):
    return lambda lp, tg, il, tl: F.ctc_loss(lp, tg, il, tl, **kw)


def ref(**kw):
    return lambda lp, tg, il, tl: torch.nn.functional.ctc_loss(t(lp), t(tg), t(il), t(tl), **kw)


PADDED = np.array([[1, 2, 2, 4], [3, 1, 0, 0], [4, 4, 4, 0]], np.int32)
LENGTHS = i32(4, 2, 3)
CONCAT = np.concatenate([PADDED[k, : LENGTHS[k]] for k in range(3)]).astype(np.int32)

OP_DB = [
    OpInfo(
        "ctc_loss",
        [
            Sample(ctc(), (logp(10, 3, 5), PADDED, i32(10, 8, 9), LENGTHS), ref(), "padded-mean"),
            Sample(
                ctc(reduction="sum"),
                (logp(10, 3, 5), CONCAT, i32(10, 6, 10), LENGTHS),
                ref(reduction="sum"),
                "concatenated-sum",
            ),
            Sample(
                ctc(reduction="none", blank=2),
                (logp(9, 3, 5), np.where(PADDED == 2, 0, PADDED), i32(9, 9, 7), LENGTHS),
                ref(reduction="none", blank=2),
                "blank-2-none",
            ),
            # raw scores, not log-probabilities: torch sums them along paths as given
            Sample(
                ctc(reduction="none"),
                (r(8, 3, 5), PADDED, i32(8, 8, 8), LENGTHS),
                ref(reduction="none"),
                "unnormalized",
            ),
            # sequence 2 needs 5 frames (3 labels, 2 blanks between the repeats) but has 4
            Sample(
                ctc(reduction="none", zero_infinity=True),
                (logp(8, 3, 5), PADDED, i32(8, 8, 4), LENGTHS),
                ref(reduction="none", zero_infinity=True),
                "zero-infinity",
            ),
            Sample(
                ctc(reduction="none"),
                (logp(8, 3, 5), PADDED, i32(8, 8, 4), LENGTHS),
                ref(reduction="none"),
                "infinite",
                grad=False,
            ),  # an infinite loss has no finite-difference gradient
            Sample(
                ctc(reduction="none"),
                (logp(6, 2, 4), np.zeros((2, 0), np.int32), i32(6, 3), i32(0, 0)),
                ref(reduction="none"),
                "empty-targets",
            ),
            Sample(ctc(), (logp(1, 1, 3), i32(2)[None], i32(1), i32(1)), ref(), "size-1"),
            Sample(
                ctc(reduction="none"),
                (logp(7, 4), i32(1, 3, 3), np.int32(7), np.int32(3)),
                ref(reduction="none"),
                "unbatched",
            ),
            Sample(
                ctc(),
                (logp(8, 3, 5), PADDED.astype(np.int16), i32(8, 7, 8), LENGTHS.astype(np.uint8)),
                ref(),
                "int16-targets-uint8-lengths",
            ),
            Sample(
                lambda lp, tg, il, tl: F.ctc_loss(lp.permute(1, 0, 2), tg, il, tl),
                (logp(3, 8, 5), PADDED, i32(8, 8, 8), LENGTHS),
                lambda lp, tg, il, tl: ref()(
                    np.ascontiguousarray(lp.transpose(1, 0, 2)), tg, il, tl
                ),
                "permuted-input",
            ),
        ],
        errors=[
            ErrorSample(
                ctc(),
                (r(4, 2, 3, 5), PADDED[:2], i32(4, 4), i32(1, 1)),
                ShapeError,
                r"ctc_loss: log_probs must be \(T, N, C\), got \(4, 2, 3, 5\)",
            ),
            ErrorSample(
                ctc(),
                (r(6, 3, 5), PADDED.astype(np.float32), i32(6, 6, 6), LENGTHS),
                DTypeError,
                "ctc_loss: targets must be integers, got float32",
            ),
            ErrorSample(
                ctc(),
                (r(6, 3, 5), PADDED, i32(6, 6), LENGTHS),
                ShapeError,
                r"ctc_loss: input_lengths must have shape \(3,\) .* got \(2,\)",
            ),
            ErrorSample(
                ctc(),
                (r(6, 3, 5), PADDED[:2], i32(6, 6, 6), LENGTHS),
                ShapeError,
                r"targets must be padded \(3, S\) or concatenated 1-D .* got \(2, 4\)",
            ),
            ErrorSample(
                ctc(blank=5),
                (r(6, 3, 5), PADDED, i32(6, 6, 6), LENGTHS),
                ShapeError,
                r"blank=5 is not a class of log_probs \(6, 3, 5\)",
            ),
            ErrorSample(
                ctc(reduction="batchmean"),
                (r(6, 3, 5), PADDED, i32(6, 6, 6), LENGTHS),
                ShapeError,
                "ctc_loss: reduction must be one of",
            ),
        ],
    ),
]
