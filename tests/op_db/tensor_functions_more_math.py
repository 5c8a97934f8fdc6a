"""OpInfo entries: the second batch of PyTorch tensor functions, part 2: pointwise
functions (copysign, signbit, heaviside, hypot, logaddexp, addcdiv, gcd/lcm), index_fill,
logcumsumexp, cov/corrcoef, trapezoid, dist/renorm, mode, torch's top-level linear
algebra names and matrix_exp. Part 1 is tensor_functions_more.py. Sample names start
with the function's name (`pytest -k logaddexp`)."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import away_from_zero, distinct, randint, randn, reseed, t, uniform

import ember as em
from ember.errors import DTypeError, ShapeError

reseed(65)


def spd(n: int, batch: tuple = ()) -> np.ndarray:
    a = randn(*batch, n, n)
    return (a @ np.swapaxes(a, -1, -2) / n + np.eye(n, dtype=np.float32)).astype(np.float32)


def well_conditioned(n: int, batch: int) -> np.ndarray:
    """Matrices with determinants of both signs, far from singular (finite differences)."""
    a = spd(n, (batch,))
    a[0, 0] *= -1
    return a


WHERE = OpInfo(
    "where",
    [
        Sample(
            lambda x, v: (
                em.index_fill(x, 1, em.tensor([0, -1]), -2.0),
                x.index_fill(0, em.tensor(1), v),
                em.index_fill(x[0], 0, em.tensor([2]), 7),
            ),
            (randn(3, 4), np.array(0.5, np.float32)),
            lambda x, v: (
                torch.index_fill(t(x), 1, torch.tensor([0, 3]), -2.0),
                t(x).index_fill(0, torch.tensor(1), t(v)),
                torch.index_fill(t(x)[0], 0, torch.tensor([2]), 7),
            ),
            "index_fill",
        ),
        Sample(
            lambda x, y: (em.copysign(x, y), x.copysign(-1.0), em.signbit(y), em.signbit(x > 0)),
            (away_from_zero(6), np.array([1.0, -0.0, 0.0, -3.0, np.inf, -np.inf], np.float32)),
            lambda x, y: (
                torch.copysign(t(x), t(y)),
                t(x).copysign(-1.0),
                torch.signbit(t(y)),
                torch.signbit(t(x) > 0),
            ),
            "copysign-signbit",
            grad_args=(0,),
        ),
        Sample(
            lambda x, y: (em.copysign(x, y), em.signbit(x)),
            (randint(-3, 3, 5), randint(-3, 3, 5)),
            lambda x, y: (torch.copysign(t(x), t(y)), torch.signbit(t(x))),
            "copysign-signbit-int",
        ),
        Sample(
            lambda x, v: (em.heaviside(x, v), x.heaviside(v[:1])),
            (np.array([-1.5, 0.0, 2.0, np.nan, -0.0], np.float32), uniform(0, 1, 5)),
            lambda x, v: (torch.heaviside(t(x), t(v)), t(x).heaviside(t(v)[:1])),
            "heaviside",
            grad=False,
        ),
        Sample(
            lambda a: (em.logdet(a), a.logdet()),
            (spd(3, (2,)),),
            lambda a: (torch.logdet(t(a)), t(a).logdet()),
            "logdet",
            rtol=1e-4,
            atol=1e-5,
        ),
        Sample(
            em.logdet,
            (np.array([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [2.0, 4.0]]], np.float32),),
            lambda a: torch.logdet(t(a)),
            "logdet-negative-and-singular",
            grad=False,
        ),
    ],
    errors=[
        ErrorSample(
            lambda x, v: em.heaviside(x, v),
            (randn(3), randint(0, 2, 3)),
            DTypeError,
            "heaviside: input",
        ),
        ErrorSample(
            lambda x: em.index_fill(x, 0, em.tensor([0]), x[:1]),
            (randn(3),),
            ShapeError,
            "index_fill: value must be",
        ),
    ],
)


SQRT = OpInfo(
    "sqrt",
    [
        Sample(
            lambda a, b: (em.hypot(a, b), a.hypot(2.0)),
            (away_from_zero(6), away_from_zero(6)),
            lambda a, b: (torch.hypot(t(a), t(b)), t(a).hypot(torch.tensor(2.0))),
            "hypot",
        ),
        Sample(
            lambda a, b: em.hypot(a, b),
            (
                np.array([3e30, 0.0, np.inf, np.nan, 1e-30], np.float32),
                np.array([4e30, 0.0, np.nan, -np.inf, 1e-30], np.float32),
            ),
            lambda a, b: torch.hypot(t(a), t(b)),
            "hypot-extremes",
            grad=False,
        ),
        Sample(
            lambda x: em.corrcoef(x),
            (randn(3, 8),),
            lambda x: torch.corrcoef(t(x)),
            "corrcoef",
            atol=1e-5,
        ),
    ],
    errors=[ErrorSample(em.hypot, (randint(0, 3, 4), randint(0, 3, 4)), DTypeError, "hypot")],
)


LOG1P = OpInfo(
    "log1p",
    [
        Sample(
            lambda a, b: (em.logaddexp(a, b), a.logaddexp2(b), em.logaddexp(a, 1.0)),
            (randn(2, 5, scale=3), randn(5, scale=3)),
            lambda a, b: (
                torch.logaddexp(t(a), t(b)),
                t(a).logaddexp2(t(b)),
                torch.logaddexp(t(a), torch.tensor(1.0)),
            ),
            "logaddexp-logaddexp2",
        ),
        Sample(
            lambda a, b: (em.logaddexp(a, b), em.logaddexp2(a, b)),
            (
                np.array([-np.inf, np.inf, -np.inf, 1e30, -1000.0, np.nan], np.float32),
                np.array([-np.inf, np.inf, 2.0, 1e30, 0.0, 1.0], np.float32),
            ),
            lambda a, b: (torch.logaddexp(t(a), t(b)), torch.logaddexp2(t(a), t(b))),
            "logaddexp-infinities",
            grad=False,
        ),
        Sample(
            lambda x: (em.logcumsumexp(x, 1), x.logcumsumexp(0)),
            (randn(3, 6, scale=20),),
            lambda x: (torch.logcumsumexp(t(x), 1), t(x).logcumsumexp(0)),
            "logcumsumexp",
            rtol=1e-5,
            atol=1e-5,
        ),
        Sample(
            lambda x: em.logcumsumexp(x, 0),
            (np.array([-np.inf, -np.inf, -1000.0, 0.0, np.inf, 1.0], np.float32),),
            lambda x: torch.logcumsumexp(t(x), 0),
            "logcumsumexp-infinities",
            grad=False,
        ),
    ],
    errors=[
        ErrorSample(em.logaddexp, (randint(0, 3, 4), randint(0, 3, 4)), DTypeError, "logaddexp"),
        ErrorSample(
            lambda x: em.logcumsumexp(x, 0), (randint(0, 3, 4),), DTypeError, "logcumsumexp"
        ),
    ],
)


DIV = OpInfo(
    "div",
    [
        Sample(
            lambda x, a, b: (
                em.addcdiv(x, a, b),
                x.addcdiv(a, b, value=0.25),
                em.true_divide(a, b),
                a.true_divide(3),
            ),
            (randn(3, 4), randn(3, 4), away_from_zero(4)),
            lambda x, a, b: (
                torch.addcdiv(t(x), t(a), t(b)),
                t(x).addcdiv(t(a), t(b), value=0.25),
                torch.true_divide(t(a), t(b)),
                t(a).true_divide(3),
            ),
            "addcdiv-true_divide",
        ),
        Sample(
            lambda x, fw, aw: (
                em.cov(x),
                x.cov(correction=0),
                em.cov(x, fweights=fw),
                em.cov(x, aweights=aw),
                em.cov(x, correction=2, fweights=fw, aweights=aw),
                em.cov(x[0]),
            ),
            (randn(3, 6), np.array([1, 2, 0, 3, 1, 1], np.int32), uniform(0.1, 1, 6)),
            lambda x, fw, aw: (
                torch.cov(t(x)),
                t(x).cov(correction=0),
                torch.cov(t(x), fweights=t(fw)),
                torch.cov(t(x), aweights=t(aw)),
                torch.cov(t(x), correction=2, fweights=t(fw), aweights=t(aw)),
                torch.cov(t(x)[0]),
            ),
            "cov",
            atol=1e-5,
        ),
        Sample(
            lambda y, x: (
                em.trapezoid(y),
                em.trapezoid(y, x),
                em.trapz(y, dx=0.5, dim=0),
                em.trapezoid(y, x[None, :].expand(3, 5), dim=1),
            ),
            (randn(3, 5), np.sort(uniform(0, 4, 5))),
            lambda y, x: (
                torch.trapezoid(t(y)),
                torch.trapezoid(t(y), t(x)),
                torch.trapz(t(y), dx=0.5, dim=0),
                torch.trapezoid(t(y), t(x)[None, :].expand(3, 5), dim=1),
            ),
            "trapezoid-trapz",
            atol=1e-5,
        ),
    ],
    errors=[
        ErrorSample(
            em.addcdiv, (randn(3), randint(1, 3, 3), randint(1, 3, 3)), DTypeError, "addcdiv"
        ),
        ErrorSample(em.cov, (randn(2, 3, 4),), ShapeError, "cov: expects a 1-D or 2-D"),
        ErrorSample(
            lambda x, w: em.cov(x, fweights=w),
            (randn(2, 3), randn(3)),
            DTypeError,
            "fweights must be integers",
        ),
        ErrorSample(
            lambda y, x: em.trapezoid(y, x), (randn(2, 4), randn(3)), ShapeError, "one x value"
        ),
    ],
)


CUMSUM = OpInfo(
    "cumsum",
    [
        Sample(
            lambda y, x: (
                em.cumulative_trapezoid(y),
                em.cumulative_trapezoid(y, x),
                em.cumulative_trapezoid(y, dx=2.0, dim=0),
            ),
            (randn(3, 5), np.sort(uniform(0, 4, 5))),
            lambda y, x: (
                torch.cumulative_trapezoid(t(y)),
                torch.cumulative_trapezoid(t(y), t(x)),
                torch.cumulative_trapezoid(t(y), dx=2.0, dim=0),
            ),
            "cumulative_trapezoid",
            atol=1e-5,
        ),
    ],
)


WHILE_LOOP = OpInfo(
    "while_loop",
    [
        Sample(
            lambda a, b: (em.gcd(a, b), a.lcm(b), em.gcd(a, 6)),
            (
                np.array([12, -9, 0, 0, 7, 1071, -4], np.int32),
                np.array([18, 6, 5, 0, 13, 462, -6], np.int32),
            ),
            lambda a, b: (torch.gcd(t(a), t(b)), t(a).lcm(t(b)), torch.gcd(t(a), torch.tensor(6))),
            "gcd-lcm",
            grad=False,
        ),
    ],
    errors=[ErrorSample(em.gcd, (randn(3), randn(3)), DTypeError, "gcd: expects integer")],
)


NORM = OpInfo(
    "norm",
    [
        Sample(
            lambda a, b: (
                em.dist(a, b),
                a.dist(b, 1),
                em.dist(a, b[0], float("inf")),
                em.dist(a, b, 0),
            ),
            (randn(3, 4), randn(3, 4)),
            lambda a, b: (
                torch.dist(t(a), t(b)),
                t(a).dist(t(b), 1),
                torch.dist(t(a), t(b)[0], float("inf")),
                torch.dist(t(a), t(b), 0),
            ),
            "dist",
            atol=1e-5,
        ),
        Sample(
            lambda x: (em.renorm(x, 2, 0, 1.0), x.renorm(1, 2, 2.5), em.renorm(x, 3, -2, 100.0)),
            (randn(3, 4, 2),),
            lambda x: (
                torch.renorm(t(x), 2, 0, 1.0),
                t(x).renorm(1, 2, 2.5),
                torch.renorm(t(x), 3, -2, 100.0),
            ),
            "renorm",
            atol=1e-5,
        ),
    ],
    errors=[
        ErrorSample(em.dist, (randint(0, 3, 3), randint(0, 3, 3)), DTypeError, "dist"),
        ErrorSample(lambda x: em.renorm(x, 0, 0, 1.0), (randn(3, 2),), ShapeError, "positive"),
    ],
)


DET = OpInfo(
    "det",
    [
        Sample(
            lambda a: (em.det(a), a.det()),
            (well_conditioned(3, 2),),
            lambda a: (torch.det(t(a)), t(a).det()),
            "det",
            rtol=1e-4,
            atol=1e-5,
        ),
    ],
)


SLOGDET = OpInfo(
    "slogdet",
    [
        Sample(
            lambda a: (*em.slogdet(a), *a.slogdet()),
            (well_conditioned(3, 2),),
            lambda a: (*torch.slogdet(t(a)), *t(a).slogdet()),
            "slogdet",
            rtol=1e-4,
            atol=1e-5,
        ),
    ],
)


SOLVE = OpInfo(
    "solve",
    [
        Sample(
            lambda a: (em.inverse(a), a.inverse()),
            (spd(3, (2,)),),
            lambda a: (torch.inverse(t(a)), t(a).inverse()),
            "inverse",
            rtol=1e-4,
            atol=1e-5,
        ),
    ],
)


SVD = OpInfo(
    "svd",
    [
        Sample(
            lambda a: (em.pinverse(a), a.pinverse(rcond=1e-3)),
            (randn(4, 3),),
            lambda a: (torch.pinverse(t(a)), t(a).pinverse(rcond=1e-3)),
            "pinverse",
            rtol=1e-4,
            atol=1e-5,
        ),
    ],
)


CHOLESKY = OpInfo(
    "cholesky",
    [
        Sample(
            lambda a: (em.cholesky(a), a.cholesky(upper=True)),
            (spd(3, (2,)),),
            lambda a: (
                torch.linalg.cholesky(t(a)),
                torch.linalg.cholesky(t(a)).mH,
            ),  # = torch.cholesky
            "cholesky",
            rtol=1e-4,
            atol=1e-5,
        ),
    ],
)


FORI_LOOP = OpInfo(
    "fori_loop",
    [
        Sample(
            lambda a: a.matrix_exp(),
            (randn(2, 3, 3, scale=0.7),),  # norms ~2: a few squarings
            lambda a: t(a).matrix_exp(),
            "matrix_exp",
            rtol=1e-4,
            atol=1e-4,
        ),
    ],
    errors=[
        ErrorSample(em.matrix_exp, (randn(2, 3),), ShapeError, "linalg.matrix_exp: expects square")
    ],
)


AMAX = OpInfo(
    "amax",
    [
        Sample(
            lambda x, f: (*em.mode(x), *x.mode(0, keepdim=True), *em.mode(f, 1)),
            (randint(0, 3, 4, 7), np.round(randn(3, 8)).astype(np.float32)),
            lambda x, f: (*torch.mode(t(x)), *t(x).mode(0, keepdim=True), *torch.mode(t(f), 1)),
            "mode",
            grad=False,  # ties: a perturbed element changes the counts
        ),
        Sample(
            lambda x: (*em.mode(x), *em.mode(x, 0)),
            (distinct(3, 5),),
            lambda x: (*torch.mode(t(x)), *torch.mode(t(x), 0)),
            "mode-distinct",
        ),
    ],
    errors=[ErrorSample(lambda x: em.mode(x, 1), (randn(3, 0),), ShapeError, "mode: dim 1")],
)


OP_DB = [
    WHERE,
    SQRT,
    LOG1P,
    DIV,
    CUMSUM,
    WHILE_LOOP,
    NORM,
    DET,
    SLOGDET,
    SOLVE,
    SVD,
    CHOLESKY,
    FORI_LOOP,
    AMAX,
]
