"""Stacked storage in the steps: which parameters a step keeps stacked, and its unstacking.

`ember.nn.parameter_stack` explains the storage. Here: `StorageLayout` says which
parameters (positions in the state view) form each stacked unit; `choose_units`
reads them off a scanned program (each `stack` of parameter inputs on axis 0 is a
unit, when one stackable optimizer updates all its members alike); `expander` turns
the stored list back into per-layer values inside a step. Its VJP stacks the
per-layer gradients again, so XLA sees `stack(slice(w, k) for k)` forward and
backward, folds both away, and the optimizer updates each stack with one kernel:
compile time no longer grows with the number of layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class StorageLayout:
    """The stored parameter list: one array per unit (its members stacked in order), then
    the other parameters (`rest`) as they are. Positions refer to the state view's list."""

    units: tuple[tuple[int, ...], ...]
    rest: tuple[int, ...]

    def stored_position(self) -> dict[int, int]:
        """Per-layer position -> position in the stored list."""
        out = {i: u for u, unit in enumerate(self.units) for i in unit}
        out.update({i: len(self.units) + j for j, i in enumerate(self.rest)})
        return out


def choose_units(graph: Any, param_names: Sequence[str], params: Sequence, optimizers) -> tuple:
    """The units of a scanned program: each `stack` (axis 0) of distinct parameter inputs
    whose members have one dtype, all require gradients and sit in one param group of
    one stackable optimizer. Returns tuples of positions in `param_names`."""
    position = {n: i for i, n in enumerate(param_names)}
    param_of = {gi.value: gi.name for gi in graph.inputs if gi.kind == "param"}
    owner = {}
    for opt in optimizers:
        for gi, group in enumerate(opt.param_groups):
            for p in group["params"]:
                owner[id(p)] = (id(opt), gi, opt.stackable)
    units, used = [], set()
    for node in graph.nodes:
        if node.op != "stack" or node.attrs.get("dim") != 0 or len(node.inputs) < 2:
            continue
        names = [param_of.get(v) for v in node.inputs]
        if any(n is None or n not in position for n in names):
            continue
        unit = tuple(position[n] for n in names)
        members = [params[i] for i in unit]
        first = owner.get(id(members[0]))  # (optimizer, param group, stackable)
        if (
            len(set(unit)) != len(unit)
            or used.intersection(unit)
            or first is None
            or not first[2]
            or any(owner.get(id(p)) != first for p in members)
            or not all(p.requires_grad for p in members)
            or len({(tuple(p.shape), str(p.dtype)) for p in members}) != 1
        ):
            continue
        used.update(unit)
        units.append(unit)
    return tuple(units)


def expander(layout: StorageLayout) -> Callable[[list], list]:
    """stored list -> per-layer list; its VJP stacks the per-layer cotangents."""
    n_units = len(layout.units)
    size = sum(len(u) for u in layout.units) + len(layout.rest)

    @jax.custom_vjp
    def expand(stored: list) -> list:
        out: list = [None] * size
        for array, unit in zip(stored, layout.units, strict=False):
            for k, i in enumerate(unit):
                out[i] = array[k]
        for j, i in enumerate(layout.rest):
            out[i] = stored[n_units + j]
        return out

    def forward(stored):
        return expand(stored), None

    def backward(_, cotangents):
        stacked = [jnp.stack([cotangents[i] for i in unit]) for unit in layout.units]
        return (stacked + [cotangents[i] for i in layout.rest],)

    expand.defvjp(forward, backward)
    return expand
