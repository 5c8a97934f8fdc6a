"""Elementwise functions and Tensor operators (PyTorch names and promotion)."""

from __future__ import annotations

import numpy as np

from ember.errors import DTypeError, TraceError
from ember.frontend.host_arrays import frozen
from ember.frontend.lazy import leaf
from ember.frontend.tensor import Tensor, tensor_method
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.graphdef.ops.elementwise import FLOAT_UNARY, PREDICATES, SAME_UNARY
from ember.nn.functional._core import (
    active_builder,
    as_tensor,
    cast,
    constant,
    emit,
    is_scalar,
    promote_all,
    promote_pair,
    to_float,
)

# activations with PyTorch signatures (inplace=...) are exported from activation.py
__internal__ = (
    "add_",
    "sub_",
    "true_divide",
    "relu",
    "relu6",
    "selu",
    "silu",
    "mish",
    "softsign",
    "hardswish",
    "hardsigmoid",
    "logsigmoid",
)

_module = globals()


def _make_unary(op: str, float_valued: bool):
    def fn(input, **attrs):
        x = as_tensor(input)
        return emit(op, [to_float(x) if float_valued else x], **attrs)

    fn.__name__ = op
    fn.__doc__ = f"Elementwise `{op}` (like `torch.{op}`)."
    return fn


# parameterized activations have their own signatures in activation.py
_PLAIN_FLOAT = [
    n
    for n in FLOAT_UNARY
    if n not in ("leaky_relu", "elu", "celu", "softplus", "hardtanh", "gelu", "gelu_tanh")
]
for _op in _PLAIN_FLOAT:
    _module[_op] = tensor_method(_op)(_make_unary(_op, True))
for _op in SAME_UNARY:
    if _op not in ("round", "square"):
        _module[_op] = tensor_method(_op)(_make_unary(_op, False))
for _op in PREDICATES:
    _module[_op] = tensor_method(_op)(_make_unary(_op, False))


@tensor_method()
def round(input, decimals: int = 0):  # noqa: A001 (PyTorch's name)
    return emit("round", [as_tensor(input)], decimals=int(decimals))


@tensor_method()
def square(input):
    """Elementwise `square` (like `torch.square`); a bool tensor squares as integers."""
    x = as_tensor(input)
    return emit("square", [cast(x, dtypes.DEFAULT_INT) if x.dtype == "bool" else x])


def _binary(op: str, result: str = "same"):
    def fn(input, other):
        a, b = promote_pair(input, other)
        if result == "float":
            a, b = to_float(a), to_float(b)
        return emit(op, [a, b])

    fn.__name__ = op
    return fn


add_ = _binary("add")
sub_ = _binary("sub")
mul = tensor_method("mul", "multiply")(_binary("mul"))
true_divide = _binary("div", "float")
maximum = tensor_method()(_binary("maximum"))
minimum = tensor_method()(_binary("minimum"))
fmod = tensor_method()(_binary("fmod"))
remainder = tensor_method()(_binary("remainder"))
atan2 = tensor_method()(_binary("atan2", "float"))
floor_divide = tensor_method()(_binary("floor_divide"))
eq = tensor_method()(_binary("eq"))
ne = tensor_method()(_binary("ne"))
lt = tensor_method()(_binary("lt"))
le = tensor_method()(_binary("le"))
gt = tensor_method()(_binary("gt"))
ge = tensor_method()(_binary("ge"))
logical_and = tensor_method()(_binary("logical_and"))
logical_or = tensor_method()(_binary("logical_or"))
logical_xor = tensor_method()(_binary("logical_xor"))
bitwise_and = tensor_method()(_binary("bitwise_and"))
bitwise_or = tensor_method()(_binary("bitwise_or"))
bitwise_xor = tensor_method()(_binary("bitwise_xor"))
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


@tensor_method()
def add(input, other, *, alpha=1):
    return add_(input, other if alpha == 1 else mul(other, alpha))


@tensor_method()
def sub(input, other, *, alpha=1):
    return sub_(input, other if alpha == 1 else mul(other, alpha))


subtract = sub


@tensor_method("div", "divide")
def div(input, other, *, rounding_mode: str | None = None):
    if rounding_mode is None:
        return true_divide(input, other)
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(
            f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}"
        )
    a, b = promote_pair(input, other)
    if rounding_mode == "floor":
        return emit("floor_divide", [a, b])
    if dtypes.is_floating(a.dtype):
        return trunc(true_divide(a, b))  # noqa: F821 (defined above)
    # integers: truncate toward zero without a float round trip
    q = emit("floor_divide", [abs(a), abs(b)])
    return where(logical_xor(a < 0, b < 0), -q, q)


divide = div


@tensor_method()
def pow(input, exponent):  # noqa: A001
    if is_scalar(exponent) and isinstance(input, Tensor):
        if exponent == 2:
            return emit("mul", [input, input])
        a, b = promote_pair(input, exponent)
        return emit("pow", [a, b])
    a, b = promote_pair(input, exponent)
    return emit("pow", [a, b])


