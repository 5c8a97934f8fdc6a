"""Elementwise ops: unary math, binary arithmetic, comparisons, where, casts.

Binary ops take operands of one dtype (the tracer inserts `convert` for
promotion) and broadcast their shapes like PyTorch.
"""

from __future__ import annotations

from ember.errors import DTypeError
from ember.graphdef import dtypes
from ember.graphdef.dtypes import INTS as INTEGER
from ember.graphdef.ops.common import broadcast_shapes, require_float, same_dtype
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType

# float-valued unary ops: integer inputs are cast to float by the tracer
FLOAT_UNARY = (
    "exp",
    "exp2",
    "log",
    "log2",
    "log10",
    "log1p",
    "expm1",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sigmoid",
    "erf",
    "erfc",
    "reciprocal",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "erfinv",
    "lgamma",
    "digamma",
    "relu6",
    "gelu",
    "gelu_tanh",
    "silu",
    "mish",
    "softplus",
    "elu",
    "selu",
    "celu",
    "leaky_relu",
    "hardtanh",
    "hardswish",
    "hardsigmoid",
    "logsigmoid",
    "softsign",
)
# the float-valued unary ops PyTorch also defines on complex numbers (holomorphic, so
# gradients through them back to real tensors agree with PyTorch's)
COMPLEX_UNARY = frozenset(
    (
        "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos",
        "tan", "tanh", "sigmoid", "reciprocal", "asin", "acos", "atan", "sinh", "cosh",
        "asinh", "acosh", "atanh",
    )
)  # fmt: skip
# unary ops that keep the input dtype
SAME_UNARY = ("neg", "abs", "relu", "sign", "floor", "ceil", "round", "trunc", "square")
PREDICATES = ("isnan", "isinf", "isfinite", "logical_not")

ARITHMETIC = (
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "maximum",
    "minimum",
    "fmod",
    "remainder",
    "atan2",
    "floor_divide",
)
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor")
BITWISE = ("bitwise_and", "bitwise_or", "bitwise_xor")

# per-op attrs of parameterized activations
UNARY_ATTRS = {
    "leaky_relu": {"negative_slope": "float"},
    "elu": {"alpha": "float"},
    "celu": {"alpha": "float"},
    "softplus": {"beta": "float", "threshold": "float"},
    "hardtanh": {"min_val": "float", "max_val": "float"},
    "round": {"decimals": "int"},
}


def _float_unary(op):
    def infer(types, **attrs):
        if op in COMPLEX_UNARY and dtypes.is_complex(types[0].dtype):
            return [types[0]]
        require_float(op, types[0])
        return [types[0]]

    return infer


def _same(types, **attrs):
    return [types[0]]


def _numeric_unary(op):
    """Dtype-keeping unary ops reject bool as PyTorch does (JAX would change or refuse
    the dtype); `sign` of a bool is the bool itself."""

    def infer(types, **attrs):
        if types[0].dtype == "bool" and op != "sign":
            raise DTypeError(
                f"{op}: does not accept a bool tensor (shape {types[0].shape}); fix: cast "
                "with .int() or .float() first"
            )
        if dtypes.is_complex(types[0].dtype):
            if op == "abs":
                return [TensorType(types[0].shape, dtypes.real_part(types[0].dtype))]
            if op not in ("neg", "square"):
                raise DTypeError(
                    f"{op}: ember does not take complex tensors here (shape "
                    f"{types[0].shape}); fix: apply it to .real / .imag, or use abs"
                )
        return [types[0]]

    return infer


def _predicate(types, **attrs):
    return [TensorType(types[0].shape, "bool")]


_ORDERED = ("lt", "le", "gt", "ge", "maximum", "minimum", "fmod", "remainder", "atan2")


def _binary(op, result_dtype=None):
    def infer(types, **attrs):
        dtype = same_dtype(op, types)
        if op in _ORDERED and dtypes.is_complex(dtype):
            raise DTypeError(
                f"{op}: complex numbers have no order (shapes {types[0].shape} and "
                f"{types[1].shape}); fix: compare .abs() or .real"
            )
        shape = broadcast_shapes(types[0].shape, types[1].shape)
        return [TensorType(shape, result_dtype or dtype)]

    return infer


def _bitwise(op):
    infer = _binary(op)

    def check(types, **attrs):
        for t in types:
            if t.dtype not in ("bool", *INTEGER):
                raise DTypeError(
                    f"{op}: expects integer or bool tensors, got {t.dtype} with shape "
                    f"{t.shape}; fix: use logical_and/or/xor, or cast with .int()"
                )
        return infer(types, **attrs) if len(types) == 2 else [types[0]]

    return check


def _where(types, **attrs):
    cond, a, b = types
    if cond.dtype != "bool":
        raise DTypeError(f"where: condition must be bool, got {cond.dtype}")
    dtype = same_dtype("where", [a, b])
    return [TensorType(broadcast_shapes(cond.shape, a.shape, b.shape), dtype)]


def _convert(types, dtype):
    return [TensorType(types[0].shape, dtype)]


def _clamp(types, **attrs):
    dtype = same_dtype("clamp", types)
    return [TensorType(broadcast_shapes(*(t.shape for t in types)), dtype)]


def _lerp(types, **attrs):
    dtype = same_dtype("lerp", types)
    return [TensorType(broadcast_shapes(*(t.shape for t in types)), dtype)]


for _name in FLOAT_UNARY:
    register_op(_name, _float_unary(_name), attrs=UNARY_ATTRS.get(_name, {}))
for _name in SAME_UNARY:
    register_op(_name, _numeric_unary(_name), attrs=UNARY_ATTRS.get(_name, {}))
for _name in PREDICATES:
    register_op(_name, _predicate, differentiable=False)
for _name in ARITHMETIC:
    register_op(_name, _binary(_name), num_inputs=2)
for _name in COMPARISONS:
    register_op(_name, _binary(_name, "bool"), num_inputs=2, differentiable=False)
for _name in BITWISE:
    register_op(_name, _bitwise(_name), num_inputs=2, differentiable=False)
register_op("bitwise_not", _bitwise("bitwise_not"), differentiable=False)
# torch.special.ndtri (not in F): its own op, since sqrt(2) * erfinv(2p - 1) loses the tails
register_op("ndtri", _float_unary("ndtri"))
register_op("where", _where, num_inputs=3)
register_op("convert", _convert, attrs={"dtype": "dtype"})
register_op("clamp", _clamp, num_inputs=3, doc="clamp(x, min, max), bounds as tensors")
register_op("lerp", _lerp, num_inputs=3)
register_op("nan_to_num", _same, attrs={"nan": "float", "posinf": "float?", "neginf": "float?"})
register_op("stop_gradient", _same, differentiable=False)  # blocks gradients
