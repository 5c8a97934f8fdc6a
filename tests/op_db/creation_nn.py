"""OpInfo entries: constant, iota, buffer_write, softmax family, nll_loss and dropout.

Creation functions (em.zeros, arange, eye, *_like, new_*) are the samples of
`constant` and `iota`. Dropout is stochastic: its samples have no reference
and tests/test_dropout.py checks its statistics.
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op
from opinfo_inputs import randint, randn, reseed, t, uniform

import ember as em
import ember.nn.functional as F
from ember import nn
from ember.errors import DTypeError, ShapeError, TraceError

reseed(9)
TF = torch.nn.functional

CONSTANT = OpInfo(
    "constant",
    [
        Sample(
            lambda a: a + em.zeros(2, 3),
            (randn(2, 3),),
            lambda a: t(a) + torch.zeros(2, 3),
            "zeros",
        ),
        Sample(
            lambda a: a * em.ones((3,), dtype=em.float32),
            (randn(2, 3),),
            lambda a: t(a) * torch.ones((3,)),
            "ones-tuple-size",
        ),
        # int/bool results: nothing to differentiate
        Sample(
            lambda a: em.full((2, 2), 7),
            (randn(1),),
            lambda a: torch.full((2, 2), 7),
            "full-int-dtype",
            grad=False,
        ),
        Sample(
            lambda a: em.full([3], True),
            (randn(1),),
            lambda a: torch.full([3], True),
            "full-bool",
            grad=False,
        ),
        Sample(
            lambda a: em.empty(0, 3) + 1.0,
            (randn(1),),
            lambda a: torch.zeros(0, 3) + 1.0,
            "empty-size-0",
        ),
        Sample(
            lambda a: em.zeros_like(a) + em.ones_like(a, dtype=em.int32),
            (randint(0, 4, 2, 3),),
            lambda a: torch.zeros_like(t(a)) + torch.ones_like(t(a), dtype=torch.int32),
            "like",
        ),
        Sample(
            lambda a: em.full_like(a, 2.7),
            (randint(0, 4, 2),),
            lambda a: torch.full_like(t(a), 2.7),
            "full-like-keeps-int",
        ),
        Sample(
            lambda a: a.new_zeros(2, 1) + a.new_ones((1, 3)) * a.new_full((3,), 0.5),
            (randn(2),),
            lambda a: t(a).new_zeros(2, 1) + t(a).new_ones((1, 3)) * t(a).new_full((3,), 0.5),
            "new",
        ),
        Sample(
            lambda a: a.new_tensor([1, 2]) + em.tensor([[0.5], [1.5]]),
            (randn(1),),
            lambda a: t(a).new_tensor([1, 2]) + torch.tensor([[0.5], [1.5]]),
            "literals",
        ),
        Sample(
            lambda a: a + np.array([1, 2, 3], np.int64),
            (randint(0, 3, 2, 3),),
            lambda a: t(a) + torch.tensor([1, 2, 3]),
            "numpy-literal",
        ),
        Sample(lambda a: a * 2.0, (randn(),), lambda a: t(a) * 2.0, "scalar-0-d"),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda a: raw_op(a, "constant", [], value=0.0, shape=(2, -1), dtype="float32"),
            (randn(1),),
            ShapeError,
            r"constant: shape \(2, -1\) has a negative size",
        ),
        ErrorSample(
            lambda a: raw_op(a, "constant", [], value=(1.0, 2.0), shape=(3,), dtype="float32"),
            (randn(1),),
            ShapeError,
            r"a literal of 2 values cannot fill shape \(3,\)",
        ),
        ErrorSample(
            lambda a: em.zeros(2, -1), (randn(1),), ShapeError, r"negative dimension in size"
        ),
        ErrorSample(
            lambda a: em.ones(2, devicee="cpu"), (randn(1),), TypeError, r"unexpected keyword"
        ),
        ErrorSample(
            lambda a: a + np.zeros(5000, np.float32),
            (randn(1),),
            TraceError,
            r"arrays larger than 4096 elements are not embedded",
        ),
    ],
    differentiable=True,
)

IOTA = OpInfo(
    "iota",
    [
        Sample(
            lambda a: em.arange(5) + a,
            (randint(0, 3, 5),),
            lambda a: torch.arange(5) + t(a),
            "arange-end",
        ),
        Sample(
            lambda a: em.arange(2, 11, 3),
            (randn(1),),
            lambda a: torch.arange(2, 11, 3),
            "arange-step",
        ),
        Sample(
            lambda a: em.arange(1.0, -1.0, -0.3),
            (randn(1),),
            lambda a: torch.arange(1.0, -1.0, -0.3),
            "arange-float-negative-step",
        ),
        Sample(
            lambda a: em.arange(4, dtype=em.float32) * a,
            (randn(4),),
            lambda a: torch.arange(4, dtype=torch.float32) * t(a),
            "arange-dtype",
        ),
        Sample(lambda a: em.arange(0), (randn(1),), lambda a: torch.arange(0), "arange-empty"),
        Sample(
            lambda a: em.linspace(-1, 1, 7) * a,
            (randn(7),),
            lambda a: torch.linspace(-1, 1, 7) * t(a),
            "linspace",
        ),
        Sample(
            lambda a: em.linspace(0, 5, 1),
            (randn(1),),
            lambda a: torch.linspace(0, 5, 1),
            "linspace-1",
        ),
        Sample(lambda a: em.eye(3) @ a, (randn(3, 2),), lambda a: torch.eye(3) @ t(a), "eye"),
        Sample(
            lambda a: em.eye(2, 4, dtype=em.int32),
            (randn(1),),
            lambda a: torch.eye(2, 4, dtype=torch.int32),
            "eye-rect-int",
        ),
    ],
    errors=[
        # IR attrs the functional API never emits (a loaded or hand-built graph may)
        ErrorSample(
            lambda a: raw_op(a, "iota", [], start=0.0, step=1.0, size=-3, dtype="float32"),
            (randn(1),),
            ShapeError,
            r"iota \(arange\): size -3 is negative",
        ),
        ErrorSample(
            lambda a: em.arange(0, 5, -1), (randn(1),), ShapeError, r"inconsistent with the sign"
        ),
        ErrorSample(lambda a: em.arange(0, 5, 0), (randn(1),), ShapeError, r"step must be nonzero"),
    ],
    differentiable=False,
)


def _write_buffer(a):
    # what Module.__setattr__ emits for `self.buf = value` in forward
    (out,) = a.builder.emit("buffer_write", [a * 2.0], {"name": "buf"})
    return out + 1.0


def _assign_to_buffer(a):
    """`self.buf = a` in forward of a module whose buffer has another shape."""
    m = nn.Module()
    m.register_buffer("buf", np.zeros(3, np.float32))
    a.builder.register_module_tree(m, "m")
    m.buf = a
    return a


BUFFER_WRITE = OpInfo(
    "buffer_write",
    [
        Sample(_write_buffer, (randn(2, 3),), lambda a: t(a) * 2.0 + 1.0, "identity-on-value"),
    ],
    errors=[
        ErrorSample(
            _assign_to_buffer,
            (randn(2, 3),),
            ShapeError,
            r"buffer 'm.buf' has shape \(3,\) but forward assigns a value of shape \(2, 3\)",
        ),
    ],
)


def _softmax(name):
    efn, tfn = getattr(F, name), getattr(TF, name)
    return OpInfo(
        name,
        [
            Sample(
                lambda a: efn(a, dim=1),
                (randn(3, 4, scale=3.0),),
                lambda a: tfn(t(a), dim=1),
                "dim-1",
            ),
            Sample(
                lambda a: getattr(a, name)(-1), (randn(2, 3, 4),), lambda a: tfn(t(a), -1), "method"
            ),
            Sample(
                lambda a: efn(a, 0), (randn(3, 4) * 100,), lambda a: tfn(t(a), 0), "large-logits"
            ),
            Sample(lambda a: efn(a.T, 1), (randn(4, 3),), lambda a: tfn(t(a).T, 1), "permuted"),
            Sample(lambda a: efn(a, 0), (randn(),), lambda a: tfn(t(a), 0), "0-d"),
            Sample(lambda a: efn(a, 1), (randn(0, 3),), lambda a: tfn(t(a), 1), "size-0"),
            Sample(
                lambda a: efn(a, 1), (randint(-3, 3, 2, 3),), lambda a: tfn(t(a).float(), 1), "int"
            ),
            Sample(
                lambda a: efn(a, 1, dtype=em.float32),
                (randn(2, 3).astype(np.float16),),
                lambda a: tfn(t(a), 1, dtype=torch.float32),
                "dtype-arg",
                rtol=1e-3,
                grad=False,
            ),  # a cast to float32 in the float64 check: rounding dominates
            Sample(
                lambda a: efn(a.masked_fill(a > 1.0, float("-inf")), 1),
                (randn(3, 5),),
                lambda a: tfn(t(a).masked_fill(t(a) > 1.0, float("-inf")), 1),
                "masked-minus-inf",
                grad=False,
            ),  # -inf logits: finite differences are undefined there
            Sample(lambda a: efn(a), (randn(2, 3, 4),), lambda a: tfn(t(a), 0), "implicit-dim-3d"),
        ],
        errors=[
            ErrorSample(lambda a: efn(a, 2), (randn(2, 3),), ShapeError, r"dim=2 is out of range")
        ],
    )


def _softmin():
    return OpInfo(
        "softmax",
        [
            Sample(
                lambda a: F.softmin(a, 1), (randn(3, 4),), lambda a: TF.softmin(t(a), 1), "softmin"
            )
        ],
    )


def _nll(args, kw, name):
    return Sample(
        lambda *xs: F.nll_loss(*xs[:2], *(xs[2:] or [None]), **kw),
        args,
        lambda *xs: TF.nll_loss(
            t(xs[0]), t(xs[1]).long(), *(tuple(map(t, xs[2:])) or (None,)), **kw
        ),
        name,
    )


_logp = np.log(uniform(0.1, 1.0, 6, 4))
_target = np.array([0, 3, 1, 1, 2, 3], np.int32)
_ignored = np.array([0, -100, 1, 3, 2, -100], np.int32)
_ignored_5 = np.array([0, 5, 1, 3, 5, 2], np.int32)
NLL_LOSS = OpInfo(
    "nll_loss",
    [
        _nll((_logp, _target), {}, "mean"),
        _nll((_logp, _target, uniform(0.5, 2.0, 4)), {}, "weighted-mean"),
        _nll((_logp, _target, uniform(0.5, 2.0, 4)), {"reduction": "sum"}, "weighted-sum"),
        _nll((_logp, _target), {"reduction": "none"}, "none"),
        _nll((_logp, _ignored), {}, "ignore-default--100"),
        _nll(
            (_logp, _ignored_5, uniform(0.5, 2.0, 4)),
            {"ignore_index": 5, "reduction": "mean"},
            "ignore-index-weighted",
        ),
        _nll((np.log(uniform(0.1, 1, 2, 3, 4, 5)), randint(0, 3, 2, 4, 5)), {}, "spatial"),
        _nll((np.log(uniform(0.1, 1, 3)), np.array(1, np.int32)), {}, "unbatched"),
    ],
    errors=[
        ErrorSample(
            lambda x, y: F.nll_loss(x, y),
            (_logp, randint(0, 4, 5)),
            ShapeError,
            r"input of shape \(6, 4\) needs class targets of shape \(6,\), got \(5,\)",
        ),
        ErrorSample(
            lambda x, y: F.nll_loss(x, y),
            (_logp, randn(6)),
            DTypeError,
            r"class targets must be integers, got float32",
        ),
    ],
)

_x = randn(4, 6, 5)
DROPOUT = OpInfo(
    "dropout",
    [
        Sample(lambda a: F.dropout(a, 0.3), (_x,), None, "element"),
        Sample(lambda a: F.dropout1d(a, 0.5), (_x,), None, "channel-1d"),
        Sample(lambda a: F.dropout1d(a, 0.5), (randn(6, 5),), None, "channel-1d-unbatched"),
        Sample(lambda a: F.dropout2d(a, 0.4), (randn(2, 3, 4, 4),), None, "channel-2d"),
        Sample(lambda a: F.dropout3d(a, 0.4), (randn(3, 2, 2, 2),), None, "channel-3d-unbatched"),
        Sample(lambda a: F.alpha_dropout(a, 0.2, training=True), (_x,), None, "alpha"),
        Sample(
            lambda a: F.dropout(a.T, 1.0),
            (randn(3, 2),),
            lambda a: np.zeros((2, 3), np.float32),
            "p-1",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a: F.dropout(a, 1.5), (_x,), ShapeError, r"between 0 and 1, but got 1.5"
        ),
        ErrorSample(lambda a: F.dropout2d(a), (randn(4),), ShapeError, r"dropout2d: expects a 3-D"),
    ],
)

OP_DB = [
    CONSTANT,
    IOTA,
    BUFFER_WRITE,
    _softmax("softmax"),
    _softmax("log_softmax"),
    _softmin(),
    NLL_LOSS,
    DROPOUT,
]
