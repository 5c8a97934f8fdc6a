"""OpInfo entries: reductions (dim / keepdim / dtype), arg-reductions, max/min pairs and scans."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import distinct, randbool, randint, randn, reseed, t, uniform

import ember as em
from ember.errors import ShapeError, UnsupportedOpError

reseed(5)


def _reduce_entry(name, efn, tfn, *, domain=randn, ints=True, empty=True, rtol=1e-5, atol=1e-6):
    """Full, single dim, negative dim, multiple dims + keepdim, permuted, size-0 and int inputs."""
    kw = dict(rtol=rtol, atol=atol)
    samples = [
        Sample(efn, (domain(3, 4),), lambda a: tfn(t(a)), "all", **kw),
        Sample(lambda a: efn(a, 1), (domain(3, 4),), lambda a: tfn(t(a), 1), "dim", **kw),
        Sample(
            lambda a: getattr(a, name)(dim=-1, keepdim=True),
            (domain(2, 3, 4),),
            lambda a: tfn(t(a), dim=-1, keepdim=True),
            "neg-dim-keepdim-method",
            **kw,
        ),
        Sample(
            lambda a: efn(a, (0, 2), True),
            (domain(2, 3, 4),),
            lambda a: tfn(t(a), (0, 2), True),
            "dims-keepdim",
            **kw,
        ),
        Sample(
            lambda a: efn(a.permute(2, 0, 1), 0),
            (domain(2, 3, 4),),
            lambda a: tfn(t(a).permute(2, 0, 1), 0),
            "permuted",
            **kw,
        ),
        Sample(lambda a: efn(a, 0), (domain(1, 5),), lambda a: tfn(t(a), 0), "size-1-dim", **kw),
        Sample(efn, (domain(),), lambda a: tfn(t(a)), "0-d", **kw),
        # PyTorch accepts dim 0 / -1 of a 0-d tensor; JAX has no such axis to reduce
        Sample(
            lambda a: efn(a, -1, True), (domain(),), lambda a: tfn(t(a), -1, True), "0-d-dim", **kw
        ),
    ]
    if empty:
        samples += [
            Sample(
                lambda a: efn(a, 0),
                (domain(0, 3),),
                lambda a: tfn(t(a), 0),
                "size-0-reduced",
                grad=name != "mean",
            ),  # mean over nothing is NaN
            Sample(lambda a: efn(a, 1), (domain(0, 3),), lambda a: tfn(t(a), 1), "size-0-kept"),
        ]
    if ints:
        samples.append(
            Sample(
                lambda a: efn(a, 1), (randint(-3, 4, 2, 3),), lambda a: tfn(t(a), 1), "int", **kw
            )
        )
    errors = [
        ErrorSample(
            lambda a: efn(a, 2),
            (domain(3, 4),),
            ShapeError,
            r"dim=2 is out of range for a tensor with 2 dimensions",
        )
    ]
    return OpInfo(name, samples, errors)


SUM = _reduce_entry("sum", em.sum, torch.sum)
SUM.samples += [
    Sample(lambda a: a.sum(), (randbool(3, 4),), lambda a: t(a).sum(), "bool-counts"),
    Sample(
        lambda a: a.sum(1, dtype=em.float32),
        (randint(0, 9, 2, 3).astype(np.int8),),
        lambda a: t(a).sum(1, dtype=torch.float32),
        "dtype-casts-first",
    ),
    Sample(
        lambda a: em.sum(a, dim=(0, 1)),
        (randn(2, 3, 0),),
        lambda a: torch.sum(t(a), dim=(0, 1)),
        "size-0-trailing",
    ),
]
PROD = _reduce_entry(
    "prod",
    em.prod,
    lambda x, *a, **k: (
        torch.prod(x, *a, **k) if len(a) + len(k) > 0 or x.dim() == 0 else torch.prod(x)
    ),
    domain=lambda *s: uniform(0.5, 1.5, *s),
)
PROD.samples = [s for s in PROD.samples if s.name != "dims-keepdim"]  # torch.prod takes one dim
PROD.samples += [
    Sample(
        lambda a: a.prod(1),
        (np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]], np.float32),),
        lambda a: t(a).prod(1),
        "zeros",
    ),
    Sample(lambda a: a.prod(), (randbool(5),), lambda a: t(a).prod(), "bool"),
]
MEAN = _reduce_entry("mean", em.mean, torch.mean, ints=False)
MEAN.samples.append(
    Sample(
        lambda a: a.mean(1, dtype=em.float32),
        (randint(0, 9, 2, 3),),
        lambda a: t(a).float().mean(1),
        "int-with-dtype",
    )
)


def _extreme(name):
    """amax/amin, plus max()/min() without dim, which reduce to them."""
    efn, tfn = getattr(em, name), getattr(torch, name)
    whole_e, whole_t = getattr(em, name[1:]), getattr(torch, name[1:])
    info = _reduce_entry(name, efn, tfn, domain=distinct, empty=False)
    info.samples += [
        Sample(lambda a: efn(a, 1), (randn(0, 3),), lambda a: tfn(t(a), 1), "size-0-kept"),
        Sample(whole_e, (distinct(3, 4),), lambda a: whole_t(t(a)), "max-min-no-dim"),
    ]
    info.errors.append(
        ErrorSample(
            lambda a: efn(a, 0),
            (randn(0, 3),),
            ShapeError,
            r"cannot reduce over a dimension of size 0",
        )
    )
    return info


AMAX, AMIN = _extreme("amax"), _extreme("amin")


def _torch_logsumexp(x, dim=None, keepdim=False):  # torch requires dim
    return torch.logsumexp(x, tuple(range(x.dim())) if dim is None else dim, keepdim)


LOGSUMEXP = _reduce_entry(
    "logsumexp", em.logsumexp, _torch_logsumexp, domain=lambda *s: randn(*s, scale=3.0), empty=False
)
LOGSUMEXP.samples.append(
    Sample(
        lambda a: a.logsumexp(1),
        (np.array([[1e4, 1e4 - 1.0, -np.inf], [-np.inf, -np.inf, 0.0]], np.float32),),
        lambda a: t(a).logsumexp(1),
        "large-and-minus-inf",
        grad=False,
    )
)  # -inf inputs


def _var_std(name):
    efn, tfn = getattr(em, name), getattr(torch, name)
    info = _reduce_entry(name, efn, tfn, ints=False, empty=False)
    # one element and correction 1: NaN (no degrees of freedom) with a PyTorch warning
    info.samples = [s for s in info.samples if s.name not in ("0-d", "0-d-dim", "size-1-dim")]
    info.samples += [
        Sample(
            lambda a: efn(a, 1, unbiased=False),
            (randn(3, 5),),
            lambda a: tfn(t(a), 1, unbiased=False),
            "unbiased-false",
        ),
        Sample(
            lambda a: getattr(a, name)(dim=(0, 1), correction=2),
            (randn(3, 4),),
            lambda a: tfn(t(a), dim=(0, 1), correction=2),
            "correction-2",
        ),
        Sample(
            lambda a: efn(a, 0, correction=0, keepdim=True),
            (randn(4, 3),),
            lambda a: tfn(t(a), 0, correction=0, keepdim=True),
            "correction-0-keepdim",
        ),
        Sample(lambda a: efn(a, 1), (randint(-3, 4, 2, 5),), lambda a: tfn(t(a).float(), 1), "int"),
        Sample(
            lambda a: efn(a, 0, correction=0),
            (randn(1, 3),),
            lambda a: tfn(t(a), 0, correction=0),
            "size-1-dim-correction-0",
            grad=name == "var",  # std of one value is 0, where sqrt has an infinite slope
        ),
    ]
    return info


VAR, STD = _var_std("var"), _var_std("std")


def _norm_entry():
    x = randn(3, 4)
    ref = torch.linalg.vector_norm
    samples = [
        Sample(lambda a: a.norm(), (x,), lambda a: t(a).norm(), "fro-default"),
        Sample(lambda a: em.norm(a, p=1, dim=1), (x,), lambda a: ref(t(a), 1, dim=1), "p1-dim"),
        Sample(
            lambda a: em.norm(a, 2, dim=0, keepdim=True),
            (x,),
            lambda a: ref(t(a), 2, dim=0, keepdim=True),
            "p2-keepdim",
        ),
        Sample(
            lambda a: em.norm(a, float("inf"), dim=1),
            (distinct(3, 4),),
            lambda a: ref(t(a), float("inf"), dim=1),
            "inf",
        ),
        Sample(
            lambda a: em.norm(a, float("-inf")),
            (distinct(3, 4),),
            lambda a: ref(t(a), float("-inf")),
            "minus-inf",
        ),
        Sample(
            lambda a: em.norm(a, 3.0, dim=(0, 1)), (x,), lambda a: ref(t(a), 3.0, dim=(0, 1)), "p3"
        ),
        Sample(
            lambda a: em.norm(a, "fro", dim=(0, 1)),
            (x,),
            lambda a: torch.norm(t(a), "fro", dim=(0, 1)),
            "fro-dims",
        ),
        Sample(
            lambda a: em.norm(a, 0, dim=1),
            (np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]], np.float32),),
            lambda a: ref(t(a), 0, dim=1),
            "p0-counts-nonzero",
            grad=False,
        ),  # piecewise constant
        # PyTorch's gradient of the 2-norm at 0 is 0 (a subgradient), not NaN
        Sample(lambda a: em.norm(a * 0.0, dim=1) + a.sum(), (x,), None, "zero-vector-grad"),
        Sample(lambda a: em.norm(a.T, dim=0), (x,), lambda a: ref(t(a).T, dim=0), "permuted"),
        Sample(lambda a: em.norm(a), (randint(-3, 4, 5),), lambda a: ref(t(a).float()), "int"),
        Sample(lambda a: em.norm(a, dim=0), (randn(0, 3),), lambda a: ref(t(a), dim=0), "size-0"),
        Sample(lambda a: em.norm(a, dim=-1), (randn(),), lambda a: ref(t(a), dim=-1), "0-d-dim"),
    ]
    errors = [ErrorSample(lambda a: em.norm(a, "nuc"), (x,), UnsupportedOpError, r"p='nuc'")]
    return OpInfo("norm", samples, errors)


def _bool_reduce(name):
    efn, tfn = getattr(em, name), getattr(torch, name)
    return OpInfo(
        name,
        [
            Sample(efn, (randbool(3, 4),), lambda a: tfn(t(a)), "all-dims"),
            Sample(
                lambda a: getattr(a, name)(1),
                (randbool(3, 4),),
                lambda a: tfn(t(a), 1),
                "dim-method",
            ),
            Sample(
                lambda a: efn(a, 0, keepdim=True),
                (randbool(1, 4),),
                lambda a: tfn(t(a), 0, keepdim=True),
                "size-1-keepdim",
            ),
            Sample(lambda a: efn(a, 0), (randbool(0, 3),), lambda a: tfn(t(a), 0), "size-0"),
            Sample(lambda a: efn(a, -1), (randbool(),), lambda a: tfn(t(a), -1), "0-d-dim"),
            Sample(lambda a: efn(a, 1), (randint(0, 2, 3, 2),), lambda a: tfn(t(a), 1), "int"),
            Sample(
                lambda a: efn(a.T, 1),
                (np.array([[0.0, 1.0], [2.0, 0.5]], np.float32),),
                lambda a: tfn(t(a).T, 1),
                "float-permuted",
            ),
        ],
        errors=[
            ErrorSample(lambda a: efn(a, 3), (randbool(2),), ShapeError, r"dim=3 is out of range")
        ],
        differentiable=False,
    )


def _arg_entry(name):
    efn, tfn = getattr(em, name), getattr(torch, name)
    return OpInfo(
        name,
        [
            Sample(efn, (distinct(3, 4),), lambda a: tfn(t(a)), "flat"),
            Sample(
                lambda a: getattr(a, name)(dim=1),
                (distinct(3, 4),),
                lambda a: tfn(t(a), dim=1),
                "dim",
            ),
            Sample(
                lambda a: efn(a, 0, keepdim=True),
                (distinct(3, 4),),
                lambda a: tfn(t(a), 0, keepdim=True),
                "keepdim",
            ),
            Sample(
                lambda a: efn(a, keepdim=True),
                (distinct(2, 3),),
                lambda a: tfn(t(a), keepdim=True),
                "flat-keepdim",
            ),
            Sample(lambda a: efn(a.T, 0), (distinct(3, 4),), lambda a: tfn(t(a).T, 0), "permuted"),
            Sample(lambda a: efn(a, 0), (randn(),), lambda a: tfn(t(a), 0), "0-d-dim"),
            Sample(
                lambda a: efn(a, 1),
                (randint(-9, 9, 0, 4),),
                lambda a: tfn(t(a), 1),
                "size-0-kept-int",
            ),
        ],
        errors=[
            ErrorSample(lambda a: efn(a, 0), (randn(0, 2),), ShapeError, r"dimension of size 0")
        ],
        differentiable=False,
    )


def _max_min_dim(op):
    word = op[:3]
    efn, tfn = getattr(em, word), getattr(torch, word)
    return OpInfo(
        op,
        [
            Sample(
                lambda a: tuple(efn(a, 1)), (distinct(3, 4),), lambda a: tuple(tfn(t(a), 1)), "dim"
            ),
            Sample(
                lambda a: getattr(a, word)(dim=0, keepdim=True).values,
                (distinct(3, 4),),
                lambda a: tfn(t(a), dim=0, keepdim=True).values,
                "values-keepdim",
            ),
            Sample(
                lambda a: getattr(a, word)(-1).indices,
                (distinct(2, 3, 4),),
                lambda a: tfn(t(a), -1).indices,
                "indices",
                grad=False,
            ),  # integer output
            Sample(
                lambda a: tuple(efn(a.permute(1, 0), 0)),
                (distinct(3, 4),),
                lambda a: tuple(tfn(t(a).permute(1, 0), 0)),
                "permuted",
            ),
            Sample(
                lambda a: tuple(efn(a, 1)),
                (randint(-9, 9, 0, 4),),
                lambda a: tuple(tfn(t(a), 1)),
                "size-0-kept-int",
            ),
            Sample(lambda a: tuple(efn(a, 0)), (distinct(),), lambda a: tuple(tfn(t(a), 0)), "0-d"),
        ],
        errors=[
            ErrorSample(lambda a: efn(a, 1), (randn(2, 0),), ShapeError, r"dimension of size 0")
        ],
    )


def _scan(name):
    efn, tfn = getattr(em, name), getattr(torch, name)
    dom = (lambda *s: uniform(0.5, 1.5, *s)) if name == "cumprod" else randn
    return OpInfo(
        name,
        [
            Sample(lambda a: efn(a, 1), (dom(3, 4),), lambda a: tfn(t(a), 1), "dim"),
            Sample(
                lambda a: getattr(a, name)(dim=-1),
                (dom(2, 3, 4),),
                lambda a: tfn(t(a), dim=-1),
                "neg-dim-method",
            ),
            Sample(lambda a: efn(a.T, 0), (dom(3, 4),), lambda a: tfn(t(a).T, 0), "permuted"),
            Sample(lambda a: efn(a, 0), (dom(),), lambda a: tfn(t(a), 0), "0-d"),
            Sample(lambda a: efn(a, 0), (dom(0, 2),), lambda a: tfn(t(a), 0), "size-0"),
            Sample(lambda a: efn(a, 0), (randint(-3, 4, 5),), lambda a: tfn(t(a), 0), "int"),
            Sample(lambda a: efn(a, 0), (randbool(6),), lambda a: tfn(t(a), 0), "bool-counts"),
            Sample(
                lambda a: efn(a, 1, dtype=em.float32),
                (randint(-3, 4, 2, 3),),
                lambda a: tfn(t(a), 1, dtype=torch.float32),
                "dtype",
            ),
        ]
        + (
            [
                Sample(
                    lambda a: efn(a, 1),
                    (np.array([[2.0, 0.0, 3.0, 4.0], [0.0, 1.5, 0.0, 2.0]], np.float32),),
                    lambda a: tfn(t(a), 1),
                    "zeros",
                )
            ]
            if name == "cumprod"
            else []
        ),
        errors=[
            ErrorSample(lambda a: efn(a, 2), (dom(3, 4),), ShapeError, r"dim=2 is out of range")
        ],
    )


OP_DB = [
    SUM,
    PROD,
    MEAN,
    AMAX,
    AMIN,
    LOGSUMEXP,
    VAR,
    STD,
    _norm_entry(),
    _bool_reduce("all"),
    _bool_reduce("any"),
    _arg_entry("argmax"),
    _arg_entry("argmin"),
    _max_min_dim("max_dim"),
    _max_min_dim("min_dim"),
    _scan("cumsum"),
    _scan("cumprod"),
]
