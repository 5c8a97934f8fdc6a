"""einops' layers for ember models: `Rearrange` and `Reduce` (what
`einops.layers.torch` gives PyTorch models; ViT's patch embedding is one)."""

from __future__ import annotations

from typing import Any

from ember.nn.module import Module

__all__ = ["Rearrange", "Reduce"]


def _einops() -> Any:
    try:
        import einops
    except ImportError as e:
        raise ImportError(
            "nn.Rearrange / nn.Reduce use the einops package; fix: pip install einops"
        ) from e
    from ember.nn.einops_backend import register

    register()
    return einops


class Rearrange(Module):
    """`einops.layers.torch.Rearrange(pattern, **axes_lengths)`: `rearrange` as a layer.

    >>> patches = nn.Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=4, p2=4)
    """

    def __init__(self, pattern: str, **axes_lengths: int):
        super().__init__()
        self.pattern, self.axes_lengths = pattern, dict(axes_lengths)

    def forward(self, input):
        return _einops().rearrange(input, self.pattern, **self.axes_lengths)

    def extra_repr(self) -> str:
        lengths = "".join(f", {k}={v}" for k, v in self.axes_lengths.items())
        return f"{self.pattern!r}{lengths}"


class Reduce(Module):
    """`einops.layers.torch.Reduce(pattern, reduction, **axes_lengths)`: `reduce` as a
    layer (`reduction`: "mean", "sum", "max", "min" or "prod").

    >>> pool = nn.Reduce("b n d -> b d", "mean")
    """

    def __init__(self, pattern: str, reduction: str, **axes_lengths: int):
        super().__init__()
        self.pattern, self.reduction = pattern, reduction
        self.axes_lengths = dict(axes_lengths)

    def forward(self, input):
        return _einops().reduce(input, self.pattern, self.reduction, **self.axes_lengths)

    def extra_repr(self) -> str:
        lengths = "".join(f", {k}={v}" for k, v in self.axes_lengths.items())
        return f"{self.pattern!r}, {self.reduction!r}{lengths}"
