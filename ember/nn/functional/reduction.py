"""Reductions with PyTorch's `dim` / `keepdim` arguments."""

from __future__ import annotations

from collections import namedtuple

from ember.errors import UnsupportedOpError
from ember.frontend.tensor import tensor_method
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, dims_arg, emit, to_float

MaxMin = namedtuple("MaxMin", ["values", "indices"])  # torch.return_types.max/min


def _reduction(op: str, float_valued: bool = False):
    def fn(input, dim=None, keepdim: bool = False, *, dtype=None):
        x = as_tensor(input)
        if dtype is not None:  # PyTorch casts the input before reducing
            x = x.to(dtype)
        if float_valued:
            x = to_float(x)
        return emit(op, [x], dims=dims_arg(dim), keepdim=bool(keepdim))

    fn.__name__ = op
    fn.__doc__ = f"`torch.{op}(input, dim=None, keepdim=False)`."
    return fn


sum = tensor_method()(_reduction("sum"))  # noqa: A001
mean = tensor_method()(_reduction("mean", True))
prod = tensor_method()(_reduction("prod"))
amax = tensor_method()(_reduction("amax"))
amin = tensor_method()(_reduction("amin"))
logsumexp = tensor_method()(_reduction("logsumexp", True))
all = tensor_method()(_reduction("all"))  # noqa: A001
any = tensor_method()(_reduction("any"))  # noqa: A001


def _correction(unbiased, correction) -> float:
    if correction is not None:
        return float(correction)
    return 1.0 if unbiased in (None, True) else 0.0


@tensor_method()
def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    x = to_float(as_tensor(input))
    if dtypes.is_complex(x.dtype):  # PyTorch: the real part's variance plus the imaginary's
        re, im = emit("real", [x]), emit("imag", [x])
        return var(re, dim, unbiased, keepdim, correction=correction) + var(
            im, dim, unbiased, keepdim, correction=correction
        )
    return emit(
        "var",
        [x],
        dims=dims_arg(dim),
        keepdim=bool(keepdim),
        correction=_correction(unbiased, correction),
    )


@tensor_method()
def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    x = to_float(as_tensor(input))
    if dtypes.is_complex(x.dtype):
        return emit("sqrt", [var(x, dim, unbiased, keepdim, correction=correction)])
    return emit(
        "std",
        [x],
        dims=dims_arg(dim),
        keepdim=bool(keepdim),
        correction=_correction(unbiased, correction),
    )


_NORM_ORDS = {"fro": 2.0, "inf": float("inf"), "-inf": float("-inf")}


@tensor_method()
def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None):
    """`torch.norm`: vector p-norms over `dim` (all dims by default); 'fro' is the 2-norm."""
    x = as_tensor(input)
    x = to_float(x if dtype is None else x.to(dtype))
    if isinstance(p, str) and p not in _NORM_ORDS:
        raise x.builder.error(
            UnsupportedOpError(
                f"norm: p={p!r} is not supported; use p='fro', a number, inf or -inf"
            )
        )
    ord_ = _NORM_ORDS[p] if isinstance(p, str) else (2.0 if p is None else float(p))
    if dtypes.is_complex(x.dtype):  # the norm of the moduli
        x = emit("abs", [x])
    return emit("norm", [x], dims=dims_arg(dim), keepdim=bool(keepdim), ord=ord_)


def _extreme(op: str, reduce_op: str):
    def fn(input, dim=None, keepdim: bool = False):
        x = as_tensor(input)
        if dim is None:
            return emit(reduce_op, [x], dims=None, keepdim=False)
        if not isinstance(dim, int):  # torch.max(a, b) is elementwise maximum
            from ember.nn.functional.elementwise import maximum, minimum

            return (maximum if op == "max_dim" else minimum)(x, dim)
        values, indices = emit(op, [x], dim=int(dim), keepdim=bool(keepdim))
        return MaxMin(values, indices)

    fn.__name__ = reduce_op[1:]  # "max" / "min": the Tensor method name
    fn.__doc__ = (
        f"`torch.{fn.__name__}`: over all elements, (values, indices) along `dim`, "
        "or elementwise with a tensor `other`."
    )
    return fn


max = tensor_method()(_extreme("max_dim", "amax"))  # noqa: A001
min = tensor_method()(_extreme("min_dim", "amin"))  # noqa: A001


@tensor_method()
def argmax(input, dim=None, keepdim: bool = False):
    return emit("argmax", [as_tensor(input)], dim=dim, keepdim=bool(keepdim))


@tensor_method()
def argmin(input, dim=None, keepdim: bool = False):
    return emit("argmin", [as_tensor(input)], dim=dim, keepdim=bool(keepdim))


@tensor_method()
def cumsum(input, dim: int, *, dtype=None):
    x = as_tensor(input)
    x = x.to(dtype) if dtype is not None else x
    return emit("cumsum", [x], dim=int(dim))


@tensor_method()
def cumprod(input, dim: int, *, dtype=None):
    x = as_tensor(input)
    x = x.to(dtype) if dtype is not None else x
    return emit("cumprod", [x], dim=int(dim))
