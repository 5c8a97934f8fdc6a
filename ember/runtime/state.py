"""The one state model, as runners see it: a flat view of module trees' parameters and buffers.

Values live in the modules (each `Parameter` holds its array; each module's
`_buffers` holds its buffers). A `StateView` resolves, once per
`STATE_VERSION`, which parameter objects and buffer slots a runner uses and in
what order, then reads them into flat lists for a jitted call and writes the
results back. Every runner (compiled steps, `net(x)`, functional calls) goes
through a view, so they all share one state and nothing is rebound.

Per call a runner does `read()` and `write()`: one list comprehension each, no
pytree work; when `STATE_VERSION` moved (a mode change, new submodule or a user
write), `refresh()` re-resolves the view in O(parameters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.frontend.grad_hooks import parameter_hook_key
from ember.frontend.lazy import LazyValue, materialize
from ember.graphdef import TensorType
from ember.nn.module import Module
from ember.nn.parameter import STATE_VERSION, Parameter, bump_state_version
from ember.nn.parameter_stack import ParameterStack, StackMember, unstack_parameters
from ember.nn.settings import mode_key


class StateView:
    """The parameters and buffers of `roots` (pairs of name prefix and module), in order.

    `param_names`/`buffer_names` are state-dict names (`"fc1.weight"`, with the
    prefix of their root); `signature` is what compiled programs bake in.
    """

    def __init__(
        self,
        roots: Sequence[tuple[str, Module]],
        materialize: bool = True,
        placement: Any = None,
    ):
        self.roots = list(roots)
        self.materialize = materialize  # False: names and signature only (lazy calls)
        self.placement = placement  # a ShardingPlan: state lives in its layout on a mesh
        self.units: tuple[tuple[Parameter, ...], ...] = ()  # stacked storage: `set_units`
        self.stacks: list[ParameterStack] = []
        self.version = -1
        self.refresh()

    def set_units(self, units: tuple[tuple[Parameter, ...], ...]) -> None:
        """Keep each unit's parameters (stacked in that order) as one stacked array (see
        `ember.nn.parameter_stack`); `read_stored` then yields the stacks first, then the
        other parameters in order (`rest`: their positions in `params`)."""
        ids = tuple(tuple(map(id, u)) for u in units)  # by identity: `==` is elementwise
        if ids != tuple(tuple(map(id, u)) for u in self.units):
            self.units = units
            self.version = -1

    def refresh(self) -> bool:
        """Re-resolve if anything changed since the last call; True when it did."""
        if self.version == STATE_VERSION[0]:
            return False
        params: list[tuple[str, Parameter]] = []
        seen: set[int] = set()
        buffers: list[tuple[str, Module, str]] = []
        flags = []
        for prefix, root in self.roots:
            for name, p in root.named_parameters(prefix=prefix):
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append((name, p))
            for path, m in root.named_modules(prefix=prefix):
                flags.append(mode_key(m))
                for b, value in m._buffers.items():
                    if value is not None:
                        buffers.append((f"{path}.{b}" if path else b, m, b))
        self.param_names = tuple(n for n, _ in params)
        self.params = [p for _, p in params]
        # which Parameter objects, in order: a step that updates them by position (the
        # optimizers' plan) must not be reused after a block is replaced or reordered
        self.identity = tuple(map(id, self.params))
        self.buffer_names = tuple(n for n, _, _ in buffers)
        self.buffer_slots = [(m, b) for _, m, b in buffers]
        self._to_device()
        self._index_units()
        if self.units:
            self._stack_units()
        self._members = any(type(p._data) is StackMember for p in self.params)
        if self.units:
            self._rest_members = any(type(self.params[i]._data) is StackMember for i in self.rest)
        self.signature = (
            # a parameter's gradient hooks are traced into compiled steps
            tuple(
                (n, p.shape, p.dtype, p.requires_grad, *parameter_hook_key(p)) for n, p in params
            ),
            tuple((n, tuple(m._buffers[b].shape), str(m._buffers[b].dtype)) for n, m, b in buffers),
            tuple(flags),
        )
        self.version = STATE_VERSION[0]
        return True

    def _to_device(self) -> None:
        """Host arrays become device arrays once; an array shared by two slots is copied,
        because a donated step cannot take the same buffer twice."""
        pending = [p._data for p in self.params if isinstance(p._data, LazyValue)]
        pending += [
            m._buffers[b] for m, b in self.buffer_slots if isinstance(m._buffers[b], LazyValue)
        ]
        materialize(pending)  # pending initial values and in-place updates: one program
        if self.placement is not None:
            self._place(self.placement)
            return
        seen: set[int] = set()
        for p in self.params:
            if type(p._data) is StackMember:  # stored in its stack (on the device)
                continue
            arr = p._materialized()
            if not isinstance(arr, jax.Array) or id(arr) in seen:
                arr = p._data = jnp.array(arr, dtype=p.dtype)
            seen.add(id(arr))
        for m, b in self.buffer_slots:
            arr = m._buffers[b]
            if isinstance(arr, LazyValue):
                arr = arr.data
            if not isinstance(arr, jax.Array) or id(arr) in seen:
                arr = jnp.array(_default_precision(arr))
            m._buffers[b] = arr
            seen.add(id(arr))

    def _index_units(self) -> None:
        position = {id(p): i for i, p in enumerate(self.params)}
        if any(id(p) not in position for u in self.units for p in u):
            self.units = ()  # the module tree changed: the model decides again
        stacked = {position[id(p)] for u in self.units for p in u}
        self.rest = tuple(i for i in range(len(self.params)) if i not in stacked)

    def _stack_units(self) -> None:
        """One `ParameterStack` per unit: kept when its members still form it, else built."""
        self.stacks, created = [], False
        for members in self.units:
            first = members[0]._data
            if type(first) is StackMember and first.stack.alive and _forms(first.stack, members):
                self.stacks.append(first.stack)
                continue
            unstack_parameters(members)
            values = [jnp.asarray(m._materialized()) for m in members]
            stack = ParameterStack(members, jnp.stack(values))
            for k, m in enumerate(members):
                m._data = StackMember(stack, k, m.shape, m._dtype)
            self.stacks.append(stack)
            created = True
        if created:  # other views read these parameters through their stacks from now on
            bump_state_version()

    def _place(self, plan: Any) -> None:
        """Every array in the plan's layout; an undrawn parameter is drawn and sent shard by
        shard, so no device ever holds a whole FSDP/tensor-parallel parameter."""
        unstack_parameters(self.params)
        seen: set[int] = set()
        for name, p in zip(self.param_names, self.params, strict=True):
            arr = plan.place_param(name, p)
            if id(arr) in seen:
                arr = plan.place(np.asarray(arr), plan.param_sharding(name))
            p._data = arr
            seen.add(id(arr))
        replicated = plan.sharding(())
        for m, b in self.buffer_slots:
            arr = m._buffers[b]
            if isinstance(arr, LazyValue):
                arr = arr.data
            if not isinstance(arr, jax.Array) or id(arr) in seen:
                arr = _default_precision(np.asarray(arr))
            arr = m._buffers[b] = plan.place(arr, replicated)
            seen.add(id(arr))

    # -- per call --------------------------------------------------------------------
    def read(self) -> tuple[list, list]:
        buffers = self._buffers()
        if self._members:
            return [p._materialized() for p in self.params], buffers
        return [p._data for p in self.params], buffers

    def _buffers(self) -> list:
        if self.version != STATE_VERSION[0]:
            self.refresh()
        if not self.buffer_slots:
            return []
        buffers = [m._buffers[b] for m, b in self.buffer_slots]
        if any(type(x) is LazyValue for x in buffers):  # updated by a lazy module call
            materialize([x for x in buffers if type(x) is LazyValue])
            for (m, b), x in zip(self.buffer_slots, buffers, strict=True):
                if type(x) is LazyValue:
                    m._buffers[b] = x.data
            buffers = [m._buffers[b] for m, b in self.buffer_slots]
        return buffers

    def write(self, params: Sequence | None, buffers: Sequence | None) -> None:
        if params is not None:
            if self._members:  # per-layer values: stacked parameters get their own again
                unstack_parameters(self.params)
            for p, value in zip(self.params, params, strict=True):
                p._data = value
        if buffers is not None:
            for (m, b), value in zip(self.buffer_slots, buffers, strict=True):
                m._buffers[b] = value

    def read_stored(self) -> tuple[list, list]:
        """Like `read`, but in stored form: the units' stacked arrays, then the others."""
        if not self.units:
            return self.read()
        buffers = self._buffers()
        stacks = [s.array for s in self.stacks]
        if self._rest_members:
            return stacks + [self.params[i]._materialized() for i in self.rest], buffers
        return stacks + [self.params[i]._data for i in self.rest], buffers

    def write_stored(self, stored: Sequence, buffers: Sequence | None) -> None:
        """Store a step's results given in `read_stored`'s form."""
        if not self.units:
            return self.write(stored, buffers)
        n = len(self.stacks)
        for stack, value in zip(self.stacks, stored[:n], strict=True):
            stack.store(value)
        if self._rest_members:
            unstack_parameters([self.params[i] for i in self.rest])
        for i, value in zip(self.rest, stored[n:], strict=True):
            self.params[i]._data = value
        self.write(None, buffers)

    # -- description -----------------------------------------------------------------
    def param_types(self) -> list[TensorType]:
        return [TensorType(p.shape, p.dtype) for p in self.params]

    def requires_grad(self) -> tuple[bool, ...]:
        return tuple(p.requires_grad for p in self.params)

    def as_dicts(self) -> dict[str, dict[str, Any]]:
        """`{"params": {name: array}, "buffers": {name: array}}` (the functional state)."""
        params, buffers = self.read()
        return {
            "params": dict(zip(self.param_names, params, strict=True)),
            "buffers": dict(zip(self.buffer_names, buffers, strict=True)),
        }


def _forms(stack: ParameterStack, members: list) -> bool:
    return len(stack.members) == len(members) and all(
        a is b for a, b in zip(stack.members, members, strict=True)
    )


def _default_precision(arr: Any) -> Any:
    """Host buffers in JAX's default precision (float64 -> float32, int64 -> int32)."""
    arr = np.asarray(arr)
    if not jax.config.jax_enable_x64:
        if arr.dtype == np.float64:
            return arr.astype(np.float32)
        if arr.dtype == np.int64:
            return arr.astype(np.int32)
    return arr
