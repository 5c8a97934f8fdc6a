"""OpInfo entries: random draws, sort/topk, and the sub-graph ops `call` and `grad`.

Random draws cannot equal a reference value by value; their samples return
exact invariants (a sorted permutation is `arange`, draws lie in their range)
and moments within a tolerance far above their sampling error. `call` and `grad`
appear in lazy recordings; their samples emit them with a traced body.
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample, raw_op
from opinfo_inputs import distinct, randn, reseed, t

import ember as em
from ember.errors import DTypeError, ShapeError
from ember.frontend.trace import trace_function

reseed(21)


def _in_range(x, lo, hi):
    return ((x >= lo) & (x < hi)).all()


RANDOM_UNIFORM = OpInfo(
    "random_uniform",
    [
        Sample(
            lambda a: (em.rand(4000).mean() + a * 0, _in_range(em.rand(50, 3), 0.0, 1.0)),
            (np.zeros((), np.float32),),
            lambda a: (np.float32(0.5), np.bool_(True)),
            "moments-and-range",
            grad=False,
            atol=0.03,
        ),
        Sample(
            lambda a: em.rand_like(a).shape[0] + em.zeros(()) + _in_range(em.rand_like(a), 0, 1),
            (randn(7, 2),),
            lambda a: np.float32(8.0),
            "rand_like",
            grad=False,
        ),
    ],
    differentiable=False,
)

RANDOM_NORMAL = OpInfo(
    "random_normal",
    [
        Sample(
            lambda a: (em.randn(20000).mean() + a * 0, em.randn(20000).std()),
            (np.zeros((), np.float32),),
            lambda a: (np.float32(0.0), np.float32(1.0)),
            "moments",
            grad=False,
            atol=0.03,
        ),
        Sample(
            lambda m: em.normal(m, 0.01, (2000,)).mean(),
            (np.array(3.0, np.float32),),
            lambda m: np.float32(3.0),
            "normal-mean",
            grad=False,
            atol=0.01,
        ),
    ],
    differentiable=False,
)

RANDOM_INTEGERS = OpInfo(
    "random_integers",
    [
        Sample(
            lambda a: _in_range(em.randint(3, 9, (500,)), 3, 9) & (a == a).all(),
            (np.zeros(2, np.float32),),
            lambda a: np.bool_(True),
            "range",
            grad=False,
        ),
    ],
    differentiable=False,
)

RANDOM_PERMUTATION = OpInfo(
    "random_permutation",
    [
        Sample(
            lambda a: em.sort(em.randperm(37)).values + a * 0,
            (np.zeros(37, np.int32),),
            lambda a: np.arange(37, dtype=np.int32),
            "is-a-permutation",
            grad=False,
        ),
    ],
    differentiable=False,
)


def _fold_then_draw(key):
    """Drawing with salt 7 equals drawing with salt=None from the key folded with 7."""
    direct = raw_op(key, "random_normal", [key], shape=(5,), dtype="float32", salt=7)
    folded = raw_op(key, "random_fold_in", [key], salt=7)
    again = raw_op(key, "random_normal", [folded], shape=(5,), dtype="float32", salt=None)
    other = raw_op(key, "random_normal", [key], shape=(5,), dtype="float32", salt=8)
    return direct - again, (direct == other).any()


RANDOM_FOLD_IN = OpInfo(
    "random_fold_in",
    [
        Sample(
            _fold_then_draw,
            (np.array([0, 42], np.uint32),),
            lambda key: (np.zeros(5, np.float32), np.bool_(False)),
            "equals-salted-draw",
            grad=False,
        ),
    ],
    errors=[
        ErrorSample(
            lambda k: raw_op(k, "random_fold_in", [k], salt=1),
            (np.zeros(3, np.float32),),
            DTypeError,
            r"random_fold_in: the key operand must be u32\[2\]",
        ),
    ],
    differentiable=False,
)

MULTINOMIAL = OpInfo(
    "multinomial",
    [
        Sample(
            # without replacement every draw is distinct and has nonzero probability
            lambda p: em.sort(em.multinomial(p, 4, replacement=False), dim=-1).values,
            (
                np.array(
                    [[0.0, 1.0, 2.0, 0.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]], np.float32
                ),
            ),
            lambda p: np.array([[1, 2, 4, 5], [0, 1, 2, 3]], np.int32),
            "no-replacement-support",
            grad=False,
        ),
        Sample(
            lambda p: (em.multinomial(p, 3000, replacement=True) == 2).float().mean(dim=-1),
            (np.array([[0.2, 0.3, 0.5]], np.float32),),
            lambda p: np.array([0.5], np.float32),
            "with-replacement-frequency",
            grad=False,
            atol=0.04,
        ),
    ],
    differentiable=False,
)

SORT = OpInfo(
    "sort",
    [
        Sample(
            lambda a: tuple(em.sort(a, dim=1)),
            (distinct(3, 5),),
            lambda a: tuple(torch.sort(t(a), dim=1)),
            "ascending",
        ),
        Sample(
            lambda a: tuple(em.sort(a, dim=0, descending=True)),
            (distinct(4, 3),),
            lambda a: tuple(torch.sort(t(a), dim=0, descending=True)),
            "descending-dim0",
        ),
        Sample(
            lambda a: em.argsort(a, dim=-1, stable=True),
            (np.array([[2, 1, 2, 0, 1]], np.float32),),
            lambda a: torch.argsort(t(a), dim=-1, stable=True),
            "argsort-stable-ties",
            grad=False,
        ),
    ],
    errors=[ErrorSample(lambda a: em.sort(a, dim=3), (randn(2, 3),), ShapeError, "dim")],
)

TOPK = OpInfo(
    "topk",
    [
        Sample(
            lambda a: tuple(em.topk(a, 3)),
            (distinct(4, 6),),
            lambda a: tuple(torch.topk(t(a), 3)),
            "largest",
        ),
        Sample(
            lambda a: tuple(em.topk(a, 2, dim=0, largest=False)),
            (distinct(5, 3),),
            lambda a: tuple(torch.topk(t(a), 2, dim=0, largest=False)),
            "smallest-dim0",
        ),
    ],
    errors=[ErrorSample(lambda a: em.topk(a, 9), (randn(2, 3),), ShapeError, "k")],
)


def _body(fn, *specs):
    return trace_function(fn, specs, names=[f"b{i}" for i in range(len(specs))])[0]


def _square_plus(x, y):
    return x * x + y, x.sum()


def _emit_call(x, y):
    body = _body(_square_plus, x, y)
    return tuple(x.builder.emit("call", [x, y], {"name": "SquarePlus"}, subgraphs=(body,)))


def _sum_of_cubes_times(w, c):
    return (w * w * w * c).sum()


def _emit_grad(w, c):
    body = _body(_sum_of_cubes_times, w, c)
    return w.builder.emit("grad", [w, c], {"num_wrt": 1}, subgraphs=(body,))[0]


def _emit_grad_mismatch(w, c):
    body = _body(_sum_of_cubes_times, w, w)
    return w.builder.emit("grad", [w, c], {"num_wrt": 1}, subgraphs=(body,))[0]


CALL = OpInfo(
    "call",
    [
        Sample(
            lambda x, y: _emit_call(x, y),
            (randn(3, 4), randn(3, 4)),
            lambda x, y: (t(x) * t(x) + t(y), t(x).sum()),
            "inline-body",
        ),
    ],
)

GRAD = OpInfo(
    "grad",
    [
        Sample(
            lambda w, c: _emit_grad(w, c),
            (randn(5), randn(5)),
            lambda w, c: 3 * t(w) ** 2 * t(c),
            "d-sum-w3c",
        ),
    ],
    errors=[
        ErrorSample(
            lambda w, c: _emit_grad_mismatch(w, c), (randn(5), randn(3)), ShapeError, "operands"
        )
    ],
)


def _emit_value_and_grad(w, c):
    body = _body(_sum_of_cubes_times, w, c)
    return tuple(w.builder.emit("value_and_grad", [w, c], {"num_wrt": 1}, subgraphs=(body,)))


VALUE_AND_GRAD = OpInfo(
    "value_and_grad",
    [
        Sample(
            lambda w, c: _emit_value_and_grad(w, c),
            (randn(5), randn(5)),
            lambda w, c: (3 * t(w) ** 2 * t(c), (t(w) ** 3 * t(c)).sum()),
            "d-sum-w3c-and-value",
        ),
    ],
)

OP_DB = [
    RANDOM_UNIFORM,
    RANDOM_NORMAL,
    RANDOM_INTEGERS,
    RANDOM_PERMUTATION,
    RANDOM_FOLD_IN,
    MULTINOMIAL,
    SORT,
    TOPK,
    CALL,
    GRAD,
    VALUE_AND_GRAD,
]
