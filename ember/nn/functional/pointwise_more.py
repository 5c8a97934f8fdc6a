"""Elementwise functions composed from existing ops: `frac`, `signbit`, `copysign`,
`heaviside`, `hypot`, `logaddexp`, `logaddexp2`, `float_power`, `addcmul`, `addcdiv`,
`gcd`, `lcm`."""

from __future__ import annotations

import math

from ember.errors import DTypeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional import elementwise as E
from ember.nn.functional._core import (
    as_tensor,
    cast,
    is_scalar,
    promote_all,
    promote_pair,
    to_float,
)
from ember.nn.functional.control_flow import while_loop

__all__ = [
    "frac",
    "signbit",
    "copysign",
    "heaviside",
    "hypot",
    "logaddexp",
    "logaddexp2",
    "float_power",
    "addcmul",
    "addcdiv",
    "gcd",
    "lcm",
]


def _floating(name: str, *xs: Tensor) -> None:
    for x in xs:
        if not dtypes.is_floating(x.dtype):
            raise x.builder.error(
                DTypeError(
                    f"{name}: expects floating-point tensors, got {x.dtype} (as PyTorch); "
                    "fix: cast with .float()"
                )
            )


@tensor_method()
def frac(input) -> Tensor:
    """`torch.frac`: `input - trunc(input)` (keeps the sign); floating inputs only."""
    x = as_tensor(input)
    _floating("frac", x)
    return x - E.trunc(x)


@tensor_method()
def signbit(input) -> Tensor:
    """`torch.signbit`: True where the sign bit is set, -0.0 included (bool).

    Without a bitcast op the sign of a NaN cannot be read: NaNs give False.
    """
    x = as_tensor(input)
    if not dtypes.is_floating(x.dtype):
        return x != x if x.dtype == "bool" else x < 0  # all False for bool
    return (x < 0) | ((x == 0) & (E.reciprocal(x) < 0))


@tensor_method()
def copysign(input, other) -> Tensor:
    """`torch.copysign`: |input| with the sign of `other` (-0.0 counts as negative);
    integer inputs give the default float.

    >>> em.copysign(em.tensor([1.0, 2.0]), -1)       # [-1, -2]
    """
    a, b = promote_pair(input, other)
    a, b = to_float(a), to_float(b)
    magnitude = E.abs(a)
    return E.where(signbit(b), -magnitude, magnitude)


@tensor_method()
def heaviside(input, values) -> Tensor:
    """`torch.heaviside`: 0 where input < 0, `values` where it is 0, 1 where > 0 (NaN
    gives 0); input and values must have the same dtype (a Python scalar takes input's)."""
    x = as_tensor(input)
    v = as_tensor(values, x.builder, dtype=x.dtype)
    if v.dtype != x.dtype:
        raise x.builder.error(
            DTypeError(
                f"heaviside: input ({x.dtype}) and values ({v.dtype}) must have the same dtype"
            )
        )
    one = E.where(x > 0, 1, 0).to(x.dtype)
    return E.where(x == 0, v, one)


@tensor_method()
def hypot(input, other) -> Tensor:
    """`torch.hypot`: `sqrt(input² + other²)` without overflow (scaled by the larger
    magnitude; inf beats NaN, as in C); floating inputs only."""
    a, b = promote_pair(input, other)
    _floating("hypot", a, b)
    a, b = E.abs(a), E.abs(b)
    big, small = E.maximum(a, b), E.minimum(a, b)
    ratio = small / E.where(big == 0, 1, big)
    out = big * E.sqrt(1 + ratio * ratio)
    return E.where(E.isinf(a) | E.isinf(b), math.inf, out)


def _logaddexp(name: str, input, other, exp, log1p_scale: float) -> Tensor:
    a, b = promote_pair(input, other)
    _floating(name, a, b)
    big = E.maximum(a, b)
    same = a == b  # equal infinities: their difference is NaN
    delta = E.where(same, 0, a - b)
    out = big + E.log1p(exp(-E.abs(delta))) * log1p_scale
    return E.where(same & E.isinf(a), a, out)


@tensor_method()
def logaddexp(input, other) -> Tensor:
    """`torch.logaddexp`: `log(exp(input) + exp(other))`, stable; floating inputs only."""
    return _logaddexp("logaddexp", input, other, E.exp, 1.0)


@tensor_method()
def logaddexp2(input, other) -> Tensor:
    """`torch.logaddexp2`: `log2(2**input + 2**other)`, stable; floating inputs only."""
    return _logaddexp("logaddexp2", input, other, E.exp2, 1.0 / math.log(2.0))


@tensor_method()
def float_power(input, exponent) -> Tensor:
    """`torch.float_power`: `pow` computed in float64.

    float64 is ember's effective float64: float32 unless JAX's x64 mode is on.
    """

    def f64(v):
        return float(v) if is_scalar(v) else cast(as_tensor(v), "float64")

    x, e = f64(input), f64(exponent)
    if isinstance(x, float):
        x = as_tensor(x, e.builder, dtype=e.dtype)
    return E.pow(x, e)


@tensor_method()
def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
    """`torch.addcmul`: `input + value * tensor1 * tensor2` (all three promoted)."""
    x, t1, t2 = promote_all(input, tensor1, tensor2)
    prod = t1 * t2
    return x + (prod if value == 1 else prod * value)


@tensor_method()
def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
    """`torch.addcdiv`: `input + value * tensor1 / tensor2`; integer division is refused,
    as in PyTorch."""
    x, t1, t2 = promote_all(input, tensor1, tensor2)
    kinds = (_operand_dtype(tensor1), _operand_dtype(tensor2))
    if not any(dtypes.is_floating(k) for k in kinds):
        raise x.builder.error(
            DTypeError(
                "addcdiv: integer division is not supported (as PyTorch); fix: cast tensor1 "
                "or tensor2 to float"
            )
        )
    quotient = t1 / t2
    return x + (quotient if value == 1 else quotient * value)


def _operand_dtype(v) -> str:
    return v.dtype if isinstance(v, Tensor) else dtypes.scalar_dtype(v)


def _integers(name: str, input, other) -> tuple[Tensor, Tensor]:
    a, b = promote_pair(input, other)
    if not dtypes.is_integer(a.dtype):
        raise a.builder.error(
            DTypeError(f"{name}: expects integer tensors, got {a.dtype} (as PyTorch)")
        )
    return a, b


@tensor_method()
def gcd(input, other) -> Tensor:
    """`torch.gcd`: the non-negative greatest common divisor (gcd(0, 0) = 0), by Euclid's
    algorithm in an `em.while_loop` (not differentiable; integers only).

    >>> em.gcd(em.tensor([12, -9, 0]), em.tensor([18, 6, 5]))   # [6, 3, 5]
    """
    a, b = _integers("gcd", input, other)
    shape = tuple(E.add(a, b).shape)
    a, b = E.abs(a).expand(*shape), E.abs(b).expand(*shape)

    def step(carry):
        x, y = carry
        nonzero = y != 0
        return E.where(nonzero, y, x), E.where(nonzero, E.remainder(x, E.where(nonzero, y, 1)), 0)

    out, _ = while_loop(lambda c: E.ne(c[1], 0).any(), step, (a, b))
    return out


@tensor_method()
def lcm(input, other) -> Tensor:
    """`torch.lcm`: the non-negative least common multiple (0 if either is 0)."""
    a, b = _integers("lcm", input, other)
    g = gcd(a, b)
    out = E.abs(E.floor_divide(a, E.where(g == 0, 1, g)) * b)
    return E.where(g == 0, 0, out).to(a.dtype)
