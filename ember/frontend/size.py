"""`Size`: PyTorch's `torch.Size`, a tuple of dimension sizes.

`Tensor.size()` returns a `Size`; `Tensor.shape` a plain tuple (equal to a `Size` of the
same sizes); `em.Size` is for code that builds or checks shapes by that name.
"""

from __future__ import annotations

import math
from typing import SupportsIndex


class Size(tuple):
    """A tuple of ints with `numel()`; slicing, `+` and `*` keep the type.

    >>> em.Size([2, 3]).numel()
    6
    """

    def __new__(cls, sizes=()):
        dims = tuple(sizes)
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, SupportsIndex):
                raise TypeError(
                    f"em.Size() takes an iterable of ints, got an element {d!r} of type "
                    f"{type(d).__name__}"
                )
        return super().__new__(cls, (int(d.__index__()) for d in dims))

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds (1 for `Size([])`)."""
        return math.prod(self)

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):  # `(1,) + size` is a Size too, as in PyTorch
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, times):
        return Size(tuple(self) * times)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"ember.Size({list(self)})"
