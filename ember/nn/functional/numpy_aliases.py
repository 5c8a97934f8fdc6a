"""PyTorch's NumPy-style aliases of existing ops: `absolute`, `arccos`, `arcsin`,
`arctan`, `arccosh`, `arcsinh`, `arctanh`, `arctan2`, `negative`, `positive`, `fix`,
`sgn`, `multiply`, `true_divide`, `deg2rad`, `rad2deg`, `isreal`."""

from __future__ import annotations

import math

from ember.errors import DTypeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional import elementwise as E
from ember.nn.functional._core import as_tensor, to_float
from ember.nn.functional.creation import ones_like

__all__ = [
    "absolute",
    "arccos",
    "arcsin",
    "arctan",
    "arccosh",
    "arcsinh",
    "arctanh",
    "arctan2",
    "negative",
    "positive",
    "fix",
    "sgn",
    "multiply",
    "true_divide",
    "deg2rad",
    "rad2deg",
    "isreal",
]


def _alias(name: str, target, doc: str):
    def fn(*args, **kwargs):
        return target(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return tensor_method()(fn)


absolute = _alias("absolute", E.abs, "`torch.absolute`: an alias of `abs`.")
arccos = _alias("arccos", E.acos, "`torch.arccos`: an alias of `acos`.")
arcsin = _alias("arcsin", E.asin, "`torch.arcsin`: an alias of `asin`.")
arctan = _alias("arctan", E.atan, "`torch.arctan`: an alias of `atan`.")
arccosh = _alias("arccosh", E.acosh, "`torch.arccosh`: an alias of `acosh`.")
arcsinh = _alias("arcsinh", E.asinh, "`torch.arcsinh`: an alias of `asinh`.")
arctanh = _alias("arctanh", E.atanh, "`torch.arctanh`: an alias of `atanh`.")
arctan2 = _alias("arctan2", E.atan2, "`torch.arctan2`: an alias of `atan2(input, other)`.")
negative = _alias("negative", E.neg, "`torch.negative`: an alias of `neg`.")
fix = _alias("fix", E.trunc, "`torch.fix`: an alias of `trunc` (round towards zero).")


@tensor_method()
def sgn(input) -> Tensor:
    """`torch.sgn`: `sign` of reals; `z / |z|` of complex numbers (0 at 0)."""
    x = as_tensor(input)
    if not dtypes.is_complex(x.dtype):
        return E.sign(x)
    modulus = E.abs(x)
    return x / E.where(modulus == 0, math.inf, modulus)  # 0 / inf: 0, the gradient too


multiply = _alias("multiply", E.mul, "`torch.multiply`: an alias of `mul`.")
true_divide = _alias("true_divide", E.div, "`torch.true_divide`: `div` without rounding.")


@tensor_method()
def positive(input) -> Tensor:
    """`torch.positive`: the input itself; bool tensors are refused, as in PyTorch."""
    x = as_tensor(input)
    if x.dtype == "bool":
        raise x.builder.error(DTypeError("positive: the unary + is not supported on a bool tensor"))
    return x


@tensor_method()
def deg2rad(input) -> Tensor:
    """`torch.deg2rad`: degrees to radians (integer inputs give the default float)."""
    return to_float(as_tensor(input)) * (math.pi / 180.0)


@tensor_method()
def rad2deg(input) -> Tensor:
    """`torch.rad2deg`: radians to degrees (integer inputs give the default float)."""
    return to_float(as_tensor(input)) * (180.0 / math.pi)


@tensor_method()
def isreal(input) -> Tensor:
    """`torch.isreal`: True where the imaginary part is 0 (everywhere for real tensors)."""
    x = as_tensor(input)
    if dtypes.is_complex(x.dtype):
        return x.imag == 0
    return ones_like(x, dtype="bool")
