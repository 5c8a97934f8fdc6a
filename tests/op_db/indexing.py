"""OpInfo entries: gather / take_along_dim, index_select (advanced indexing) and scatter.

`scatter` covers scatter, scatter_add, every scatter_reduce mode with and
without include_self, index_add and index_put. Samples that write with plain
assignment use distinct targets: PyTorch leaves duplicate writes unspecified.
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import distinct, randint, randn, reseed, rng, t, uniform

import ember as em
from ember.errors import DTypeError, ShapeError, TraceError

reseed(8)


def _unique_rows(rows: int, size: int, cols: int) -> np.ndarray:
    """(rows, cols) indices into `size` with no repeats inside a column."""
    return np.stack([rng.permutation(size)[:rows] for _ in range(cols)], 1).astype(np.int32)


def li(x):
    return t(x).long()


GATHER = OpInfo(
    "take_along_dim",
    [
        Sample(
            lambda a, i: em.gather(a, 1, i),
            (randn(3, 4), randint(0, 4, 3, 2)),
            lambda a, i: torch.gather(t(a), 1, li(i)),
            "gather-dim-1",
        ),
        Sample(
            lambda a, i: a.gather(0, i),
            (randn(3, 4), randint(0, 3, 2, 3)),
            lambda a, i: t(a).gather(0, li(i)),
            "index-smaller-than-input",
        ),
        Sample(
            lambda a, i: a.T.gather(1, i),
            (randn(4, 3), randint(0, 4, 3, 5)),
            lambda a, i: t(a).T.gather(1, li(i)),
            "permuted-repeats",
        ),
        Sample(
            lambda a, i: a.gather(1, i),
            (randn(3, 4), randint(0, 4, 3, 0)),
            lambda a, i: t(a).gather(1, li(i)),
            "empty-index",
        ),
        Sample(
            lambda a, i: em.take_along_dim(a, i, 1),
            (randn(3, 4), randint(-4, 4, 1, 2)),
            lambda a, i: torch.take_along_dim(t(a), li(i), 1),
            "take_along_dim-broadcast-negative",
        ),
        Sample(
            lambda a, i: a.take_along_dim(i),
            (randn(3, 4), randint(0, 12, 5)),
            lambda a, i: torch.take_along_dim(t(a), li(i)),
            "take_along_dim-flat",
        ),
        Sample(
            lambda a, i: em.take_along_dim(a, i, 0),
            (randint(0, 9, 3, 4), randint(0, 3, 2, 1)),
            lambda a, i: torch.take_along_dim(t(a), li(i), 0),
            "int-input",
        ),
        Sample(
            lambda a: a.gather(1, a.argmax(1, keepdim=True)),
            (distinct(3, 4),),
            lambda a: t(a).amax(1, keepdim=True),
            "with-argmax",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, i: a.gather(1, i),
            (randn(3, 4), randn(3, 2)),
            DTypeError,
            r"gather: index must be an integer tensor, got float32",
        ),
        ErrorSample(
            lambda a, i: a.gather(1, i),
            (randn(3, 4), randint(0, 4, 3)),
            ShapeError,
            r"index \(3,\) and input \(3, 4\) must have the same number of dimensions",
        ),
        ErrorSample(
            lambda a, i: a.gather(1, i),
            (randn(3, 4), randint(0, 4, 5, 2)),
            ShapeError,
            r"index \(5, 2\) is larger than input \(3, 4\) in dim 0",
        ),
        ErrorSample(
            lambda a, i: em.take_along_dim(a, i, 1),
            (randn(3, 4), randint(0, 4, 2, 2)),
            ShapeError,
            r"shapes \(3, 1\) and \(2, 1\) cannot be broadcast",
        ),
    ],
)

_x = randn(3, 4, 5)
INDEX_SELECT = OpInfo(
    "index_select",
    [
        Sample(
            lambda a, i: em.index_select(a, 1, i),
            (_x, randint(0, 4, 6)),
            lambda a, i: torch.index_select(t(a), 1, li(i)),
            "repeats-accumulate-grad",
        ),
        Sample(
            lambda a, i: a.index_select(-1, i),
            (_x, randint(0, 5, 2)),
            lambda a, i: t(a).index_select(-1, li(i)),
            "neg-dim-method",
        ),
        Sample(
            lambda a, i: a.T.index_select(0, i),
            (randn(3, 4), randint(0, 4, 3)),
            lambda a, i: t(a).T.index_select(0, li(i)),
            "permuted",
        ),
        Sample(
            lambda a, i: a.index_select(0, i),
            (randn(3, 4), randint(0, 3, 0)),
            lambda a, i: t(a).index_select(0, li(i)),
            "empty-index",
        ),
        Sample(
            lambda a, i: a.index_select(1, i),
            (randn(2, 3), np.array(1, np.int32)),
            lambda a, i: t(a).index_select(1, li(i)),
            "0-d-index",
        ),
        # advanced indexing (torch placement rules) lowers to one index_select
        Sample(
            lambda a, i: a[i],
            (_x, randint(-3, 3, 2, 2)),
            lambda a, i: t(a)[li(i)],
            "getitem-negative",
        ),
        Sample(
            lambda a, i, j: a[:, i, j],
            (_x, randint(0, 4, 3), randint(0, 5, 2, 1)),
            lambda a, i, j: t(a)[:, li(i), li(j)],
            "getitem-adjacent-broadcast",
        ),
        Sample(
            lambda a, i, j: a[i, :, j],
            (_x, randint(0, 3, 2), randint(0, 5, 2)),
            lambda a, i, j: t(a)[li(i), :, li(j)],
            "getitem-separated-go-first",
        ),
        Sample(
            lambda a, i, j: a[1:, None, i, ..., j],
            (_x, randint(0, 4, 2), randint(0, 5, 1)),
            lambda a, i, j: t(a)[1:, None, li(i), ..., li(j)],
            "getitem-none-ellipsis",
        ),
        Sample(
            lambda a, i: a[0, i, 1],
            (_x, randint(0, 4, 3)),
            lambda a, i: t(a)[0, li(i), 1],
            "getitem-ints-select-first",
        ),
        Sample(
            lambda a, i, j: a[i, :, j],
            (_x, np.array(2, np.int32), randint(0, 5, 3)),
            lambda a, i, j: t(a)[li(i), :, li(j)],
            "getitem-0-d-tensor-like-int",
        ),
        Sample(lambda a: a[[0, 2], 1], (_x,), lambda a: t(a)[[0, 2], 1], "getitem-list"),
        Sample(
            lambda a, i: a.permute(2, 0, 1)[i, i],
            (_x, randint(0, 3, 4)),
            lambda a, i: t(a).permute(2, 0, 1)[li(i), li(i)],
            "getitem-permuted",
        ),
        Sample(
            lambda a, i: a[i],
            (randint(0, 9, 5), randint(0, 5, 3)),
            lambda a, i: t(a)[li(i)],
            "int-input",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, i: a.index_select(0, i),
            (randn(3, 4), randint(0, 3, 2, 2)),
            ShapeError,
            r"index_select: index must be 1-D, got shape \(2, 2\)",
        ),
        ErrorSample(
            lambda a, i: a.index_select(0, i),
            (randn(3, 4), randn(2)),
            DTypeError,
            r"index_select: index must be an integer tensor",
        ),
        ErrorSample(
            lambda a, m: a[m],
            (randn(3, 4), np.array([True, False, True])),
            TraceError,
            r"boolean-mask indexing gives a data-dependent shape \(mask \(3,\)\)",
        ),
        ErrorSample(
            lambda a, i: a[i],
            (randn(3, 4), randn(2)),
            DTypeError,
            r"tensors used as indices must be integer",
        ),
        ErrorSample(
            lambda a, i, j: a[i, j],
            (randn(3, 4), randint(0, 3, 2), randint(0, 3, 3)),
            ShapeError,
            r"shapes \(2,\) and \(3,\) cannot be broadcast",
        ),
    ],
)


def _sr(reduce, include_self, x, idx, src, name):
    return Sample(
        lambda a, i, s: a.scatter_reduce(0, i, s, reduce, include_self=include_self),
        (x, idx, src),
        lambda a, i, s: t(a).scatter_reduce(0, li(i), t(s), reduce, include_self=include_self),
        name,
    )


_base, _src = randn(3, 5), randn(4, 5)
_dup = randint(0, 3, 4, 5)  # repeated targets (reductions) and an untouched slot per column
_pos_base, _pos_src = uniform(0.5, 1.5, 3, 5), uniform(0.5, 1.5, 4, 5)
_zero_src = _pos_src.copy()
_zero_src[0, :2] = 0.0
_zero_src[1, 0] = 0.0
SCATTER_REDUCE_SAMPLES = [
    _sr(
        reduce,
        incl,
        *(args if reduce != "prod" else (_pos_base, _dup, _pos_src)),
        f"reduce-{reduce}-include_self-{incl}",
    )
    for reduce in ("sum", "prod", "mean", "amax", "amin")
    for incl in (True, False)
    for args in [(_base, _dup, _src)]
] + [
    _sr("prod", True, _pos_base, _dup, _zero_src, "reduce-prod-zeros"),
    _sr("prod", False, _pos_base, _dup, _zero_src, "reduce-prod-zeros-exclude-self"),
    Sample(
        lambda a, i, s: a.scatter_reduce(0, i, s, "mean", include_self=False),
        (randint(-9, 9, 3, 5), _dup, randint(-9, 9, 4, 5)),
        lambda a, i, s: t(a).scatter_reduce(0, li(i), t(s), "mean", include_self=False),
        "int-mean-floors",
    ),
]

SCATTER = OpInfo(
    "scatter",
    [
        Sample(
            lambda a, i, s: a.scatter(0, i, s),
            (_base, _unique_rows(2, 3, 5), _src),
            lambda a, i, s: t(a).scatter(0, li(i), t(s)),
            "src-smaller-index",
        ),
        Sample(
            lambda a, i: em.scatter(a, 1, i, 2.5),
            (_base, _unique_rows(5, 5, 3).T.copy()),
            lambda a, i: torch.scatter(t(a), 1, li(i), 2.5),
            "value",
        ),
        Sample(
            lambda a, i, s: a.scatter(0, i, s, reduce="add"),
            (_base, _dup, _src),
            lambda a, i, s: t(a).scatter(0, li(i), t(s), reduce="add"),
            "legacy-reduce-add",
        ),
        Sample(
            lambda a, i, s: a.scatter(0, i, s, reduce="multiply"),
            (_pos_base, _dup, _pos_src),
            lambda a, i, s: t(a).scatter(0, li(i), t(s), reduce="multiply"),
            "legacy-reduce-multiply",
        ),
        Sample(
            lambda a, i, s: a.scatter_add(0, i, s),
            (_base, _dup, _src),
            lambda a, i, s: t(a).scatter_add(0, li(i), t(s)),
            "scatter_add",
        ),
        Sample(
            lambda a, i, s: em.scatter_add(a.T, 1, i, s),
            (randn(5, 3), _dup[:3], _src),
            lambda a, i, s: torch.scatter_add(t(a).T, 1, li(i), t(s)),
            "permuted-dim-1",
        ),
        Sample(
            lambda a, i, s: a.scatter_add(1, i, s),
            (_base, randint(0, 5, 3, 0), _src),
            lambda a, i, s: t(a).scatter_add(1, li(i), t(s)),
            "empty-index",
        ),
        *SCATTER_REDUCE_SAMPLES,
        Sample(
            lambda a, i, s: a.index_add(1, i, s, alpha=0.5),
            (_base, randint(0, 5, 7), randn(3, 7)),
            lambda a, i, s: t(a).index_add(1, li(i), t(s), alpha=0.5),
            "index_add",
        ),
        Sample(
            lambda a, i, s: em.index_add(a, 0, i, s),
            (randn(4), randint(0, 4, 6), randn(6)),
            lambda a, i, s: torch.index_add(t(a), 0, li(i), t(s)),
            "index_add-1d",
        ),
        Sample(
            lambda a, i, j, v: a.index_put((i, j), v),
            (randn(4, 5), np.array([0, 2, -1], np.int32), np.array([1, 1, 4], np.int32), randn(3)),
            lambda a, i, j, v: t(a).index_put((li(i), li(j)), t(v)),
            "index_put",
        ),
        Sample(
            lambda a, i, v: a.index_put((i,), v, accumulate=True),
            (randn(4, 3), randint(0, 4, 5), randn(3)),
            lambda a, i, v: t(a).index_put((li(i),), t(v), accumulate=True),
            "index_put-accumulate-rows",
        ),
        Sample(
            lambda a, i: a.index_put((i,), em.tensor(0.0)),
            (randn(2, 3, 2), np.array([[1]], np.int32)),
            lambda a, i: t(a).index_put((li(i),), torch.tensor(0.0)),
            "index_put-scalar-value",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, i, s: a.scatter(0, i, s),
            (randn(3, 4), randint(0, 3, 2, 4), randint(0, 3, 2, 4)),
            DTypeError,
            r"scatter: src dtype int32 differs from input dtype float32",
        ),
        ErrorSample(
            lambda a, i, s: a.scatter_add(0, i, s),
            (randn(3, 4), randint(0, 3, 2, 4), randn(1, 4)),
            ShapeError,
            r"index \(2, 4\) is larger than src \(1, 4\) in dim 0",
        ),
        ErrorSample(
            lambda a, i, s: a.scatter_reduce(0, i, s, "max"),
            (randn(3), randint(0, 3, 2), randn(2)),
            ShapeError,
            r"reduce must be one of \('sum', 'prod', 'mean', 'amax', 'amin'\)",
        ),
        ErrorSample(
            lambda a, i, s: a.scatter(0, i, s, reduce="mean"),
            (randn(3), randint(0, 3, 2), randn(2)),
            ShapeError,
            r"scatter: reduce must be 'add' or 'multiply'",
        ),
        ErrorSample(
            lambda a, i, s: a.index_add(0, i, s),
            (randn(3, 4), randint(0, 3, 2), randn(2, 5)),
            ShapeError,
            r"index_add: source \(2, 5\) must match input \(3, 4\) except in dim 0",
        ),
        ErrorSample(
            lambda a, i, v: a.index_put((i,), v),
            (randn(3, 4), randint(0, 3, 2), randn(3)),
            ShapeError,
            r"values of shape \(3,\) do not broadcast to the indexed shape \(2, 4\)",
        ),
    ],
)

OP_DB = [GATHER, INDEX_SELECT, SCATTER]
