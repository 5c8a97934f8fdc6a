"""OpInfo entries: unary elementwise ops (math, rounding, predicates, activations).

Each op gets a table-driven set of samples: a 2-D input, a permuted input
through the Tensor method, size-0, 0-d and size-1 inputs and an integer input
(float-valued ops compute ints in float32, like PyTorch).
"""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import randint, randn, reseed, special_values, t, uniform

import ember as em
import ember.nn.functional as F
from ember.errors import DTypeError

reseed(1)

TF = torch.nn.functional
UNARY_ATTR_OPS = ("leaky_relu", "elu", "celu", "softplus", "hardtanh")  # need attrs to emit


def _any(*shape):
    return randn(*shape)


def _pos(*shape):
    return uniform(0.2, 3.0, *shape)


def _unit(*shape):
    return uniform(-0.9, 0.9, *shape)


def _ge1(*shape):
    return uniform(1.2, 3.0, *shape)


def _wide(*shape):
    return randn(*shape, scale=4.0)  # reaches the kinks/saturation of hard activations


# name -> (torch reference, float domain, int domain (lo, hi) or None, rtol)
FLOAT_OPS = {
    "exp": (torch.exp, _any, (-3, 4), 1e-5),
    "exp2": (torch.exp2, _any, (-3, 4), 1e-5),
    "log": (torch.log, _pos, (1, 6), 1e-5),
    "log2": (torch.log2, _pos, (1, 6), 1e-5),
    "log10": (torch.log10, _pos, (1, 6), 1e-5),
    "log1p": (torch.log1p, _pos, (0, 6), 1e-5),
    "expm1": (torch.expm1, _any, (-3, 4), 1e-5),
    "sqrt": (torch.sqrt, _pos, (0, 9), 1e-5),
    "rsqrt": (torch.rsqrt, _pos, (1, 9), 1e-5),
    "sin": (torch.sin, _wide, (-5, 5), 1e-5),
    "cos": (torch.cos, _wide, (-5, 5), 1e-5),
    "tan": (torch.tan, _unit, (-1, 2), 1e-5),
    "tanh": (torch.tanh, _wide, (-5, 5), 1e-5),
    "sigmoid": (torch.sigmoid, _wide, (-5, 5), 1e-5),
    "erf": (torch.erf, _any, (-2, 3), 1e-5),
    "erfc": (torch.erfc, _any, (-2, 3), 1e-5),
    "reciprocal": (torch.reciprocal, _pos, (1, 5), 1e-5),
    "asin": (torch.asin, _unit, (0, 1), 1e-5),
    "acos": (torch.acos, _unit, (0, 1), 1e-5),
    "atan": (torch.atan, _wide, (-5, 5), 1e-5),
    "sinh": (torch.sinh, _any, (-3, 4), 1e-5),
    "cosh": (torch.cosh, _any, (-3, 4), 1e-5),
    "asinh": (torch.asinh, _wide, (-5, 5), 1e-5),
    "acosh": (torch.acosh, _ge1, (1, 5), 1e-5),
    "atanh": (torch.atanh, _unit, (0, 1), 1e-5),
    "erfinv": (torch.erfinv, _unit, (0, 1), 1e-5),
    "lgamma": (torch.lgamma, _pos, (1, 6), 1e-5),
    "digamma": (torch.digamma, _pos, (1, 6), 1e-5),
}

