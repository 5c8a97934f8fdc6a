"""OpInfo entries: the second batch of PyTorch tensor functions, part 1: BLAS-style
products (dot, inner, mv, addmv, addr, addbmm, chain_matmul), NumPy-style stacking and
splitting, views (swapaxes, adjoint, rot90, select, fliplr/flipud, ravel, diagflat),
broadcast_tensors, take, index_copy, cummax/cummin, and the simple pointwise functions
(frac, float_power, addcmul, deg2rad/rad2deg, vander and the NumPy-style aliases). Part 2
is tensor_functions_more_math.py. Each is under an op its trace emits, with sample names
that start with the function's name (`pytest -k rot90`)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import distinct, randint, randn, reseed, t, uniform

import ember as em
from ember.errors import DTypeError, ShapeError

reseed(64)


MATMUL = OpInfo(
    "matmul",
    [
        Sample(
            lambda a, b, m: (em.dot(a, b), a.vdot(b), em.mv(m, b), m.mv(a)),
            (randn(4), randn(4), randn(3, 4)),
            lambda a, b, m: (
                torch.dot(t(a), t(b)),
                torch.vdot(t(a), t(b)),
                torch.mv(t(m), t(b)),
                t(m).mv(t(a)),
            ),
            "dot-vdot-mv",
            atol=1e-5,
        ),
        Sample(
            lambda a, b: (em.dot(a, b), em.inner(a, b)),
            (randint(-3, 4, 5), randint(-3, 4, 5)),
            lambda a, b: (torch.dot(t(a), t(b)), torch.inner(t(a), t(b))),
            "dot-inner-int",
        ),
        Sample(
            lambda a, b: (em.inner(a, b), a.inner(b[0, 0])),
            (randn(2, 3), randn(4, 1, 3)),
            lambda a, b: (torch.inner(t(a), t(b)), t(a).inner(t(b)[0, 0])),
            "inner",
            atol=1e-5,
        ),
        Sample(
            lambda x, m, v, r: (
                em.addmv(x, m, v),
                x.addmv(m, v, beta=0.5, alpha=-2),
                em.addr(m, r, v, alpha=3),
                em.addmv(x, m, v, beta=0),
            ),
            (randn(3), randn(3, 4), randn(4), randn(3)),
            lambda x, m, v, r: (
                torch.addmv(t(x), t(m), t(v)),
                t(x).addmv(t(m), t(v), beta=0.5, alpha=-2),
                torch.addr(t(m), t(r), t(v), alpha=3),
                torch.addmv(t(x), t(m), t(v), beta=0),
            ),
            "addmv-addr",
            atol=1e-5,
        ),
        Sample(
            lambda x, b1, b2, c: (
                em.addbmm(x, b1, b2),
                x.addbmm(b1, b2, beta=2, alpha=0.5),
                em.chain_matmul(x, c, x.mT),
            ),
            (randn(3, 2), randn(4, 3, 5), randn(4, 5, 2), randn(2, 2)),
            lambda x, b1, b2, c: (
                torch.addbmm(t(x), t(b1), t(b2)),
                t(x).addbmm(t(b1), t(b2), beta=2, alpha=0.5),
                torch.linalg.multi_dot([t(x), t(c), t(x).mT]),
            ),
            "addbmm-chain_matmul",
            atol=1e-5,
        ),
    ],
    errors=[
        ErrorSample(em.dot, (randn(2, 2), randn(2, 2)), ShapeError, "dot: expects 1-D and 1-D"),
        ErrorSample(em.dot, (randn(3), randint(0, 2, 3)), DTypeError, "dot: expects both tensors"),
        ErrorSample(em.dot, (randn(3), randn(4)), ShapeError, "different sizes 3 and 4"),
        ErrorSample(em.mv, (randn(3, 4), randn(3)), ShapeError, "mv: size mismatch"),
        ErrorSample(
            em.inner, (randn(3, 4), randn(3)), ShapeError, "inner: the last dims must match"
        ),
        ErrorSample(
            lambda a: em.chain_matmul(a, a), (randn(2, 3),), ShapeError, "cannot be multiplied"
        ),
        ErrorSample(em.inner, (randint(0, 2, 3), randn(3)), DTypeError, "inner: both inputs"),
        ErrorSample(
            em.addmv, (randint(0, 2, 3), randn(3, 2), randn(2)), DTypeError, "addmv: input"
        ),
        ErrorSample(
            lambda x, b: em.addbmm(x, b, b), (randn(3, 3), randn(2, 3, 4)), ShapeError, "addbmm"
        ),
    ],
)


CONCATENATE = OpInfo(
    "concatenate",
    [
        Sample(
            lambda a, b, c: (
                em.hstack([a, b]),
                em.vstack([a, b]),
                em.dstack((a, b)),
                em.column_stack([a, c, c]),
                em.hstack([c, c[0], c]),
            ),
            (randn(2, 3), randn(2, 3), randn(2)),
            lambda a, b, c: (
                torch.hstack([t(a), t(b)]),
                torch.vstack([t(a), t(b)]),
                torch.dstack((t(a), t(b))),
                torch.column_stack([t(a), t(c), t(c)]),
                torch.hstack([t(c), t(c)[0], t(c)]),
            ),
            "hstack-vstack-dstack-column_stack",
        ),
        Sample(
            lambda a, s: (em.vstack([a, a]), em.dstack([s, s]), em.column_stack([s, a[:1]])),
            (randn(3), np.array(2.0, np.float32)),
            lambda a, s: (
                torch.vstack([t(a), t(a)]),
                torch.dstack([t(s), t(s)]),
                torch.column_stack([t(s), t(a)[:1]]),
            ),
            "vstack-dstack-1d-0d",
        ),
    ],
    errors=[
        ErrorSample(em.hstack, (randn(3),), ShapeError, "hstack: expects a list or tuple"),
    ],
)


RESHAPE = OpInfo(
    "reshape",
    [
        Sample(
            lambda s, v, m: (
                em.atleast_1d(s),
                *em.atleast_2d(s, v, m),
                *em.atleast_3d([s, v, m]),
                em.ravel(m),
                m.ravel(),
                em.diagflat(m, 1),
            ),
            (np.array(1.5, np.float32), randn(3), randn(2, 3)),
            lambda s, v, m: (
                torch.atleast_1d(t(s)),
                *torch.atleast_2d(t(s), t(v), t(m)),
                *torch.atleast_3d([t(s), t(v), t(m)]),
                torch.ravel(t(m)),
                t(m).ravel(),
                torch.diagflat(t(m), 1),
            ),
            "atleast_1d-2d-3d-ravel-diagflat",
        ),
    ],
)


SLICE = OpInfo(
    "slice",
    [
        Sample(
            lambda a, v: (
                *em.hsplit(a, 2),
                *a.vsplit([1]),
                *em.dsplit(a, [1, 3]),
                *em.hsplit(v, 3),
                em.select(a, 1, -1),
                a.select(0, 1),
            ),
            (randn(2, 4, 3), randn(6)),
            lambda a, v: (
                *torch.hsplit(t(a), 2),
                *t(a).vsplit([1]),
                *torch.dsplit(t(a), [1, 3]),
                *torch.hsplit(t(v), 3),
                torch.select(t(a), 1, -1),
                t(a).select(0, 1),
            ),
            "hsplit-vsplit-dsplit-select",
        ),
        Sample(
            lambda x: (*em.cummax(x, 1), *x.cummin(0), *em.cummax(x[0], -1)),
            (distinct(3, 7),),
            lambda x: (*torch.cummax(t(x), 1), *t(x).cummin(0), *torch.cummax(t(x)[0], -1)),
            "cummax-cummin",
        ),
        Sample(
            lambda x: (*em.cummax(x, 0), *em.cummin(x, 0)),
            (np.array([1.0, 3.0, 3.0, np.nan, 0.0, np.nan, 5.0, -1.0], np.float32),),
            lambda x: (*torch.cummax(t(x), 0), *torch.cummin(t(x), 0)),
            "cummax-cummin-ties-nan",
            grad=False,
        ),
        Sample(
            lambda x: (*em.cummax(x, 1), *em.cummin(x, 1)),
            (randint(-3, 3, 2, 9),),
            lambda x: (*torch.cummax(t(x), 1), *torch.cummin(t(x), 1)),
            "cummax-cummin-int",
        ),
    ],
    errors=[
        ErrorSample(lambda a: em.hsplit(a, 3), (randn(2, 4),), ShapeError, "not divisible"),
        ErrorSample(lambda a: em.vsplit(a, 1), (randn(4),), ShapeError, "at least 2 dims"),
        ErrorSample(lambda a: em.select(a, 0, 2), (randn(2, 4),), ShapeError, "out of range"),
    ],
)


TRANSPOSE = OpInfo(
    "transpose",
    [
        Sample(
            lambda a: (
                em.swapaxes(a, 0, 2),
                em.swapdims(a, -1, 1),
                em.adjoint(a),
                a.adjoint(),
                em.rot90(a),
                a.rot90(-1, [2, 1]),
                em.rot90(a, 3, (0, 2)),
                em.rot90(a, 6),
            ),
            (randn(2, 3, 4),),
            lambda a: (
                torch.swapaxes(t(a), 0, 2),
                torch.swapdims(t(a), -1, 1),
                torch.adjoint(t(a)),
                t(a).adjoint(),
                torch.rot90(t(a)),
                t(a).rot90(-1, [2, 1]),
                torch.rot90(t(a), 3, (0, 2)),
                torch.rot90(t(a), 6),
            ),
            "swapaxes-swapdims-adjoint-rot90",
        ),
    ],
    errors=[
        ErrorSample(lambda a: em.rot90(a, 1, (1, 1)), (randn(2, 3),), ShapeError, "must differ"),
        ErrorSample(em.adjoint, (randn(3),), ShapeError, "adjoint: expects a tensor with at"),
    ],
)


FLIP = OpInfo(
    "flip",
    [
        Sample(
            lambda a: (em.fliplr(a), a.flipud(), em.flipud(a[0])),
            (randn(3, 4, 2),),
            lambda a: (torch.fliplr(t(a)), t(a).flipud(), torch.flipud(t(a)[0])),
            "fliplr-flipud",
        ),
    ],
    errors=[ErrorSample(em.fliplr, (randn(3),), ShapeError, "fliplr: expects at least 2 dims")],
)


BROADCAST_TO = OpInfo(
    "broadcast_to",
    [
        Sample(
            lambda a, b, c: em.broadcast_tensors(a, b, c),
            (randn(3, 1), randn(4), np.array(2.0, np.float32)),
            lambda a, b, c: torch.broadcast_tensors(t(a), t(b), t(c)),
            "broadcast_tensors",
        ),
    ],
    errors=[
        ErrorSample(em.broadcast_tensors, (randn(3), randn(4)), ShapeError, "broadcast_tensors"),
    ],
)


INDEX_SELECT = OpInfo(
    "index_select",
    [
        Sample(
            lambda x, i: (em.take(x, i), x.take(i[:2])),
            (randn(3, 4), np.array([[0, 11], [-1, 5]], np.int32)),
            lambda x, i: (torch.take(t(x), t(i).long()), t(x).take(t(i)[:2].long())),
            "take",
        ),
    ],
    errors=[ErrorSample(em.take, (randn(3), randn(2)), DTypeError, "take: index must be")],
)


SCATTER = OpInfo(
    "scatter",
    [
        Sample(
            lambda x, s: (
                em.index_copy(x, 1, em.tensor([2, 0]), s),
                x.index_copy(0, em.tensor([1]), x[:1]),
            ),
            (randn(3, 4), randn(3, 2)),
            lambda x, s: (
                torch.index_copy(t(x), 1, torch.tensor([2, 0]), t(s)),
                t(x).index_copy(0, torch.tensor([1]), t(x)[:1]),
            ),
            "index_copy",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x, s: em.index_copy(x, 0, em.tensor([0]), s),
            (randn(3, 4), randn(1, 3)),
            ShapeError,
            r"index_copy: source \(1, 3\) must be \(1, 4\)",
        ),
        ErrorSample(
            lambda x, s: em.index_copy(x, 0, em.tensor([0]), s),
            (randn(3, 4), randint(0, 3, 1, 4)),
            DTypeError,
            "index_copy: source dtype",
        ),
    ],
)


SUB = OpInfo(
    "sub",
    [
        Sample(
            lambda x: (em.frac(x), x.frac()),
            (uniform(-5, 5, 7) + 0.05,),
            lambda x: (torch.frac(t(x)), t(x).frac()),
            "frac",
        ),
    ],
    errors=[ErrorSample(em.frac, (randint(0, 3, 4),), DTypeError, "frac: expects floating")],
)


POW = OpInfo(
    "pow",
    [
        Sample(
            lambda x, e: (em.float_power(x, e), x.float_power(2), em.float_power(2, e)),
            (uniform(0.5, 2, 5), uniform(-1, 2, 5)),
            lambda x, e: (
                torch.float_power(t(x), t(e)).float(),
                t(x).float_power(2).float(),
                torch.float_power(2, t(e)).float(),
            ),
            "float_power",
        ),
    ],
)


MUL = OpInfo(
    "mul",
    [
        Sample(
            lambda x, a, b: (
                em.addcmul(x, a, b),
                x.addcmul(a, b, value=-0.5),
                em.deg2rad(x),
                x.rad2deg(),
                em.multiply(a, b),
            ),
            (randn(3, 4), randn(3, 4), randn(4)),
            lambda x, a, b: (
                torch.addcmul(t(x), t(a), t(b)),
                t(x).addcmul(t(a), t(b), value=-0.5),
                torch.deg2rad(t(x)),
                t(x).rad2deg(),
                torch.multiply(t(a), t(b)),
            ),
            "addcmul-deg2rad-rad2deg-multiply",
        ),
        Sample(
            lambda x, a, b: (em.addcmul(x, a, b, value=2), em.deg2rad(x)),
            (randint(-3, 3, 4), randint(-3, 3, 4), randint(-3, 3, 4)),
            lambda x, a, b: (torch.addcmul(t(x), t(a), t(b), value=2), torch.deg2rad(t(x))),
            "addcmul-deg2rad-int",
        ),
        Sample(
            lambda x: (em.vander(x), em.vander(x, 4, increasing=True)),
            (np.array([0.0, 1.5, -2.0], np.float32),),
            lambda x: (torch.vander(t(x)), torch.vander(t(x), 4, increasing=True)),
            "vander",
        ),
    ],
)


ACOS = OpInfo(
    "acos",
    [
        Sample(
            lambda x, y: (
                em.arccos(x),
                x.arcsin(),
                em.arctan(x),
                em.arcsinh(x),
                em.arctanh(x),
                em.arccosh(y),
                em.arctan2(x, y),
                em.absolute(x),
                em.negative(x),
                em.positive(x),
                em.fix(y * 2),
                em.sgn(x),
                em.isreal(x),
                x.is_floating_point() + 0 * x,
            ),
            (uniform(-0.9, 0.9, 6), uniform(1.1, 3, 6)),
            lambda x, y: (
                torch.arccos(t(x)),
                t(x).arcsin(),
                torch.arctan(t(x)),
                torch.arcsinh(t(x)),
                torch.arctanh(t(x)),
                torch.arccosh(t(y)),
                torch.arctan2(t(x), t(y)),
                torch.absolute(t(x)),
                torch.negative(t(x)),
                torch.positive(t(x)),
                torch.fix(t(y) * 2),
                torch.sgn(t(x)),
                torch.isreal(t(x)),
                torch.ones(6),
            ),
            "arccos-and-numpy-aliases",
        ),
    ],
    errors=[ErrorSample(em.positive, (np.array([True]),), DTypeError, "positive")],
)


OP_DB = [
    MATMUL,
    CONCATENATE,
    RESHAPE,
    SLICE,
    TRANSPOSE,
    FLIP,
    BROADCAST_TO,
    INDEX_SELECT,
    SCATTER,
    SUB,
    POW,
    MUL,
    ACOS,
]
