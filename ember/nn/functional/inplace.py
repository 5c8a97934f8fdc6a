"""PyTorch's in-place methods (`add_`, `zero_`, `copy_`, `x[idx] = v`, `+=`, ...).

Each is the out-of-place op followed by a rebind of the tensor to the result
(`Tensor._assign`), which also writes back to the owner of a bound tensor
(`param.data.fill_(0)` updates the parameter; `module.running_mean.zero_()` the
buffer). Rebinding is how in-place updates stay functional for XLA. A view
(`x[0]`, `x.view(...)`, `x.t()`) writes its updates through to the tensor it came
from (views.py). Like PyTorch, modifying a leaf that requires grad needs
`with em.no_grad():`.
"""

from __future__ import annotations

from ember.frontend.lazy import RECORDER
from ember.frontend.tensor import Tensor
from ember.nn.functional import elementwise as E
from ember.nn.functional._core import as_tensor
from ember.nn.functional.creation import full_like, scalar_leaf, zeros_like
from ember.nn.functional.host_writes import write_on_host
from ember.nn.functional.indexing import _select

__all__: list[str] = []


def _inplace(name: str, fn) -> None:
    def method(self, *args, **kwargs):
        return self._assign(fn(self, *args, **kwargs))

    method.__name__ = name
    method.__doc__ = f"In-place `{name[:-1]}`: rebinds this tensor (and its owner) to the result."
    setattr(Tensor, name, method)


_OUT_OF_PLACE = [
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "clamp",
    "clamp_min",
    "clamp_max",
    "abs",
    "neg",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "relu",
    "sigmoid",
    "tanh",
    "floor",
    "ceil",
    "round",
    "trunc",
    "sign",
    "reciprocal",
    "square",
    "masked_fill",
    "index_put",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "index_add",
    "lerp",
    "addcmul",
    "addcdiv",
    "fmod",
    "remainder",
    "sin",
    "cos",
    "log1p",
    "expm1",
    "exp2",
    "erf",
    "clip",
    "copysign",
    "atan2",
    "hypot",
    "logical_not",
    "bitwise_not",
    "float_power",
    "nan_to_num",
    "tril",
    "triu",
    "fix",
    "frac",
    "sinh",
    "cosh",
    "tan",
    "asin",
    "acos",
    "atan",
    "sigmoid",
    "true_divide",
    "multiply",
    "subtract",
    "divide",
    "maximum",
    "minimum",
    # tensor_functions_more: the families vector_products, axes, indexed_updates, ...
    "addmv",
    "addr",
    "addbmm",
    "index_copy",
    "index_fill",
    "heaviside",
    "renorm",
    "gcd",
    "lcm",
    "deg2rad",
    "rad2deg",
    "negative",
    "absolute",
    "arccos",
    "arcsin",
    "arctan",
    "arccosh",
    "arcsinh",
    "arctanh",
    "arctan2",
    "sgn",
]
for _name in _OUT_OF_PLACE:
    _fn = getattr(Tensor, _name, None)
    if _fn is not None and not hasattr(Tensor, _name + "_"):
        _inplace(_name + "_", _fn)


def _inplace_reshaping(name: str, fn) -> None:
    def method(self, *args, **kwargs):
        return self._assign(fn(self, *args, **kwargs), new_shape=True)

    method.__name__ = name
    method.__doc__ = f"In-place `{name[:-1]}`: rebinds this tensor to the result (a new shape)."
    setattr(Tensor, name, method)


# in-place ops that change the shape (`x.unsqueeze_(0)`, `x.t_()`)
for _name in ("unsqueeze", "squeeze", "transpose", "t", "swapaxes", "swapdims", "resize"):
    _fn = getattr(Tensor, _name, None)
    if _fn is not None and not hasattr(Tensor, _name + "_"):
        _inplace_reshaping(_name + "_", _fn)


def _zero_(self) -> Tensor:
    return self._assign(zeros_like(self))


def _fill_(self, value) -> Tensor:
    if isinstance(value, Tensor):
        return self._assign(full_like(self, 0) + value.to(self.dtype))
    if self._lazy():  # outside a trace the value is data: a sampling loop's
        # `inp.fill_(word_id)` reuses one program instead of compiling one per value
        scalar = scalar_leaf(value, self.dtype)
        return self._assign(scalar.expand(*self.shape))
    return self._assign(full_like(self, value))


def _copy_(self, src, non_blocking: bool = False) -> Tensor:
    """`x.copy_(src)`: src cast to x's dtype and broadcast to its shape, as a new value:
    two slots must never hold one array (a step that donates one would free the other,
    as in the target-network update `target_p.data.copy_(p)`)."""
    value = as_tensor(src).to(self.dtype)
    if tuple(value.shape) != tuple(self.shape):
        value = value.expand(*self.shape)
    return self._assign(E.where(True, value, value))


Tensor.zero_ = _zero_
Tensor.fill_ = _fill_
Tensor.copy_ = _copy_
Tensor.__iadd__ = lambda self, other: self._assign(self + other)
Tensor.__isub__ = lambda self, other: self._assign(self - other)
Tensor.__imul__ = lambda self, other: self._assign(self * other)
Tensor.__itruediv__ = lambda self, other: self._assign(self / other)
Tensor.__ifloordiv__ = lambda self, other: self._assign(self // other)
Tensor.__ipow__ = lambda self, other: self._assign(self**other)
Tensor.__imod__ = lambda self, other: self._assign(self % other)
Tensor.__iand__ = lambda self, other: self._assign(self & other)
Tensor.__ior__ = lambda self, other: self._assign(self | other)
Tensor.__ixor__ = lambda self, other: self._assign(self ^ other)


def setitem(x: Tensor, index, value) -> None:
    """`x[index] = value`: the positions `index` selects are overwritten (functional scatter)."""
    if x.builder is RECORDER and write_on_host(x, index, value, _select):
        return
    from ember.nn.functional.creation import arange
    from ember.nn.functional.shape import broadcast_to, reshape

    if isinstance(index, Tensor) and index.dtype == "bool" and index.shape == x.shape:
        v = as_tensor(value).to(x.dtype)
        if v.numel() == 1 or v.shape == x.shape:  # also in a trace: no data-dependent shape
            x._assign(E.where(index, v, x))
            return
        # one value per selected position (`x[mask] = values`): the mask must be concrete
    positions = reshape(arange(x.numel()), x.shape)[index]
    src = broadcast_to(as_tensor(value).to(x.dtype), positions.shape)
    flat = reshape(x, (x.numel(),))
    n = positions.numel()
    updated = flat.scatter(0, reshape(positions, (n,)), reshape(src, (n,)))
    x._assign(reshape(updated, x.shape))


Tensor.__setitem__ = setitem