@tensor_method("clamp", "clip")
def clamp(input, min=None, max=None):  # noqa: A002
    """`torch.clamp`: bounds may be numbers or tensors; min > max gives max, as in PyTorch."""
    x = as_tensor(input)
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if min is None:
        return minimum(x, max)
    if max is None:
        return maximum(x, min)
    return emit("clamp", promote_all(x, min, max))


@tensor_method()
def clamp_min(input, min):  # noqa: A002
    return clamp(input, min=min)


@tensor_method()
def clamp_max(input, max):  # noqa: A002
    return clamp(input, max=max)


clip = clamp


@tensor_method()
def where(condition, input=None, other=None):
    """`torch.where(condition, input, other)`; numbers are weakly typed like other operands."""
    builder = active_builder(condition, input, other)
    if input is None and other is None and current_builder() is None:
        from ember.nn.functional.data_dependent import nonzero  # (it imports this module)

        return nonzero(condition, as_tuple=True)  # torch.where(cond): known values
    if input is None or other is None:
        raise builder.error(
            TraceError(
                "where(condition) with one argument (like nonzero) has a data-dependent shape; "
                "fix: "
                "use where(condition, input, other), or a mask in a reduction"
            )
        )
    cond = as_tensor(condition, builder)
    if cond.dtype != "bool":
        cond = cast(cond, "bool")
    a, b = promote_pair(input, other)
    return emit("where", [cond, a, b])


@tensor_method()
def lerp(input, end, weight):
    a, b = promote_pair(input, end)
    w = weight if isinstance(weight, Tensor) else constant(a.builder, weight, a.dtype)
    if not dtypes.is_floating(a.dtype):
        raise a.builder.error(DTypeError(f"lerp: expects floating-point tensors, got {a.dtype}"))
    return emit("lerp", [a, b, cast(w, a.dtype)])


@tensor_method()
def nan_to_num(input, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
    return emit("nan_to_num", [as_tensor(input)], nan=float(nan), posinf=posinf, neginf=neginf)


@tensor_method()
def stop_gradient(input):
    return emit("stop_gradient", [as_tensor(input)])


@tensor_method()
def bitwise_not(input):
    return emit("bitwise_not", [as_tensor(input)])


@tensor_method("to")
def to(input, *args, dtype=None, **kwargs):
    """`x.to(dtype)`; device arguments are accepted and ignored (XLA places data)."""
    for a in args:
        if isinstance(a, str) and a in dtypes.ALL or hasattr(a, "dtype") and not isinstance(a, str):
            dtype = a if isinstance(a, str) else a.dtype
        elif isinstance(a, str) and a in ("float", "double", "half", "long", "int"):
            dtype = a
    return input if dtype is None else cast(as_tensor(input), dtypes.canonical(dtype))


def _cast_method(name: str, dtype: str):
    tensor_method(name)(lambda self: cast(self, dtype))


for _name, _dt in (
    ("float", "float32"),
    ("double", "float64"),
    ("half", "float16"),
    ("bfloat16", "bfloat16"),
    ("long", "int64"),
    ("int", "int32"),
    ("bool", "bool"),
):
    _cast_method(_name, _dt)


@tensor_method()
def type_as(input, other):
    return cast(input, other.dtype)


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _index_arithmetic(fn, host):
    """`i + block_size` on a concrete 0-d integer host tensor (a loop's `for i in ix`)
    computes on the host: a slice bound (`data[i : i + 8]`) then needs no program."""

    def method(self, other):
        value = self.value
        if (
            type(other) is int
            and not value.type.shape
            and type(getattr(value, "data", None)) is np.ndarray
            and value.type.dtype in ("int32", "int64")
        ):
            return leaf(frozen(np.asarray(host(value.data, other), dtype=value.data.dtype)))
        return fn(self, other)

    return method


Tensor.__add__ = _index_arithmetic(add, lambda a, b: a + b)
Tensor.__radd__ = _index_arithmetic(_reflected(add), lambda a, b: b + a)
Tensor.__sub__ = _index_arithmetic(sub, lambda a, b: a - b)
Tensor.__rsub__ = _index_arithmetic(_reflected(sub), lambda a, b: b - a)
Tensor.__mul__ = mul
Tensor.__rmul__ = _reflected(mul)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _reflected(div)
Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = _reflected(floor_divide)
Tensor.__mod__ = remainder
Tensor.__rmod__ = _reflected(remainder)
Tensor.__pow__ = pow
Tensor.__rpow__ = _reflected(pow)
Tensor.__neg__ = lambda self: emit("neg", [self])
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: emit("abs", [self])
Tensor.__eq__ = eq
Tensor.__ne__ = ne
Tensor.__lt__ = lt
Tensor.__le__ = le
Tensor.__gt__ = gt
Tensor.__ge__ = ge
# on bool tensors the bitwise ops are the logical ones, as in PyTorch
Tensor.__and__ = bitwise_and
Tensor.__or__ = bitwise_or
Tensor.__xor__ = bitwise_xor
Tensor.__rand__ = _reflected(bitwise_and)
Tensor.__ror__ = _reflected(bitwise_or)
Tensor.__rxor__ = _reflected(bitwise_xor)
Tensor.__invert__ = lambda a: emit("logical_not" if a.dtype == "bool" else "bitwise_not", [a])
