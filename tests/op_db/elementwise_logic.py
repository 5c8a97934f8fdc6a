"""OpInfo entries: comparisons, logical and bitwise ops (bool results, promotion, broadcasting)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import randbool, randint, randn, reseed, t

import ember as em
from ember.errors import DTypeError, ShapeError

reseed(3)


def _ties(*shape):
    """Small integers as float32: comparisons see equal elements."""
    return randint(-2, 3, *shape).astype(np.float32)


COMPARISONS = {
    "eq": (em.eq, torch.eq, "__eq__"),
    "ne": (em.ne, torch.ne, "__ne__"),
    "lt": (em.lt, torch.lt, "__lt__"),
    "le": (em.le, torch.le, "__le__"),
    "gt": (em.gt, torch.gt, "__gt__"),
    "ge": (em.ge, torch.ge, "__ge__"),
}


def _comparison(name, efn, tfn, dunder):
    return OpInfo(
        name,
        [
            Sample(efn, (_ties(3, 4), _ties(3, 4)), lambda a, b: tfn(t(a), t(b)), "ties"),
            Sample(
                lambda a, b: getattr(a, dunder)(b),
                (_ties(3, 1), _ties(4)),
                lambda a, b: getattr(t(a), dunder)(t(b)),
                "operator-broadcast",
            ),
            Sample(
                lambda a: efn(a, 0.5),
                (randint(-2, 3, 2, 3),),
                lambda a: tfn(t(a), 0.5),
                "int-tensor-float-scalar",
            ),
            Sample(
                lambda a: getattr(a, dunder)(1),
                (_ties(2, 3),),
                lambda a: getattr(t(a), dunder)(1),
                "float-tensor-int-scalar",
            ),
            Sample(
                efn,
                (randint(-2, 3, 2, 3), _ties(3)),
                lambda a, b: tfn(t(a), t(b)),
                "int-vs-float-tensor",
            ),
            Sample(
                lambda a, b: efn(a.T, b),
                (_ties(3, 2), _ties(2, 3)),
                lambda a, b: tfn(t(a).T, t(b)),
                "permuted",
            ),
            Sample(efn, (randn(0, 3), randn(3)), lambda a, b: tfn(t(a), t(b)), "size-0"),
            Sample(efn, (randbool(4), randbool(4)), lambda a, b: tfn(t(a), t(b)), "bool"),
        ],
        errors=[
            ErrorSample(efn, (randn(3), randn(4)), ShapeError, r"shapes \(3,\) and \(4,\) cannot"),
        ],
        differentiable=False,
    )


LOGICAL = {
    "logical_and": (em.logical_and, torch.logical_and),
    "logical_or": (em.logical_or, torch.logical_or),
    "logical_xor": (em.logical_xor, torch.logical_xor),
}


def _logical(name, efn, tfn):
    return OpInfo(
        name,
        [
            Sample(efn, (randbool(3, 4), randbool(3, 4)), lambda a, b: tfn(t(a), t(b)), "bool"),
            Sample(
                efn, (randbool(3, 1), randbool(1, 4)), lambda a, b: tfn(t(a), t(b)), "broadcast"
            ),
            Sample(
                lambda a, b: getattr(a, name)(b),
                (_ties(2, 3), randint(-1, 2, 3)),
                lambda a, b: tfn(t(a), t(b)),
                "float-and-int-method",
            ),
            Sample(
                lambda a: efn(a, True),
                (randbool(5),),
                lambda a: tfn(t(a), torch.tensor(True)),
                "python-bool",
            ),
            Sample(efn, (randbool(0, 2), randbool(2)), lambda a, b: tfn(t(a), t(b)), "size-0"),
        ],
        errors=[
            ErrorSample(
                efn, (randbool(2, 3), randbool(3, 2)), ShapeError, r"\(2, 3\) and \(3, 2\)"
            ),
        ],
        differentiable=False,
    )


BITWISE = {
    "bitwise_and": (em.bitwise_and, torch.bitwise_and, "__and__"),
    "bitwise_or": (em.bitwise_or, torch.bitwise_or, "__or__"),
    "bitwise_xor": (em.bitwise_xor, torch.bitwise_xor, "__xor__"),
}


def _bitwise(name, efn, tfn, dunder):
    reflected = "__r" + dunder[2:]
    return OpInfo(
        name,
        [
            Sample(
                efn,
                (randint(-50, 50, 3, 4), randint(0, 64, 3, 4)),
                lambda a, b: tfn(t(a), t(b)),
                "int",
            ),
            Sample(
                lambda a, b: getattr(a, dunder)(b),
                (randbool(3, 1), randbool(4)),
                lambda a, b: getattr(t(a), dunder)(t(b)),
                "bool-operator",
            ),
            Sample(
                lambda a, b: getattr(a, dunder)(b),
                (randbool(3), randint(0, 8, 3)),
                lambda a, b: getattr(t(a), dunder)(t(b)),
                "bool-int-promotes",
            ),
            Sample(
                lambda a: getattr(a, reflected)(6),
                (randint(0, 16, 4),),
                lambda a: getattr(t(a), reflected)(6),
                "reflected-int-scalar",
            ),
            Sample(
                lambda a: getattr(a, reflected)(True),
                (randbool(4),),
                lambda a: getattr(t(a), reflected)(True),
                "reflected-bool-scalar",
            ),
            Sample(
                efn, (randint(0, 9, 0, 3), randint(0, 9, 3)), lambda a, b: tfn(t(a), t(b)), "size-0"
            ),
        ],
        errors=[
            ErrorSample(
                efn, (randn(3), randn(3)), DTypeError, rf"{name}: expects integer or bool tensors"
            ),
            ErrorSample(
                efn, (randint(0, 3, 2), randint(0, 3, 3)), ShapeError, r"\(2,\) and \(3,\)"
            ),
        ],
        differentiable=False,
    )


BITWISE_NOT = OpInfo(
    "bitwise_not",
    [
        Sample(em.bitwise_not, (randint(-50, 50, 3, 4),), lambda a: torch.bitwise_not(t(a)), "int"),
        Sample(lambda a: ~a, (randint(-5, 5, 2, 3),), lambda a: ~t(a), "invert-int"),
        Sample(
            lambda a: a.T.bitwise_not(),
            (randbool(2, 3),),
            lambda a: t(a).T.bitwise_not(),
            "bool-method",
        ),
    ],
    errors=[
        ErrorSample(
            em.bitwise_not, (randn(3),), DTypeError, r"bitwise_not: expects integer or bool"
        ),
    ],
    differentiable=False,
)


OP_DB = (
    [_comparison(name, *spec) for name, spec in COMPARISONS.items()]
    + [_logical(name, *spec) for name, spec in LOGICAL.items()]
    + [_bitwise(name, *spec) for name, spec in BITWISE.items()]
    + [BITWISE_NOT]
)
