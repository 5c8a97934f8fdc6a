"""OpInfo entries: where, convert (casts), clamp, lerp, nan_to_num, stop_gradient."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import distinct, randbool, randint, randn, reseed, special_values, t, uniform

import ember as em
from ember.errors import DTypeError, ShapeError, TraceError

reseed(4)

WHERE = OpInfo(
    "where",
    [
        Sample(
            em.where,
            (randbool(3, 4), randn(3, 4), randn(3, 4)),
            lambda c, a, b: torch.where(t(c), t(a), t(b)),
            "same-shape",
        ),
        Sample(
            em.where,
            (randbool(3, 1), randn(1, 4), randn(4)),
            lambda c, a, b: torch.where(t(c), t(a), t(b)),
            "broadcast-three-ways",
        ),
        Sample(
            lambda c, a: em.where(c, a, 0.0),
            (randbool(2, 3), randn(2, 3)),
            lambda c, a: torch.where(t(c), t(a), 0.0),
            "scalar-other",
        ),
        Sample(
            lambda c, b: em.where(c, 1.5, b),
            (randbool(2, 3), randn(3)),
            lambda c, b: torch.where(t(c), 1.5, t(b)),
            "scalar-input",
        ),
        Sample(
            lambda c: em.where(c, 1.0, -1.0),
            (randbool(4),),
            lambda c: torch.where(t(c), 1.0, -1.0),
            "both-scalars",
        ),
        Sample(
            lambda c, a: em.where(c, a, 0.5),
            (randbool(2, 3), randint(-3, 3, 2, 3)),
            lambda c, a: torch.where(t(c), t(a), 0.5),
            "int-tensor-float-scalar",
        ),
        Sample(
            em.where,
            (randbool(2, 3), randint(-3, 3, 2, 3), randn(2, 3)),
            lambda c, a, b: torch.where(t(c), t(a), t(b)),
            "int-and-float-tensors",
        ),
        Sample(
            lambda c, a, b: c.T.where(a.T, b),
            (randbool(3, 2), randn(3, 2), randn(2, 3)),
            lambda c, a, b: torch.where(t(c).T, t(a).T, t(b)),
            "permuted",
        ),
        Sample(
            lambda c, a: (a > 0).where(a, a * 0.1),
            (randbool(1), randn(2, 3)),
            lambda c, a: torch.where(t(a) > 0, t(a), t(a) * 0.1),
            "comparison-condition",
        ),
        Sample(
            em.where,
            (randbool(0, 2), randn(0, 2), randn(2)),
            lambda c, a, b: torch.where(t(c), t(a), t(b)),
            "size-0",
        ),
    ],
    errors=[
        ErrorSample(em.where, (randbool(3), randn(2), randn(3)), ShapeError, r"\(3,\) and \(2,\)"),
        ErrorSample(lambda c: em.where(c), (randbool(3),), TraceError, r"data-dependent shape"),
        ErrorSample(
            lambda c, a: c.builder.emit("where", [c, a, a])[0],
            (randint(0, 2, 3), randn(3)),
            DTypeError,
            r"where: condition must be bool, got int32",
        ),
    ],
)

LOSSY = dict(grad=False)  # to a lower precision: finite differences see the rounding, not the slope

CONVERT = OpInfo(
    "convert",
    [
        Sample(
            lambda a: a.int(),
            (randn(3, 4, scale=5.0),),
            lambda a: t(a).int(),
            "float-to-int-truncates",
            grad=False,
        ),  # piecewise constant
        Sample(
            lambda a: a.to(em.bool_),
            (np.array([0.0, -0.0, 0.3, np.nan], np.float32),),
            lambda a: t(a).bool(),
            "float-to-bool",
            grad=False,
        ),  # bool result: nothing to differentiate
        Sample(
            lambda a: a.float(), (randint(-9, 9, 2, 3),), lambda a: t(a).float(), "int-to-float"
        ),
        Sample(
            lambda a: a.to("float32") * 1.5,
            (randbool(2, 3),),
            lambda a: t(a).float() * 1.5,
            "bool-to-float",
        ),
        Sample(lambda a: a.half(), (randn(2, 3),), lambda a: t(a).half(), "to-float16", **LOSSY),
        Sample(
            lambda a: a.bfloat16().float(),
            (randn(2, 3),),
            lambda a: t(a).bfloat16().float(),
            "bfloat16-round-trip",
            **LOSSY,
        ),
        Sample(
            lambda a: a.T.to(dtype=em.int32),
            (randint(-9, 9, 2, 3).astype(np.int16),),
            lambda a: t(a).T.to(torch.int32),
            "int16-to-int32-permuted",
        ),
        Sample(
            lambda a: a.type_as(a > 0),
            (randint(-2, 2, 0, 3),),
            lambda a: t(a).bool(),
            "size-0-type-as",
        ),
    ],
)

CLAMP = OpInfo(
    "clamp",
    [
        Sample(
            lambda a: em.clamp(a, -0.5, 0.5),
            (randn(3, 4),),
            lambda a: torch.clamp(t(a), -0.5, 0.5),
            "scalars",
        ),
        Sample(
            lambda a, lo, hi: a.clamp(lo, hi),
            (randn(3, 4), uniform(-1, -0.1, 4), uniform(0.1, 1, 3, 1)),
            lambda a, lo, hi: torch.clamp(t(a), t(lo), t(hi)),
            "tensor-bounds-broadcast",
        ),
        Sample(
            lambda a, lo: a.clip(min=lo, max=0.2),
            (randn(2, 3), uniform(-1, -0.1, 2, 3)),
            lambda a, lo: torch.clamp(t(a), min=t(lo), max=torch.tensor(0.2)),
            "tensor-min-scalar-max",
        ),
        Sample(
            lambda a: em.clamp(a, 1.0, -1.0),
            (randn(5),),
            lambda a: torch.clamp(t(a), 1.0, -1.0),
            "min-above-max-gives-max",
        ),
        Sample(
            lambda a: em.clamp(a, 0.5, 2.5),
            (randint(-3, 5, 2, 3),),
            lambda a: torch.clamp(t(a), 0.5, 2.5),
            "int-tensor-float-bounds",
        ),
        Sample(
            lambda a: em.clamp(a, -1, 2),
            (randint(-3, 5, 2, 3),),
            lambda a: torch.clamp(t(a), -1, 2),
            "int-stays-int",
        ),
        Sample(
            lambda a: em.clamp(a.T, -0.3, 0.3),
            (randn(4, 2),),
            lambda a: torch.clamp(t(a).T, -0.3, 0.3),
            "permuted",
        ),
        Sample(
            lambda a: em.clamp(a, -0.3, 0.3),
            (randn(0, 2),),
            lambda a: torch.clamp(t(a), -0.3, 0.3),
            "size-0",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, lo: em.clamp(a, lo, 1.0),
            (randn(3, 4), randn(2, 1)),
            ShapeError,
            r"\(3, 4\) and \(2, 1\)",
        ),
        ErrorSample(lambda a: em.clamp(a), (randn(3),), ValueError, "at least one of min and max"),
    ],
)

# a one-sided clamp is maximum/minimum
CLAMP_MIN = OpInfo(
    "maximum",
    [
        Sample(
            lambda a: a.clamp(min=0.1), (randn(3, 4),), lambda a: t(a).clamp(min=0.1), "clamp-min"
        ),
        Sample(
            lambda a, lo: em.clamp_min(a, lo),
            (randn(3, 4), randn(4)),
            lambda a, lo: torch.clamp_min(t(a), t(lo)),
            "clamp_min-tensor",
        ),
        Sample(
            lambda a: a.clamp(min=0.5),
            (randint(-2, 3, 4),),
            lambda a: t(a).clamp(min=0.5),
            "int-clamp-min-float",
        ),
    ],
)
CLAMP_MAX = OpInfo(
    "minimum",
    [
        Sample(
            lambda a: a.clamp(max=0.1), (randn(3, 4),), lambda a: t(a).clamp(max=0.1), "clamp-max"
        ),
        Sample(
            lambda a: a.clamp_max(-0.2), (randn(3, 4),), lambda a: t(a).clamp_max(-0.2), "clamp_max"
        ),
    ],
)

LERP = OpInfo(
    "lerp",
    [
        Sample(
            lambda a, b: em.lerp(a, b, 0.3),
            (randn(3, 4), randn(3, 4)),
            lambda a, b: torch.lerp(t(a), t(b), 0.3),
            "scalar-weight",
        ),
        Sample(
            lambda a, b, w: a.lerp(b, w),
            (randn(3, 1), randn(4), uniform(0, 1, 3, 4)),
            lambda a, b, w: torch.lerp(t(a), t(b), t(w)),
            "tensor-weight-broadcast",
        ),
        Sample(
            lambda a, b: em.lerp(a.T, b, 0.75),
            (randn(4, 3), randn(3, 4)),
            lambda a, b: torch.lerp(t(a).T, t(b), 0.75),
            "permuted-weight-above-half",
        ),
        Sample(
            lambda a, b: em.lerp(a, b, 0.5),
            (randn(0, 3), randn(3)),
            lambda a, b: torch.lerp(t(a), t(b), 0.5),
            "size-0",
        ),
    ],
    errors=[
        ErrorSample(
            lambda a, b: em.lerp(a, b, 0.5), (randn(3), randn(4)), ShapeError, r"\(3,\) and \(4,\)"
        ),
        ErrorSample(
            lambda a, b: em.lerp(a, b, 0.5),
            (randint(0, 3, 3), randint(0, 3, 3)),
            DTypeError,
            r"lerp: expects floating-point tensors, got int32",
        ),
    ],
)

_FINITE = uniform(-3, 3, 2, 3)
NAN_TO_NUM = OpInfo(
    "nan_to_num",
    [
        Sample(
            em.nan_to_num,
            (special_values(),),
            lambda a: torch.nan_to_num(t(a)),
            "defaults",
            grad=False,
        ),  # non-finite inputs: finite differences are meaningless
        Sample(
            lambda a: a.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0),
            (special_values(),),
            lambda a: torch.nan_to_num(t(a), nan=1.0, posinf=9.0, neginf=-9.0),
            "values",
            grad=False,
        ),  # as above
        Sample(
            lambda a: a.half().nan_to_num(posinf=100.0),
            (special_values(),),
            lambda a: t(a).half().nan_to_num(posinf=100.0),
            "float16-max",
            grad=False,
        ),
        Sample(em.nan_to_num, (_FINITE,), lambda a: torch.nan_to_num(t(a)), "finite-identity"),
    ],
)

STOP_GRADIENT = OpInfo(
    "stop_gradient",
    [
        # its gradient is zero by design (checked in test_core_ops), so finite differences disagree
        Sample(
            lambda a: a.detach() * 2.0, (randn(3, 4),), lambda a: t(a) * 2.0, "detach", grad=False
        ),
        Sample(
            lambda a: em.stop_gradient(a.T),
            (distinct(2, 3),),
            lambda a: t(a).T,
            "permuted",
            grad=False,
        ),  # as above
    ],
)

OP_DB = [WHERE, CONVERT, CLAMP, CLAMP_MIN, CLAMP_MAX, LERP, NAN_TO_NUM, STOP_GRADIENT]
