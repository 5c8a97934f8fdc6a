"""PyTorch's per-parameter view of a rule optimizer's state.

torch keeps `optimizer.state = {param: {"step": tensor, "exp_avg": tensor, ...}}` and
saves it as `state_dict()["state"] = {index: {...}}`. ember keeps one
`RuleState(count, slots)` per optimizer (one step count, the rule's slots per parameter),
the form the compiled step donates. This module shows and edits that state under
PyTorch's names (`RuleOptimizer.slot_names`), so resume code written for torch works:

    >>> opt.load_state_dict(checkpoint["optimizer"])              # doctest: +SKIP
    >>> for state in opt.state.values():                          # doctest: +SKIP
    ...     for k, v in state.items():
    ...         state[k] = v.to(device)
    >>> opt.state[net.fc.weight]["exp_avg"].shape                 # doctest: +SKIP

A parameter has state once the optimizer has stepped (as in torch). Writes, and in-place
ops on a tensor read from the view (`state["exp_avg"].zero_()`), go into the optimizer's
state, which every runner (compiled steps, `optimizer.step()`) reads next; a tensor read
earlier is a snapshot (it does not follow later steps). torch keeps a step count per
parameter, ember one per optimizer: loading a torch state whose counts differ warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.errors import ShapeError
from ember.frontend.host_arrays import owned
from ember.frontend.lent_arrays import lend


def _named(opt: Any, index: int) -> dict[str, tuple]:
    """name -> path into parameter `index`'s slots (a tuple position, a dict key, or ())."""
    slots = opt.opt_state.inner.slots[index]
    opt.transform()  # builds the labels and group snapshots
    label = opt._labels[index]
    if label < 0:
        return {}
    names = opt.slot_names(opt._groups[label])
    if isinstance(slots, dict):
        return {k: (k,) for k, v in slots.items() if not _empty(v)}
    if isinstance(slots, tuple):
        if not slots:
            return {}
        names = names or tuple(f"slot_{i}" for i in range(len(slots)))
        return {n: (i,) for i, n in enumerate(names)}
    return {names or "slot": ()}


def _empty(value: Any) -> bool:
    return isinstance(value, tuple) and not value


def _get(slots: Any, path: tuple) -> Any:
    return slots if not path else slots[path[0]]


def _put(slots: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    if isinstance(slots, dict):
        return {**slots, path[0]: value}
    return tuple(value if i == path[0] else s for i, s in enumerate(slots))


def _indices(saved: Mapping) -> set[int]:
    return {int(k) for k in saved}


def _steps(opt: Any) -> int:
    return int(np.asarray(opt.opt_state.inner.count))


def _has_state(opt: Any, index: int) -> bool:
    """Whether torch would show state for parameter `index`: it has slots, and it is not a
    `requires_grad=False` parameter whose slots are still fresh (torch never stepped it)."""
    if not _named(opt, index):
        return False
    if getattr(opt.params[index], "requires_grad", True):
        return True
    slots = opt.opt_state.inner.slots[index]
    param, label = opt.params[index], opt._labels[index]  # labels: built by `_named`
    fresh = opt._init_slots(jnp.asarray(param._materialized()), opt._groups[label])
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), slots, fresh)
    return not all(jax.tree.leaves(same))


