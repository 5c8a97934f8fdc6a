"""`out=`: PyTorch's tensor functions write their result into a given tensor.

`torch.add(x, y, out=result)`, `torch.matmul(a, b, out=c)` (the 60-minute blitz's
first pages). ember's functions compute a new value; `accepting_out` wraps a function
of the `ember` namespace so that `out=` rebinds that tensor to the result (resized to
the result's shape, as PyTorch does), a tuple `out=` one tensor per result.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ember.frontend.tensor import Tensor


def accepting_out(fn: Callable) -> Callable:
    """`fn`, also accepting `out=`; `fn` itself when it takes `out` (or `**kwargs`)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    if "out" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn

    @functools.wraps(fn)
    def with_out(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        return result if out is None else write_out(out, result, fn.__name__)

    return with_out


def write_out(out: Any, result: Any, name: str) -> Any:
    if isinstance(out, Tensor) and isinstance(result, Tensor):
        return out._assign(result, new_shape=True)
    if isinstance(out, (tuple, list)) and isinstance(result, (tuple, list)):
        if len(out) == len(result):
            return type(out)(write_out(o, r, name) for o, r in zip(out, result, strict=True))
    raise TypeError(
        f"{name}(..., out=...): out must be a tensor (or a tuple of tensors, one per result) "
        f"matching what {name} returns; got {type(out).__name__}"
    )
