"""OpInfo entries: the PyTorch functions ported scripts call (isclose, tensordot, diff,
count_nonzero, nansum/nanmean, aminmax, kthvalue, median/nanmedian, quantile/nanquantile,
repeat_interleave, block_diag, cartesian_prod, combinations, logit/xlogy/sinc/mvlgamma
and `em.special`), each under an op its trace emits, with sample names that start with
the function's name (`pytest -k quantile`).
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import away_from_zero, distinct, randint, randn, reseed, t, uniform

import ember as em
from ember.errors import DTypeError, ShapeError, TraceError, UnsupportedOpError

reseed(63)
NAN = np.float32(np.nan)


def with_nan(a: np.ndarray, *where) -> np.ndarray:
    a = a.copy()
    for index in where:
        a[index] = NAN
    return a


LE = OpInfo(
    "le",
    [
        Sample(
            lambda a, b: (em.isclose(a, b), a.isclose(b, rtol=0.1, atol=0.2, equal_nan=True)),
            (
                np.array([1.0, 2.0, np.inf, -np.inf, np.nan, 0.0, 1e-9, 3.0], np.float32),
                np.array([1.0 + 1e-6, 2.1, np.inf, np.inf, np.nan, 1e-9, 0.0, 3.3], np.float32),
            ),
            lambda a, b: (
                torch.isclose(t(a), t(b)),
                torch.isclose(t(a), t(b), rtol=0.1, atol=0.2, equal_nan=True),
            ),
            "isclose-inf-nan-tolerances",
            grad=False,
        ),
        Sample(
            lambda a, b: (em.isclose(a, b, rtol=0.5), em.isclose(a, b, rtol=0, atol=0)),
            (np.array([[1, 2, 10]], np.int32), np.array([1, 3, 14], np.int32)),
            lambda a, b: (
                torch.isclose(t(a), t(b), rtol=0.5),
                torch.isclose(t(a), t(b), rtol=0, atol=0),
            ),
            "isclose-int-broadcast",
            grad=False,
        ),
    ],
    errors=[
        ErrorSample(lambda a, b: em.allclose(a, b), (randn(3), randn(3)), TraceError, "isclose"),
        ErrorSample(
            lambda a, b: em.isclose(a, b, rtol=-1), (randn(3), randn(3)), ShapeError, "rtol=-1"
        ),
    ],
)

MATMUL = OpInfo(
    "matmul",
    [
        Sample(
            lambda a, b: em.tensordot(a, b),
            (randn(2, 3, 4), randn(3, 4, 5)),
            lambda a, b: torch.tensordot(t(a), t(b)),
            "tensordot-int-dims",
            atol=1e-5,
        ),
        Sample(
            lambda a, b: (
                em.tensordot(a, b, dims=([2, 0], [0, 1])),
                em.tensordot(a, b, dims=(1, 2)),
            ),
            (randn(3, 4, 5), randn(5, 3, 4)),
            lambda a, b: (
                torch.tensordot(t(a), t(b), dims=([2, 0], [0, 1])),
                torch.tensordot(t(a), t(b), dims=([1], [2])),
            ),
            "tensordot-dim-lists",
            atol=1e-5,
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, b: em.tensordot(a, b, dims=([0], [0])),
            (randn(3, 4), randn(4, 3)),
            ShapeError,
            r"tensordot: contracted dim 0 of a \(3, 4\) has size 3 but dim 0 of b \(4, 3\)",
        ),
        ErrorSample(
            lambda a, b: em.tensordot(a, b, 3), (randn(3, 4), randn(4)), ShapeError, "dims=3"
        ),
    ],
)

SUB = OpInfo(
    "sub",
    [
        Sample(
            lambda a, p: (em.diff(a), a.diff(2, dim=0, prepend=p), em.diff(a, 9)),
            (randn(3, 4), randn(2, 4)),
            lambda a, p: (
                torch.diff(t(a)),
                torch.diff(t(a), 2, dim=0, prepend=t(p)),
                torch.diff(t(a), 9),
            ),
            "diff-order-prepend",
        ),
        Sample(
            lambda a, b: (em.diff(a, append=a), em.diff(b)),
            (randint(-5, 5, 2, 5), np.array([True, False, False, True])),
            lambda a, b: (torch.diff(t(a), append=t(a)), torch.diff(t(b))),
            "diff-int-append-and-bool",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, p: em.diff(a, prepend=p),
            (randn(3, 4), randn(3, 2, 1)),
            ShapeError,
            r"diff: prepend/append of shape \(3, 2, 1\) must match the input \(3, 4\)",
        ),
    ],
)

SUM = OpInfo(
    "sum",
    [
        Sample(
            lambda a: (em.count_nonzero(a), a.count_nonzero(1), em.count_nonzero(a, (0, 2))),
            (randint(-1, 2, 3, 4, 2),),
            lambda a: (
                torch.count_nonzero(t(a)),
                torch.count_nonzero(t(a), 1),
                torch.count_nonzero(t(a), (0, 2)),
            ),
            "count_nonzero",
        ),
        Sample(
            lambda a: (em.nansum(a), a.nansum(1, keepdim=True), em.nanmean(a, 0), a.nanmean()),
            (with_nan(randn(3, 4), (0, 1), (2, 1), (1, 3)),),
            lambda a: (
                torch.nansum(t(a)),
                torch.nansum(t(a), 1, keepdim=True),
                torch.nanmean(t(a), 0),
                torch.nanmean(t(a)),
            ),
            "nansum-nanmean",
        ),
        Sample(
            lambda a: (em.nansum(a, 1), em.nanmean(a, 1), em.nanmean(a)),
            (with_nan(randn(2, 3), (1, slice(None))),),
            lambda a: (torch.nansum(t(a), 1), torch.nanmean(t(a), 1), torch.nanmean(t(a))),
            "nansum-nanmean-all-nan-row",
            grad=False,  # a NaN result has no gradient to compare
        ),
    ],
    errors=[
        ErrorSample(em.nanmean, (randint(0, 3, 4),), DTypeError, "nanmean: expects a floating"),
    ],
)

AMIN = OpInfo(
    "amin",
    [
        Sample(
            lambda a: (*em.aminmax(a), *a.aminmax(dim=1, keepdim=True), *em.aminmax(a, dim=-1)),
            (distinct(3, 4),),
            lambda a: (
                *torch.aminmax(t(a)),
                *torch.aminmax(t(a), dim=1, keepdim=True),
                *torch.aminmax(t(a), dim=-1),
            ),
            "aminmax",
        ),
    ],
)

SORT = OpInfo(
    "sort",
    [
        Sample(
            lambda a: (em.median(a), *em.median(a, 1), *a.median(0, keepdim=True)),
            (distinct(4, 6),),
            lambda a: (torch.median(t(a)), *torch.median(t(a), 1), *t(a).median(0, keepdim=True)),
            "median-even-and-odd",
        ),
        Sample(
            lambda a: (em.median(a), *em.median(a, -1), em.nanmedian(a), em.nanmedian(a, 1)[0]),
            (with_nan(distinct(3, 5), (0, 1), (0, 3), (2, slice(None))),),
            lambda a: (
                torch.median(t(a)),
                *torch.median(t(a), -1),
                torch.nanmedian(t(a)),
                torch.nanmedian(t(a), 1)[0],
            ),
            "median-nan-and-nanmedian",
            grad=False,  # NaN results (the finite ones are checked by the samples above)
        ),
        Sample(
            lambda a: (*em.kthvalue(a, 2), *a.kthvalue(3, 0, keepdim=True)),
            (distinct(4, 5),),
            lambda a: (*torch.kthvalue(t(a), 2), *torch.kthvalue(t(a), 3, 0, keepdim=True)),
            "kthvalue",
        ),
        Sample(
            lambda a, q: (
                tuple(
                    em.quantile(a, q, dim=1, keepdim=True, interpolation=mode)
                    for mode in ("linear", "lower", "higher", "midpoint", "nearest")
                )
                + (em.quantile(a, 0.3), a.quantile(q[1], dim=0))
            ),
            (distinct(3, 8), np.array([0.0, 0.25, 0.5, 0.9, 1.0], np.float32)),
            lambda a, q: (
                tuple(
                    torch.quantile(t(a), t(q), dim=1, keepdim=True, interpolation=mode)
                    for mode in ("linear", "lower", "higher", "midpoint", "nearest")
                )
                + (torch.quantile(t(a), 0.3), t(a).quantile(t(q)[1], dim=0))
            ),
            "quantile-interpolations",
            grad_args=(0,),
        ),
        Sample(
            lambda a: (
                em.quantile(a, [0.2, 0.7], dim=0),
                em.nanquantile(a, 0.4, dim=1),
                em.nanquantile(a, 0.5, keepdim=True, interpolation="nearest"),
            ),
            (with_nan(distinct(4, 5), (0, 1), (2, 2), (3, slice(None))),),
            lambda a: (
                torch.quantile(t(a), torch.tensor([0.2, 0.7]), dim=0),
                torch.nanquantile(t(a), 0.4, dim=1),
                torch.nanquantile(t(a), 0.5, keepdim=True, interpolation="nearest"),
            ),
            "quantile-nan-and-nanquantile",
            grad=False,
        ),
    ],
    errors=[
        ErrorSample(
            lambda a: em.quantile(a, 1.5), (randn(4),), ShapeError, r"q values must be in \[0, 1\]"
        ),
        ErrorSample(
            lambda a: em.quantile(a, 0.5), (randint(0, 3, 4),), DTypeError, "expects a floating"
        ),
        ErrorSample(
            lambda a: em.quantile(a, 0.5, interpolation="cubic"),
            (randn(4),),
            UnsupportedOpError,
            "interpolation must be one of",
        ),
        ErrorSample(
            lambda a: em.median(a, 1), (randn(2, 0),), ShapeError, "has no elements to pick from"
        ),
        ErrorSample(
            lambda a: em.kthvalue(a, 5), (randn(4),), ShapeError, r"k=5 must be in \[1, 4\]"
        ),
    ],
)

INDEX_SELECT = OpInfo(
    "index_select",
    [
        Sample(
            lambda a, r: (
                em.repeat_interleave(a, r, dim=0, output_size=6),
                a.repeat_interleave([2, 0, 1, 1], dim=1),
                em.repeat_interleave(a, [1, 2, 0], 0),
            ),
            (randn(3, 4), np.array([3, 0, 3], np.int32)),
            lambda a, r: (
                torch.repeat_interleave(t(a), t(r), dim=0),
                torch.repeat_interleave(t(a), torch.tensor([2, 0, 1, 1]), dim=1),
                torch.repeat_interleave(t(a), torch.tensor([1, 2, 0]), 0),
            ),
            "repeat_interleave-counts",
            grad_args=(0,),
        ),
        Sample(
            lambda a: (em.combinations(a), em.combinations(a, 3, with_replacement=True)),
            (randn(4),),
            lambda a: (
                torch.combinations(t(a)),
                torch.combinations(t(a), 3, with_replacement=True),
            ),
            "combinations",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, r: em.repeat_interleave(a, r, dim=0),
            (randn(3, 4), np.array([3, 0, 3], np.int32)),
            TraceError,
            r"repeat_interleave: inside a traced function.*fix: pass output_size=N",
        ),
        ErrorSample(
            lambda a: em.repeat_interleave(a, [1, 2], dim=0),
            (randn(3, 4),),
            ShapeError,
            r"repeats of shape \(2,\) must be .* 1 or 3 elements",
        ),
        ErrorSample(
            lambda a: em.combinations(a), (randn(2, 2),), ShapeError, "combinations: expects 1-D"
        ),
    ],
)

BROADCAST_TO = OpInfo(
    "broadcast_to",
    [
        Sample(
            lambda a: (em.repeat_interleave(a, 2), a.repeat_interleave(3, dim=-1)),
            (randn(2, 3),),
            lambda a: (torch.repeat_interleave(t(a), 2), t(a).repeat_interleave(3, dim=-1)),
            "repeat_interleave-int",
        ),
    ],
)

STACK = OpInfo(
    "stack",
    [
        Sample(
            lambda a, b, c: (em.cartesian_prod(a, b, c), em.cartesian_prod(a, b)),
            (randn(2), randn(3), randn(2)),
            lambda a, b, c: (
                torch.cartesian_prod(t(a), t(b), t(c)),
                torch.cartesian_prod(t(a), t(b)),
            ),
            "cartesian_prod",
        ),
    ],
    errors=[
        ErrorSample(
            em.cartesian_prod, (randn(2, 2), randn(3)), ShapeError, "cartesian_prod: expects 1-D"
        ),
    ],
)

PAD = OpInfo(
    "pad",
    [
        Sample(
            lambda a, b, c: em.block_diag(a, b, c),
            (randn(2, 3), randn(3), randn(1, 2)),
            lambda a, b, c: torch.block_diag(t(a), t(b), t(c)),
            "block_diag",
        ),
    ],
    errors=[
        ErrorSample(em.block_diag, (randn(2, 2, 2),), ShapeError, "block_diag: expects 0-D, 1-D"),
    ],
)

LOG = OpInfo(
    "log",
    [
        Sample(
            lambda p: (em.logit(p), p.logit(0.1), em.special.logit(p)),
            (uniform(0.05, 0.95, 3, 4),),
            lambda p: (torch.logit(t(p)), t(p).logit(0.1), torch.special.logit(t(p))),
            "logit",
            rtol=1e-4,
        ),
        Sample(
            lambda x, y: (em.xlogy(x, y), x.xlogy(y), em.special.xlog1py(x, y), em.special.entr(y)),
            (away_from_zero(5), uniform(0.5, 2.0, 5)),  # x == 0 is a kink (special-values below)
            lambda x, y: (
                torch.xlogy(t(x), t(y)),
                t(x).xlogy(t(y)),
                torch.special.xlog1py(t(x), t(y)),
                torch.special.entr(t(y)),
            ),
            "xlogy-xlog1py-entr",
        ),
        Sample(
            lambda x, y: (em.special.xlogy(x, y), em.special.entr(x)),
            (
                np.array([0.0, 0.0, 1.0, 0.0, 2.0, -1.0], np.float32),
                np.array([0.0, np.nan, 0.0, np.inf, -1.0, 1.0], np.float32),
            ),
            lambda x, y: (torch.special.xlogy(t(x), t(y)), torch.special.entr(t(x))),
            "xlogy-special-values",
            grad=False,
        ),
    ],
)

ERFC = OpInfo(
    "erfc",
    [
        Sample(
            lambda x: (em.special.ndtr(x), em.special.log_ndtr(x)),
            (np.array([-40.0, -12.0, -9.0, -2.0, 0.0, 0.7, 3.0, 9.0], np.float32),),
            lambda x: (torch.special.ndtr(t(x)), torch.special.log_ndtr(t(x))),
            "ndtr-log_ndtr-tails",
            rtol=1e-4,
        ),
    ],
)

NDTRI = OpInfo(
    "ndtri",
    [
        Sample(
            em.special.ndtri,
            (uniform(0.01, 0.99, 6),),
            lambda p: torch.special.ndtri(t(p)),
            "ndtri",
            rtol=1e-4,
            atol=1e-5,
        ),
        Sample(  # the tails, where sqrt(2) * erfinv(2p - 1) returned -inf below ~3e-8
            em.special.ndtri,
            (np.array([1e-30, 1e-10, 3e-8, 1e-6, 0.5, 1 - 1e-6], np.float32),),
            lambda p: torch.special.ndtri(t(p)),
            "ndtri-tails",
            rtol=1e-5,
            grad=False,
        ),
    ],
)

SIN = OpInfo(
    "sin",
    [
        Sample(
            lambda x: (em.sinc(x), em.special.sinc(x), em.special.spherical_bessel_j0(x)),
            (np.concatenate([np.zeros(1, np.float32), away_from_zero(5) * 2]),),
            lambda x: (
                torch.sinc(t(x)),
                torch.special.sinc(t(x)),
                torch.special.spherical_bessel_j0(t(x)),
            ),
            "sinc-spherical_bessel_j0",
            rtol=1e-4,
            atol=1e-6,
        ),
    ],
)

LGAMMA = OpInfo(
    "lgamma",
    [
        Sample(
            lambda x: (em.mvlgamma(x, 3), em.special.multigammaln(x, 1), em.special.gammaln(x)),
            (uniform(1.5, 4.0, 5),),
            lambda x: (
                torch.mvlgamma(t(x), 3),
                torch.special.multigammaln(t(x), 1),
                torch.special.gammaln(t(x)),
            ),
            "mvlgamma-multigammaln",
            rtol=1e-4,
        ),
    ],
)

OP_DB = [
    LE,
    MATMUL,
    SUB,
    SUM,
    AMIN,
    SORT,
    INDEX_SELECT,
    BROADCAST_TO,
    STACK,
    PAD,
    LOG,
    ERFC,
    NDTRI,
    SIN,
    LGAMMA,
]