class ParameterState(MutableMapping):
    """`optimizer.state[p]`: one parameter's state as a dict of tensors (writable)."""

    def __init__(self, opt: Any, index: int):
        self._opt, self._index = opt, index

    def _names(self) -> dict[str, tuple]:
        return _named(self._opt, self._index)

    def _keys(self) -> list[str]:
        names = list(self._names())
        if not names and not self._opt.torch_step_count:
            return []
        return (["step"] if self._opt.torch_step_count else []) + names

    def __getitem__(self, key: str):
        from ember.nn.functional.creation import tensor

        state = self._opt.opt_state
        if key == "step" and self._opt.torch_step_count:
            out = tensor(np.float32(_steps(self._opt)))
        else:
            names = self._names()
            if key not in names:
                raise KeyError(key)
            out = tensor(_get(state.inner.slots[self._index], names[key]))
            lend(out.value)  # it shares the array the next step donates
        out._slot = (self, key)  # in-place ops on it (`.zero_()`, `.mul_(0.5)`) write back
        return out

    def _write_slot(self, key: str, new) -> None:
        self[key] = new

    def __setitem__(self, key: str, value: Any) -> None:
        opt = self._opt
        if key == "step" and opt.torch_step_count:
            opt.opt_state = _with_count(opt.opt_state, int(np.asarray(value)))
            return
        names = self._names()
        if key not in names:
            raise KeyError(
                f"{type(opt).__name__}.state[param][{key!r}]: this optimizer keeps "
                f"{self._keys()} per parameter; fix: write one of those (ember's compiled "
                "update holds no other state)"
            )
        state = opt.opt_state
        slots = state.inner.slots
        old = _get(slots[self._index], names[key])
        new = _checked(value, old, f"{type(opt).__name__}.state[param][{key!r}]")
        mine = _put(slots[self._index], names[key], new)
        slots = tuple(mine if i == self._index else s for i, s in enumerate(slots))
        opt.opt_state = state._replace(inner=state.inner._replace(slots=slots))

    def __delitem__(self, key: str) -> None:
        raise TypeError(
            f"{type(self._opt).__name__}.state[param]: entries cannot be deleted (the compiled "
            "update needs them); fix: assign zeros, or load a state_dict"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def items(self):  # a snapshot: `state[k] = v.to(device)` while iterating is common
        return [(k, self[k]) for k in self._keys()]

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class ParameterStates(Mapping):
    """`optimizer.state`: parameter -> `ParameterState`, for the parameters that have state
    (all of the optimizer's once it has stepped)."""

    def __init__(self, opt: Any):
        self._opt = opt

    def _index(self, param: Any) -> int:
        for i, p in enumerate(self._opt.params):
            if p is param:
                return i
        raise KeyError(f"{type(self._opt).__name__}.state: the tensor is not one of its parameters")

    def __getitem__(self, param: Any) -> ParameterState:
        return ParameterState(self._opt, self._index(param))

    def __contains__(self, param: object) -> bool:
        return any(p is param for p in self)

    def __iter__(self):
        if not _steps(self._opt):
            return iter(())
        params = self._opt.params
        return iter([p for i, p in enumerate(params) if _has_state(self._opt, i)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"{type(self._opt).__name__} state of {len(self)} parameters"


def _checked(value: Any, like: Any, where: str) -> jax.Array:
    array = owned(np.asarray(value))  # the caller's array may change later (torch's state)
    if array.shape != tuple(like.shape):
        raise ShapeError(
            f"{where}: got shape {array.shape}, the state has {tuple(like.shape)}; fix: "
            "give a value for the same parameter"
        )
    return jnp.asarray(array, dtype=like.dtype)


def _with_count(state: Any, count: int) -> Any:
    return state._replace(inner=state.inner._replace(count=jnp.asarray(count, jnp.int32)))


def per_parameter_state_dict(opt: Any) -> dict:
    """`state_dict()["state"]` in torch's layout: `{index: {"step": ..., name: array}}`."""
    if not _steps(opt):
        return {}
    out = {}
    for i in range(len(opt.params)):
        if _has_state(opt, i):
            out[i] = {k: np.asarray(v) for k, v in ParameterState(opt, i).items()}
    return out


def load_per_parameter_state(opt: Any, saved: Mapping) -> None:
    """Replace the state by a torch-layout `state` (missing parameters: fresh state)."""
    name = type(opt).__name__
    state = opt.opt_state
    fresh = opt.fresh_slots()
    slots, steps = list(fresh), []
    known = {i: _named(opt, i) for i in range(len(fresh))}
    for key, entry in saved.items():
        i = int(key)
        if not 0 <= i < len(fresh):
            raise ShapeError(
                f"{name}.load_state_dict: the saved state names parameter {i}, this optimizer "
                f"has {len(fresh)}; fix: build the optimizer over the same parameters"
            )
        for k, value in entry.items():
            if value is None:  # torch <= 2.1 saved SGD's absent momentum buffer as None
                continue
            if k == "step":
                steps.append(int(round(float(np.asarray(value)))))
                continue
            if k not in known[i]:
                raise ShapeError(
                    f"{name}.load_state_dict: parameter {i}'s saved state has {k!r}; this "
                    f"optimizer keeps {sorted(known[i])}; fix: load a state saved by the same "
                    "optimizer class and options"
                )
            path = known[i][k]
            new = _checked(value, _get(slots[i], path), f"{name}.load_state_dict: [{i}][{k!r}]")
            slots[i] = _put(slots[i], path, new)
    # torch keeps a step per parameter; ember one per optimizer (its parameters step
    # together). A state without steps (torch's SGD) has stepped if it has buffers.
    count = max(steps) if steps else (1 if saved else 0)
    saved_indices = _indices(saved)
    missing = [
        i
        for i in range(len(fresh))
        if known[i] and i not in saved_indices and getattr(opt.params[i], "requires_grad", True)
    ]
    if len(set(steps)) > 1 or (count and missing):
        warnings.warn(
            f"{name}.load_state_dict: the saved parameters stepped {sorted(set(steps))} times"
            + (f" and parameters {missing} have no saved state" if missing else "")
            + f"; ember keeps one step count per optimizer, so all resume at step {count} "
            "(bias corrections of the others differ from torch's)",
            stacklevel=3,
        )
    opt.opt_state = _with_count(
        state._replace(inner=state.inner._replace(slots=tuple(slots))), count
    )


__all__ = [
    "ParameterState",
    "ParameterStates",
    "load_per_parameter_state",
    "per_parameter_state_dict",
]
