"""OpInfo entries: binary arithmetic with broadcasting, scalars and dtype promotion.

Every op runs on equal shapes, broadcast shapes (incl. size-0 and rank
extension), a 0-d tensor, a Python scalar on either side, an int tensor with a
float scalar, int and float tensors together and a permuted operand.
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import away_from_zero, randint, randn, reseed, t, uniform

import ember as em
from ember.errors import DTypeError, ShapeError

reseed(2)


def _tensor_only(fn):
    """torch.maximum/minimum/atan2 take no Python scalars: wrap them as 0-d tensors."""
    return lambda a, b: fn(torch.as_tensor(a), torch.as_tensor(b))


def _pos(*shape):
    return uniform(0.5, 2.0, *shape)


# name -> (ember fn, torch fn, domain of a, domain of b)
ARITHMETIC = {
    "add": (em.add, torch.add, randn, randn),
    "sub": (em.sub, torch.sub, randn, randn),
    "mul": (em.mul, torch.mul, randn, randn),
    "div": (em.div, torch.div, randn, away_from_zero),
    "pow": (em.pow, torch.pow, _pos, randn),
    "maximum": (em.maximum, _tensor_only(torch.maximum), randn, randn),
    "minimum": (em.minimum, _tensor_only(torch.minimum), randn, randn),
    "fmod": (em.fmod, torch.fmod, lambda *s: randn(*s, scale=3.0), away_from_zero),
    "remainder": (em.remainder, torch.remainder, lambda *s: randn(*s, scale=3.0), away_from_zero),
    "atan2": (em.atan2, _tensor_only(torch.atan2), randn, randn),
    "floor_divide": (
        em.floor_divide,
        torch.floor_divide,
        lambda *s: randn(*s, scale=3.0),
        away_from_zero,
    ),
}
# piecewise-constant results: the gradient is 0 almost everywhere and finite differences
# straddle the jumps, so gradients are not checked
NO_GRAD = ("floor_divide",)
# operators that reach the same op
OPERATORS = {
    "add": "__add__",
    "sub": "__sub__",
    "mul": "__mul__",
    "div": "__truediv__",
    "pow": "__pow__",
    "remainder": "__mod__",
    "floor_divide": "__floordiv__",
}


def _arith_entry(name, efn, tfn, da, db):
    grad = name not in NO_GRAD
    scalar = 1.5 if name != "pow" else 2.5

    def s(fn, args, ref, tag, **kw):
        return Sample(fn, args, ref, tag, grad=grad, **kw)

    int_b = (
        randint(1, 4, 3)
        if name in ("div", "fmod", "remainder", "floor_divide", "pow")
        else randint(-3, 4, 3)
    )
    samples = [
        s(efn, (da(3, 4), db(3, 4)), lambda a, b: tfn(t(a), t(b)), "same-shape"),
        s(efn, (da(3, 1), db(1, 4)), lambda a, b: tfn(t(a), t(b)), "broadcast-both"),
        s(efn, (da(2, 3, 4), db(4)), lambda a, b: tfn(t(a), t(b)), "broadcast-rank"),
        s(efn, (da(0, 4), db(4)), lambda a, b: tfn(t(a), t(b)), "size-0"),
        s(efn, (da(1), db(2, 1)), lambda a, b: tfn(t(a), t(b)), "size-1"),
        s(efn, (da(), db(2, 3)), lambda a, b: tfn(t(a), t(b)), "0-d-tensor"),
        s(lambda a: efn(a, scalar), (da(2, 3),), lambda a: tfn(t(a), scalar), "python-scalar"),
        s(
            lambda a, b: efn(a.T, b),
            (da(4, 3), db(3, 4)),
            lambda a, b: tfn(t(a).T, t(b)),
            "permuted",
        ),
        # int tensor with a float scalar / float tensor: promoted to float like PyTorch
        s(
            lambda a: efn(a, scalar),
            (int_b,),
            lambda a: tfn(t(a), scalar),
            "int-tensor-float-scalar",
        ),
        s(efn, (da(2, 3), int_b), lambda a, b: tfn(t(a), t(b)), "float-tensor-int-tensor"),
    ]
    if name in OPERATORS:
        op = OPERATORS[name]
        reflected = "__r" + op[2:]
        samples += [
            s(
                lambda a, b: getattr(a, op)(b),
                (da(2, 3), db(3)),
                lambda a, b: getattr(t(a), op)(t(b)),
                "operator",
            ),
            s(
                lambda b: getattr(b, reflected)(scalar),
                (db(2, 2),),
                lambda b: getattr(t(b), reflected)(scalar),
                "reflected-scalar",
            ),
        ]
    if name not in ("atan2", "div", "pow"):  # ints stay ints (div/atan2 are float-valued)
        samples.append(
            Sample(efn, (randint(-9, 10, 2, 3), int_b), lambda a, b: tfn(t(a), t(b)), "int-int")
        )
    errors = [
        ErrorSample(
            efn,
            (randn(3, 4), randn(2, 4)),
            ShapeError,
            r"shapes \(3, 4\) and \(2, 4\) cannot be broadcast",
        )
    ]
    return OpInfo(name, samples, errors)


def _extra_samples():
    """Keyword forms (alpha, rounding_mode) on top of the table."""
    a, b = randn(3, 4, scale=4.0), away_from_zero(3, 4)
    ia, ib = randint(-20, 21, 3, 4), randint(1, 6, 3, 4) * np.where(randint(0, 2, 3, 4), 1, -1)
    return {
        "add": [
            Sample(
                lambda x, y: em.add(x, y, alpha=2.5),
                (a, b),
                lambda x, y: torch.add(t(x), t(y), alpha=2.5),
                "alpha",
            )
        ],
        "sub": [
            Sample(
                lambda x, y: x.sub(y, alpha=-2),
                (a, b),
                lambda x, y: torch.sub(t(x), t(y), alpha=-2),
                "alpha",
            )
        ],
        "floor_divide": [
            Sample(
                lambda x, y: em.div(x, y, rounding_mode="floor"),
                (a, b),
                lambda x, y: torch.div(t(x), t(y), rounding_mode="floor"),
                "div-floor",
                grad=False,
            ),
            Sample(
                lambda x, y: x.div(y, rounding_mode="floor"),
                (ia, ib.astype(np.int32)),
                lambda x, y: torch.div(t(x), t(y), rounding_mode="floor"),
                "div-floor-int",
            ),
            Sample(
                lambda x, y: em.div(x, y, rounding_mode="trunc"),
                (ia, ib.astype(np.int32)),
                lambda x, y: torch.div(t(x), t(y), rounding_mode="trunc"),
                "div-trunc-int",
            ),
        ],
        "trunc": [
            Sample(
                lambda x, y: em.div(x, y, rounding_mode="trunc"),
                (a, b),
                lambda x, y: torch.div(t(x), t(y), rounding_mode="trunc"),
                "div-trunc",
                grad=False,
            )
        ],  # piecewise constant
        "div": [
            Sample(
                lambda x, y: x / y,
                (ia, ib.astype(np.int32)),
                lambda x, y: t(x) / t(y),
                "int-true-division",
            )
        ],
        "mul": [Sample(lambda x: x**2, (randn(3, 4),), lambda x: t(x) ** 2, "pow-2-as-mul")],
        "pow": [
            Sample(lambda x: 2.0**x, (randn(3, 4),), lambda x: 2.0 ** t(x), "scalar-base"),
            Sample(lambda x: x**0.5, (randint(0, 9, 5),), lambda x: t(x) ** 0.5, "int-sqrt"),
        ],
    }


OP_DB = [_arith_entry(name, *spec) for name, spec in ARITHMETIC.items()]
for _info in OP_DB:
    _info.samples += _extra_samples().get(_info.op, [])
    _info.errors.append(
        ErrorSample(
            lambda a, b, op=_info.op: a.builder.emit(op, [a, b])[0],
            (randn(2), randint(0, 2, 2)),
            DTypeError,
            rf"{_info.op}: operands have different dtypes",
        )
    )

OP_DB.append(OpInfo("trunc", _extra_samples()["trunc"]))
