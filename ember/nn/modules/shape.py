"""Flatten, Unflatten and ChannelShuffle modules."""

from __future__ import annotations

from ember.nn.functional import flatten, unflatten
from ember.nn.module import Module


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        return unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class ChannelShuffle(Module):
    """(N, C, *) -> (N, C, *) with channels regrouped: channel `g * (C / groups) + i`
    moves to `i * groups + g` (ShuffleNet).

    >>> shuffle = ChannelShuffle(2)
    """

    def __init__(self, groups: int):
        super().__init__()
        if int(groups) <= 0:
            raise ValueError(f"ChannelShuffle: groups must be positive, got {groups}")
        self.groups = int(groups)

    def forward(self, input):
        n, c, *rest = input.shape
        if c % self.groups:
            raise ValueError(
                f"ChannelShuffle: {c} channels (input {tuple(input.shape)}) do not split into "
                f"{self.groups} groups; fix: use a group count that divides the channels"
            )
        x = input.reshape(n, self.groups, c // self.groups, *rest)
        return x.transpose(1, 2).reshape(n, c, *rest)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
