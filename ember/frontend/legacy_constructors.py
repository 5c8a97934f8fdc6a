"""PyTorch's legacy tensor constructors: `torch.Tensor(2, 3)` (through `Tensor`'s
metaclass), `torch.FloatTensor(data)`, `torch.LongTensor(...)`, ... (old code, e.g.
`nn.Parameter(torch.Tensor(n_in, n_out))` followed by an init)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_size(args) -> bool:
    return all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args)


def legacy_tensor(args: tuple, dtype: str = "float32") -> Any:
    """PyTorch's legacy constructors: `torch.Tensor(2, 3)` / `torch.Tensor(torch.Size([2, 3]))`
    (uninitialized in PyTorch; zeros here), `torch.Tensor(data)` (a copy, as float32),
    `torch.Tensor()` (empty); `torch.FloatTensor(...)`, `torch.LongTensor(...)` with their
    dtypes."""
    from ember.frontend.size import Size
    from ember.nn.functional.creation import tensor, zeros

    if len(args) == 1 and isinstance(args[0], Size):  # torch.Tensor(x.size()); a tuple is data
        args = tuple(args[0])
    if not args:
        return zeros(0, dtype=dtype)
    if _is_size(args):
        return zeros(*(int(a) for a in args), dtype=dtype)
    if len(args) == 1:
        return tensor(args[0], dtype=dtype)
    raise TypeError(f"Tensor(): expected sizes (ints) or one data argument, got {args!r}")


def FloatTensor(*args):  # noqa: N802 (PyTorch's name)
    """`torch.FloatTensor(data)` / `torch.FloatTensor(2, 3)`: a float32 tensor (zeros for sizes)."""
    return legacy_tensor(args, "float32")


def LongTensor(*args):  # noqa: N802 (PyTorch's name)
    """`torch.LongTensor(data)`: an int64 tensor (int32 unless x64 is enabled, as `em.long`)."""
    return legacy_tensor(args, "int64")


def IntTensor(*args):  # noqa: N802 (PyTorch's name)
    return legacy_tensor(args, "int32")


def BoolTensor(*args):  # noqa: N802 (PyTorch's name)
    return legacy_tensor(args, "bool")


__all__ = ["BoolTensor", "FloatTensor", "IntTensor", "LongTensor", "legacy_tensor"]
