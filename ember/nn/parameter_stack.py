"""Stacked storage: the parameters of repeated layers kept as one array per name.

A model compiled with `scan_layers=True` runs its identical blocks as one scan over
their parameters stacked on a new leading axis. Kept per layer, those parameters
would be stacked and sliced again in every step, and the optimizer would update
each layer's arrays separately: XLA then compiles one kernel per layer and
parameter, so compile time grows with depth. With stacked storage the state model
keeps `transformer.h.*.attn.c_attn.weight` as ONE array (a `ParameterStack`) and each
layer's `Parameter` holds a `StackMember`: a view that reads its slice on demand.
Torch names, `state_dict`, checkpoints and `net.h[3].attn.c_attn.weight` are
unchanged; a write to a member (`p.data = x`, `load_state_dict`, another runner's
update) first dissolves its stack back into per-layer arrays, so nothing is lost and
the compiled model re-stacks on its next step.

Nothing here imports JAX: the arrays are whatever the runtime stores (indexing
`array[k]` is the only operation used).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ParameterStack:
    """One stored array for `members` (equal shapes), stacked on axis 0 in that order."""

    __slots__ = ("members", "array", "alive", "_slices")

    def __init__(self, members: list, array: Any):
        self.members = list(members)
        self.array = array
        self.alive = True
        self._slices: list | None = None  # member k's slice of the current array

    def slice(self, k: int) -> Any:
        """Member k's value; sliced once per stored array (identity stays stable)."""
        if self._slices is None:
            self._slices = [None] * len(self.members)
        value = self._slices[k]
        if value is None:
            value = self._slices[k] = self.array[k]
        return value

    def store(self, array: Any) -> None:
        """A new stacked value (a compiled step's result)."""
        self.array = array
        self._slices = None

    def dissolve(self) -> None:
        """Give every member its own array again (before anything writes one of them)."""
        if not self.alive:
            return
        from ember.nn.parameter import bump_state_version

        values = [self.slice(k) for k in range(len(self.members))]
        self.alive = False
        for member, value in zip(self.members, values, strict=True):
            if type(member._data) is StackMember and member._data.stack is self:
                member._data = value
        self.array = self._slices = None
        bump_state_version()


class StackMember:
    """What a stacked parameter holds instead of an array: its stack and position."""

    __slots__ = ("stack", "index", "shape", "dtype")

    def __init__(self, stack: ParameterStack, index: int, shape: tuple, dtype: Any):
        self.stack, self.index, self.shape, self.dtype = stack, index, shape, dtype

    def value(self) -> Any:
        return self.stack.slice(self.index)


def unstack_parameters(params: Iterable) -> None:
    """Dissolve the stacks any of `params` belong to (before writing them directly)."""
    for p in params:
        data = p._data
        if type(data) is StackMember:
            data.stack.dissolve()
