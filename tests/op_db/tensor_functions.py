"""OpInfo entries: tensor functions composed from existing ops (diag, diagonal, diag_embed,
meshgrid, cdist, tensor_split, isin, searchsorted, bucketize, var_mean/std_mean, cross,
kron, histc, bincount), each under an op its trace emits, with sample names that start
with the function's name (`pytest -k diagonal`).
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import randint, randn, reseed, t

import ember as em
from ember.errors import DTypeError, ShapeError, TraceError, UnsupportedOpError

reseed(62)


def sorted_rows(*shape):
    """Sorted along the last dim, with a repeated value (ties exercise `right`)."""
    a = np.sort(randn(*shape), axis=-1)
    a[..., 2] = a[..., 1]
    return a


SLICE = OpInfo(
    "slice",
    [
        Sample(em.diagonal, (randn(4, 5),), lambda a: torch.diagonal(t(a)), "diagonal"),
        Sample(
            lambda a: (a.diagonal(2, 1, 2), em.diagonal(a, -1, 2, 0), em.diagonal(a, 9)),
            (randn(3, 4, 5),),
            lambda a: (
                torch.diagonal(t(a), 2, 1, 2),
                torch.diagonal(t(a), -1, 2, 0),
                torch.diagonal(t(a), 9),
            ),
            "diagonal-offsets-dims-empty",
        ),
        Sample(
            lambda a: (em.diag(a), a.diag(-2)),
            (randn(4, 3),),
            lambda a: (torch.diag(t(a)), torch.diag(t(a), -2)),
            "diag-of-matrix",
        ),
        Sample(
            lambda a: em.tensor_split(a, 3, dim=1),
            (randn(2, 7),),
            lambda a: torch.tensor_split(t(a), 3, dim=1),
            "tensor_split-sections",
        ),
        Sample(
            lambda a: a.tensor_split([1, -2, 2, 9]),
            (randn(6, 2),),
            lambda a: torch.tensor_split(t(a), [1, -2, 2, 9]),
            "tensor_split-indices",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a: em.diagonal(a, 0, 1, -1),
            (randn(3, 4),),
            ShapeError,
            r"diagonal: dim1 and dim2 cannot be the same dimension.*\(3, 4\)",
        ),
        ErrorSample(em.diagonal, (randn(3),), ShapeError, r"at least 2 dims, got shape \(3,\)"),
        ErrorSample(em.diag, (randn(2, 3, 4),), ShapeError, r"diag: expects a 1-D or 2-D"),
        ErrorSample(
            lambda a: em.tensor_split(a, 0), (randn(4),), ShapeError, "sections must be positive"
        ),
    ],
)

WHERE = OpInfo(
    "where",
    [
        Sample(
            lambda a: (em.diag(a), em.diag(a, 2), a.diag(-1)),
            (randn(3),),
            lambda a: (torch.diag(t(a)), torch.diag(t(a), 2), torch.diag(t(a), -1)),
            "diag-of-vector",
        ),
        Sample(
            lambda a: (em.diag_embed(a), a.diag_embed(1, 0, 2), em.diag_embed(a, -1, 2, 0)),
            (randn(2, 3),),
            lambda a: (
                torch.diag_embed(t(a)),
                torch.diag_embed(t(a), 1, 0, 2),
                torch.diag_embed(t(a), -1, 2, 0),
            ),
            "diag_embed",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a: em.diag_embed(a, 0, 0, 3), (randn(2, 3),), ShapeError, r"diag_embed: dim2=3"
        ),
    ],
)

BROADCAST_TO = OpInfo(
    "broadcast_to",
    [
        Sample(
            lambda a, b, c: em.meshgrid(a, b, c, indexing="ij"),
            (randn(2), randn(3), randn(4)),
            lambda a, b, c: torch.meshgrid(t(a), t(b), t(c), indexing="ij"),
            "meshgrid-ij",
        ),
        Sample(
            lambda a, b: em.meshgrid([a, b], indexing="xy"),
            (randn(2), randn(3)),
            lambda a, b: torch.meshgrid([t(a), t(b)], indexing="xy"),
            "meshgrid-xy-list",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, b: em.meshgrid(a, b),
            (randn(2, 2), randn(3)),
            ShapeError,
            r"meshgrid: expects 0-D or 1-D tensors, got shapes \[\(2, 2\), \(3,\)\]",
        ),
        ErrorSample(
            lambda a, b: em.meshgrid(a, b, indexing="yx"),
            (randn(2), randn(3)),
            UnsupportedOpError,
            "indexing must be 'ij' or 'xy'",
        ),
        ErrorSample(
            lambda a, b: em.meshgrid(a, b),
            (randn(2), randint(0, 3, 3)),
            DTypeError,
            "same dtype",
        ),
    ],
)

NORM = OpInfo(
    "norm",
    [
        Sample(
            lambda a, b: (em.cdist(a, b), em.cdist(a, b, 1.0), em.cdist(a, b, 0.0)),
            (randn(2, 4, 3), randn(5, 3)),
            lambda a, b: (
                torch.cdist(t(a), t(b)),
                torch.cdist(t(a), t(b), 1.0),
                torch.cdist(t(a), t(b), 0.0),
            ),
            "cdist-batched-broadcast",
            rtol=1e-5,
            atol=1e-5,
        ),
        Sample(
            lambda a: em.cdist(a, a, float("inf")),
            (randn(3, 2),),
            lambda a: torch.cdist(t(a), t(a), float("inf")),
            "cdist-inf-self",
            grad=False,  # max |difference| has ties at the zero distances
        ),
    ],
    errors=[
        ErrorSample(
            em.cdist,
            (randn(4, 3), randn(5, 2)),
            ShapeError,
            r"cdist: x1 \(4, 3\) and x2 \(5, 2\) must have the same number of features",
        ),
        ErrorSample(em.cdist, (randn(3), randn(5, 3)), ShapeError, r"at least 2 dims"),
    ],
)

MATMUL = OpInfo(
    "matmul",
    [
        Sample(
            lambda a, b: em.cdist(a, b),
            (randn(30, 3), randn(4, 3)),
            lambda a, b: torch.cdist(t(a), t(b)),
            "cdist-euclid-by-matmul",
            rtol=1e-4,
            atol=1e-4,
        ),
    ],
)

SORT = OpInfo(
    "sort",
    [
        Sample(
            lambda a, b: (em.isin(a, b), em.isin(a, b, invert=True)),
            (randint(0, 9, 3, 4), randint(0, 9, 5)),
            lambda a, b: (torch.isin(t(a), t(b)), torch.isin(t(a), t(b), invert=True)),
            "isin",
        ),
        Sample(
            lambda a, b: (em.isin(a, b), em.isin(a[0, 0], b)),
            (
                np.array([[1.5, np.nan], [0.0, -2.0]], np.float32),
                np.array([np.nan, 0.0, 1.5], np.float32),
            ),
            lambda a, b: (torch.isin(t(a), t(b)), torch.isin(t(a)[0, 0], t(b))),
            "isin-float-nan-and-0d",
        ),
    ],
)

INDEX_SELECT = OpInfo(
    "index_select",
    [
        Sample(
            lambda s, v: (em.searchsorted(s, v), em.searchsorted(s, v, right=True)),
            (sorted_rows(9), randn(3, 4) * 2),
            lambda s, v: (
                torch.searchsorted(t(s), t(v)),
                torch.searchsorted(t(s), t(v), right=True),
            ),
            "searchsorted-1d",
        ),
        Sample(
            lambda s, v: (
                em.searchsorted(s, v, side="right"),
                em.searchsorted(s, v, sorter=em.argsort(s)),
            ),
            (
                np.array([1.0, 3.0, 3.0, 5.0], np.float32),
                np.array([3.0, np.nan, -np.inf, 9.0], np.float32),
            ),
            lambda s, v: (
                torch.searchsorted(t(s), t(v), side="right"),
                torch.searchsorted(t(s), t(v), sorter=torch.argsort(t(s))),
            ),
            "searchsorted-nan-values-and-sorter",
        ),
        Sample(
            lambda x, b: (em.bucketize(x, b), em.bucketize(x, b, right=True)),
            (randint(-1, 7, 2, 5), np.array([0, 2, 2, 5], np.int32)),
            lambda x, b: (torch.bucketize(t(x), t(b)), torch.bucketize(t(x), t(b), right=True)),
            "bucketize",
        ),
    ],
    errors=[
        ErrorSample(
            lambda x, b: em.bucketize(x, b), (randn(3), randn(2, 2)), ShapeError, "1-D, got"
        ),
        ErrorSample(
            lambda s, v: em.searchsorted(s, v, right=True, side="left"),
            (randn(3), randn(3)),
            UnsupportedOpError,
            "contradict",
        ),
    ],
)

TAKE_ALONG_DIM = OpInfo(
    "take_along_dim",
    [
        Sample(
            lambda s, v: (em.searchsorted(s, v), em.searchsorted(s, v, right=True)),
            (sorted_rows(2, 3, 6), randn(2, 3, 5)),
            lambda s, v: (
                torch.searchsorted(t(s), t(v)),
                torch.searchsorted(t(s), t(v), right=True),
            ),
            "searchsorted-batched",
        ),
        # a negative dim with an index narrower than the input (the log-prob pick idiom)
        Sample(
            lambda a, i: a.gather(-1, i),
            (randn(3, 4), randint(0, 4, 3, 1)),
            lambda a, i: torch.gather(t(a), -1, t(i).long()),
            "gather-negative-dim-narrow-index",
        ),
    ],
    errors=[
        ErrorSample(
            em.searchsorted,
            (sorted_rows(2, 6), randn(3, 5)),
            ShapeError,
            r"sorted_sequence of shape \(2, 6\) searches values of shape \(2, 'N'\)",
        ),
    ],
)

VAR = OpInfo(
    "var",
    [
        Sample(
            lambda a: (*em.var_mean(a), *em.var_mean(a, 1, keepdim=True, correction=0)),
            (randn(3, 4),),
            lambda a: (*torch.var_mean(t(a)), *torch.var_mean(t(a), 1, keepdim=True, correction=0)),
            "var_mean",
        ),
        Sample(
            lambda a: (*em.var_mean(a, False), *em.var_mean(a, (0, 2), False)),
            (randint(0, 5, 2, 3, 2),),
            lambda a: (
                *torch.var_mean(t(a).float(), False),
                *torch.var_mean(t(a).float(), (0, 2), False),
            ),
            "var_mean-unbiased-false-int",
        ),
    ],
)

STD = OpInfo(
    "std",
    [
        Sample(
            lambda a: (*em.std_mean(a, dim=(0, 1)), *em.std_mean(a, -1, correction=2)),
            (randn(3, 4, 5),),
            lambda a: (*torch.std_mean(t(a), dim=(0, 1)), *torch.std_mean(t(a), -1, correction=2)),
            "std_mean",
        ),
    ],
)

CONCATENATE = OpInfo(
    "concatenate",
    [
        Sample(
            lambda a, b: (em.cross(a, b), a.cross(b, dim=-1)),
            (randn(3, 4, 3), randn(3, 4, 3)),
            lambda a, b: (torch.cross(t(a), t(b), dim=0), torch.cross(t(a), t(b), dim=-1)),
            "cross-default-first-size-3-dim",
        ),
        Sample(
            lambda a, b: em.cross(a, b, dim=1),
            (randint(-3, 4, 2, 3), randint(-3, 4, 1, 3)),
            lambda a, b: torch.cross(t(a), t(b), dim=1),
            "cross-int-broadcast",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, b: em.cross(a, b, dim=1),
            (randn(2, 4), randn(2, 4)),
            ShapeError,
            r"cross: dimension 1 of the inputs \(2, 4\) and \(2, 4\) has size 4",
        ),
        ErrorSample(em.cross, (randn(2, 4), randn(2, 4)), ShapeError, "no dimension of size 3"),
    ],
)

MUL = OpInfo(
    "mul",
    [
        Sample(
            lambda a, b: (em.kron(a, b), b.kron(a)),
            (randn(2, 3), randn(2, 1, 2)),
            lambda a, b: (torch.kron(t(a), t(b)), torch.kron(t(b), t(a))),
            "kron",
        ),
        Sample(
            em.kron,
            (randint(-3, 4, 3), randint(-3, 4, 2)),
            lambda a, b: torch.kron(t(a), t(b)),
            "kron-int-vectors",
        ),
    ],
)

SCATTER = OpInfo(
    "scatter",
    [
        Sample(
            lambda a: (em.histc(a, bins=7), a.histc(4, -1, 2)),
            (randn(40) * 2,),
            lambda a: (torch.histc(t(a), bins=7), torch.histc(t(a), 4, -1, 2)),
            "histc",
            grad=False,
        ),
        Sample(
            lambda a: (em.histc(a, bins=3), em.histc(a, bins=2, min=1, max=1)),
            (np.array([1.0, 1.0, np.nan], np.float32),),
            lambda a: (torch.histc(t(a)[:2], bins=3), torch.histc(t(a)[:2], bins=2, min=1, max=1)),
            "histc-constant-range-ignores-nan",
            grad=False,
        ),
        Sample(
            lambda i, w: (em.bincount(i, minlength=6), i.bincount(w, minlength=8)),
            (randint(0, 6, 20), randn(20)),
            lambda i, w: (
                torch.bincount(t(i), minlength=6),
                torch.bincount(t(i), t(w), minlength=8),
            ),
            "bincount-traced-with-minlength",
            grad_args=(1,),
        ),
    ],
    errors=[
        ErrorSample(
            lambda i: em.bincount(i),
            (randint(0, 6, 20),),
            TraceError,
            r"bincount: inside a traced function the output length must be static.*minlength=N",
        ),
        ErrorSample(
            lambda i: em.bincount(i, minlength=4),
            (randn(5),),
            DTypeError,
            r"bincount: expects a 1-D tensor of non-negative integers, got float32",
        ),
        ErrorSample(
            lambda a: em.histc(a, 5, 2, 1), (randn(5),), ShapeError, "max must be larger than min"
        ),
    ],
)

OP_DB = [
    SLICE,
    WHERE,
    BROADCAST_TO,
    NORM,
    MATMUL,
    SORT,
    INDEX_SELECT,
    TAKE_ALONG_DIM,
    VAR,
    STD,
    CONCATENATE,
    MUL,
    SCATTER,
]
