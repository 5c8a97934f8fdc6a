"""OpInfo entries: complex numbers (view_as_complex, view_as_real, complex, polar, real,
imag, conj, angle). Samples start and end in real tensors, so the float64 gradient check
covers the complex steps in between."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import randn, reseed, t

import ember as em
from ember.errors import DTypeError, ShapeError

reseed(21)


def _pairs(*shape):
    return randn(*shape, 2)


def _rotate(x, angles):
    """LLaMA's rotary step: pairs of x as complex numbers times unit phasors."""
    return em.view_as_real(em.view_as_complex(x) * em.polar(em.ones_like(angles), angles))


def _rotate_torch(x, angles):
    a = t(angles)
    return torch.view_as_real(torch.view_as_complex(t(x)) * torch.polar(torch.ones_like(a), a))


OP_DB = [
    OpInfo(
        "view_as_complex",
        [
            Sample(
                lambda x: em.view_as_real(em.view_as_complex(x) * em.view_as_complex(x)),
                (_pairs(3, 4),),
                lambda x: torch.view_as_real(torch.view_as_complex(t(x)) ** 2),
                "squared",
            ),
        ],
        [
            ErrorSample(em.view_as_complex, (randn(3, 4),), ShapeError, "last dimension is 2"),
        ],
    ),
    OpInfo(
        "view_as_real",
        [Sample(_rotate, (_pairs(2, 5, 4), randn(5, 4)), _rotate_torch, "rotary")],
        [ErrorSample(em.view_as_real, (randn(3, 2),), DTypeError, "expects a complex tensor")],
    ),
    OpInfo(
        "polar",
        [
            Sample(
                lambda r, a: em.view_as_real(em.polar(r, a)),
                (np.abs(randn(3, 4)) + 0.1, randn(1, 4)),
                lambda r, a: torch.view_as_real(torch.polar(*torch.broadcast_tensors(t(r), t(a)))),
                "broadcast",
            )
        ],
    ),
    OpInfo(
        "complex",
        [
            Sample(
                lambda a, b: em.view_as_real(em.complex(a, b) * em.complex(b, a)),
                (randn(3, 4), randn(3, 4)),
                lambda a, b: torch.view_as_real(
                    torch.complex(t(a), t(b)) * torch.complex(t(b), t(a))
                ),
                "product",
            )
        ],
        [
            ErrorSample(
                lambda a, b: em.complex(a.int(), b.int()),
                (randn(2), randn(2)),
                DTypeError,
                "float32 or float64",
            )
        ],
    ),
    OpInfo(
        "real",
        [
            Sample(
                lambda x: em.real(em.view_as_complex(x) ** 2) + em.view_as_complex(x).abs(),
                (_pairs(4, 3),),
                lambda x: (
                    torch.real(torch.view_as_complex(t(x)) ** 2) + torch.view_as_complex(t(x)).abs()
                ),
                "square-plus-abs",
            )
        ],
    ),
    OpInfo(
        "imag",
        [
            Sample(
                lambda x: (em.view_as_complex(x) * 3j).imag,
                (_pairs(4, 3),),
                lambda x: (torch.view_as_complex(t(x)) * 3j).imag,
                "times-3i",
            )
        ],
        [ErrorSample(em.imag, (randn(3),), DTypeError, "expects a complex tensor")],
    ),
    OpInfo(
        "conj",
        [
            Sample(
                lambda x: em.view_as_real(em.view_as_complex(x).conj() * em.view_as_complex(x)),
                (_pairs(5),),
                lambda x: torch.view_as_real(
                    torch.view_as_complex(t(x)).conj().resolve_conj() * torch.view_as_complex(t(x))
                ),
                "times-self",
            )
        ],
    ),
    OpInfo(
        "angle",
        [
            Sample(
                lambda x: em.angle(em.view_as_complex(x)),
                (_pairs(4, 3),),
                lambda x: torch.angle(torch.view_as_complex(t(x))),
                "complex",
            ),
            Sample(
                em.angle,
                (np.array([-2.0, -0.0, 0.0, 3.0, np.nan], np.float32),),
                lambda x: torch.angle(t(x)),
                "real",
                grad=False,
            ),
        ],
    ),
]
