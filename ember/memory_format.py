"""PyTorch's memory formats (`em.channels_last`, ...), accepted for porting.

XLA chooses every array's layout itself (ember's CPU convolutions already run in NHWC), so
`model.to(memory_format=em.channels_last)`, `x.contiguous(memory_format=...)` and
`x.is_contiguous(memory_format=...)` change nothing: the names exist so that code written
for PyTorch runs unchanged.

>>> x = em.ones(2, 3, 8, 8).contiguous(memory_format=em.channels_last)
>>> x.is_contiguous(memory_format=em.channels_last)
True
"""

from __future__ import annotations


class memory_format:  # noqa: N801 (PyTorch's name)
    """One of PyTorch's memory-format names."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"ember.{self.name}"


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

__all__ = [
    "channels_last",
    "channels_last_3d",
    "contiguous_format",
    "memory_format",
    "preserve_format",
]