# activations with their default and a non-default call: name -> (ember, torch) pairs
ACTIVATIONS = {
    "relu6": [(F.relu6, TF.relu6)],
    "gelu": [(F.gelu, TF.gelu)],
    "gelu_tanh": [
        (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"))
    ],
    "silu": [(F.silu, TF.silu)],
    "mish": [(F.mish, TF.mish)],
    "selu": [(F.selu, TF.selu)],
    "hardswish": [(F.hardswish, TF.hardswish)],
    "hardsigmoid": [(F.hardsigmoid, TF.hardsigmoid)],
    "logsigmoid": [(F.logsigmoid, TF.logsigmoid)],
    "softsign": [(F.softsign, TF.softsign)],
    "leaky_relu": [
        (F.leaky_relu, TF.leaky_relu),
        (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ],
    "elu": [(F.elu, TF.elu), (lambda x: F.elu(x, alpha=0.5), lambda x: TF.elu(x, alpha=0.5))],
    "celu": [(F.celu, TF.celu), (lambda x: F.celu(x, alpha=2.0), lambda x: TF.celu(x, alpha=2.0))],
    "softplus": [
        (F.softplus, TF.softplus),
        (
            lambda x: F.softplus(x, beta=2.0, threshold=3.0),
            lambda x: TF.softplus(x, beta=2.0, threshold=3.0),
        ),
    ],
    "hardtanh": [
        (F.hardtanh, TF.hardtanh),
        (lambda x: F.hardtanh(x, -2.0, 0.5), lambda x: TF.hardtanh(x, -2.0, 0.5)),
    ],
}

# unary ops that keep the dtype (ints stay ints): name -> (ember fn, torch fn)
SAME_OPS = {
    "neg": (em.neg, torch.neg),
    "abs": (em.abs, torch.abs),
    "relu": (em.relu, torch.relu),
    "sign": (em.sign, torch.sign),
    "floor": (em.floor, torch.floor),
    "ceil": (em.ceil, torch.ceil),
    "trunc": (em.trunc, torch.trunc),
    "square": (em.square, torch.square),
}


def _float_entry(name, ref, domain, int_range, rtol):
    fn = getattr(em, name)
    method = getattr(em.Tensor, name)
    samples = [
        Sample(fn, (domain(3, 4),), lambda a: ref(t(a)), "2d", rtol=rtol),
        Sample(
            lambda a: method(a.T),
            (domain(5, 3),),
            lambda a: ref(t(a).T),
            "permuted-method",
            rtol=rtol,
        ),
        Sample(fn, (domain(0, 3),), lambda a: ref(t(a)), "size-0"),
        Sample(fn, (domain(),), lambda a: ref(t(a)), "0-d", rtol=rtol),
        Sample(fn, (domain(1, 1, 2),), lambda a: ref(t(a)), "size-1", rtol=rtol),
        Sample(fn, (randint(*int_range, 2, 3),), lambda a: ref(t(a)), "int-input", rtol=rtol),
    ]
    return OpInfo(name, samples, errors=[])


def _activation_entry(name, calls):
    samples = []
    for k, (efn, tfn) in enumerate(calls):
        tag = "default" if k == 0 else "args"
        samples += [
            Sample(efn, (_wide(4, 5),), lambda a, tfn=tfn: tfn(t(a)), tag),
            Sample(
                lambda a, efn=efn: efn(a.permute(1, 0)),
                (_wide(3, 2),),
                lambda a, tfn=tfn: tfn(t(a).permute(1, 0)),
                f"{tag}-permuted",
            ),
        ]
    efn, tfn = calls[0]
    samples += [
        Sample(efn, (_wide(0, 2),), lambda a: tfn(t(a)), "size-0"),
        Sample(efn, (_wide(),), lambda a: tfn(t(a)), "0-d"),
        # PyTorch rejects int inputs to most activations; ember computes them in float32
        Sample(efn, (randint(-4, 5, 2, 3),), lambda a: tfn(t(a).float()), "int-input"),
    ]
    return OpInfo(name, samples)


def _same_entry(name, efn, tfn):
    samples = [
        Sample(efn, (randn(3, 4, scale=3.0),), lambda a: tfn(t(a)), "2d"),
        Sample(
            lambda a: getattr(a.T, name)(),
            (randn(4, 3, scale=3.0),),
            lambda a: tfn(t(a).T),
            "permuted-method",
        ),
        Sample(efn, (randn(0, 3),), lambda a: tfn(t(a)), "size-0"),
        Sample(efn, (randn(),), lambda a: tfn(t(a)), "0-d"),
        Sample(efn, (randint(-5, 6, 2, 3),), lambda a: tfn(t(a)), "int-keeps-dtype"),
    ]
    return OpInfo(name, samples)


def _round_entry():
    x = randn(3, 4, scale=5.0)
    return OpInfo(
        "round",
        [
            Sample(em.round, (x,), lambda a: torch.round(t(a)), "default"),
            Sample(
                lambda a: a.round(decimals=2),
                (x,),
                lambda a: torch.round(t(a), decimals=2),
                "decimals-2",
                atol=1e-5,
            ),
            Sample(
                lambda a: em.round(a, decimals=-1),
                (x * 10,),
                lambda a: torch.round(t(a), decimals=-1),
                "decimals-neg",
                atol=1e-4,
            ),
            # halves round to even, as in PyTorch
            Sample(
                em.round,
                (np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32),),
                lambda a: torch.round(t(a)),
                "half-to-even",
                grad=False,
            ),  # kinks at .5
            Sample(em.round, (randint(-5, 6, 4),), lambda a: torch.round(t(a)), "int"),
        ],
    )


def _predicate_entry(name):
    fn = getattr(em, name)
    ref = getattr(torch, name)
    return OpInfo(
        name,
        [
            Sample(fn, (special_values(),), lambda a: ref(t(a)), "special-values"),
            Sample(
                lambda a: getattr(a.T, name)(),
                (special_values(),),
                lambda a: ref(t(a).T),
                "permuted",
            ),
            Sample(fn, (randint(-3, 3, 2, 3),), lambda a: ref(t(a)), "int"),
            Sample(fn, (randn(0, 2),), lambda a: ref(t(a)), "size-0"),
        ],
        differentiable=False,
    )


LOGICAL_NOT = OpInfo(
    "logical_not",
    [
        Sample(
            em.logical_not,
            (np.array([[True, False], [False, False]]),),
            lambda a: torch.logical_not(t(a)),
            "bool",
        ),
        Sample(lambda a: ~a, (np.array([True, False]),), lambda a: ~t(a), "invert-operator"),
        Sample(
            lambda a: a.logical_not(),
            (np.array([0.0, 1.5, -0.0, np.nan], np.float32),),
            lambda a: torch.logical_not(t(a)),
            "float",
        ),
        Sample(em.logical_not, (randint(-2, 3, 3, 2),), lambda a: torch.logical_not(t(a)), "int"),
    ],
    differentiable=False,
)


OP_DB = (
    [_float_entry(name, *spec) for name, spec in FLOAT_OPS.items()]
    + [_activation_entry(name, calls) for name, calls in ACTIVATIONS.items()]
    + [_same_entry(name, *spec) for name, spec in SAME_OPS.items()]
    + [_round_entry(), LOGICAL_NOT]
    + [_predicate_entry(name) for name in ("isnan", "isinf", "isfinite")]
)


def _raw(op):
    return lambda a: a.builder.emit(op, [a])[0]


# the functional API casts ints to float; the registry rule rejects ints that reach the op
for _info in OP_DB:
    if _info.op in FLOAT_OPS or _info.op in ACTIVATIONS and _info.op not in UNARY_ATTR_OPS:
        _info.errors.append(
            ErrorSample(
                _raw(_info.op),
                (randint(0, 3, 2),),
                DTypeError,
                rf"{_info.op}: expects a floating-point tensor, got int32",
            )
        )

# dtype-keeping ops on bool: PyTorch rejects all but sign (the bool itself) and square
# (squared as integers); JAX would otherwise change the dtype (relu) or refuse (neg)
_BOOLS = np.array([[True, False], [False, True]])
for _info in OP_DB:
    if _info.op in SAME_OPS or _info.op == "round":
        efn, tfn = getattr(em, _info.op), getattr(torch, _info.op)
        if _info.op in ("sign", "square"):
            _info.samples.append(
                Sample(efn, (_BOOLS,), lambda a, f=tfn: f(t(a)), "bool", grad=False)
            )
        else:
            _info.errors.append(
                ErrorSample(
                    efn, (_BOOLS,), DTypeError, rf"{_info.op}: does not accept a bool tensor"
                )
            )
