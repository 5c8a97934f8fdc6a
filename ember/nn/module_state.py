"""`Module.state_dict()` / `load_state_dict()`: a module tree's parameters and persistent
buffers under PyTorch's names (a mixin of `Module`, one concept per file)."""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from ember.errors import StateDictError
from ember.graphdef.types import TensorType
from ember.nn.parameter import slot_type
from ember.nn.slot_values import converted_value


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class StateDictMixin:
    """The state-dict methods of `Module` (it owns `_parameters`, `_buffers`, `_modules`)."""

    def _state_items(self, prefix: str = ""):
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p, "param"
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, (self, name), "buffer"
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_items(prefix + name + ".")

    def state_dict(self, *, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers under PyTorch's names, as tensors without
        autograd history (the parameters themselves with `keep_vars=True`).

        Each entry holds the current value (a snapshot: it does not follow later steps,
        unlike torch's shared storage), and in-place ops on it write into the module,
        as in torch (`sd["fc.weight"].copy_(w)` under `no_grad`).

        >>> for name, t in net.state_dict().items():
        ...     print(name, t.size())
        """
        out = OrderedDict()
        for key, obj, kind in self._state_items(prefix):
            if kind == "param":
                out[key] = obj if keep_vars else obj.data
            else:
                module, name = obj
                out[key] = module._buffer_tensor(name)
        return out

    def _state_arrays(self, prefix: str = "") -> OrderedDict:
        """`state_dict()` as host numpy copies (what checkpoints write)."""
        out = OrderedDict()
        for key, obj, kind in self._state_items(prefix):
            if kind == "param":
                out[key] = np.array(obj._materialized())
            else:
                module, name = obj
                out[key] = np.array(module._buffer_tensor(name, handed_out=False))
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False):
        """Copy values in; errors list missing, unexpected and mis-shaped entries (like PyTorch)."""
        items = {key: (obj, kind) for key, obj, kind in self._state_items()}
        missing = [k for k in items if k not in state_dict]
        unexpected = [k for k in state_dict if k not in items]
        mismatched, converted = [], {}
        for key, value in state_dict.items():
            if key in items:
                obj, kind = items[key]
                want = slot_type(obj._data) if kind == "param" and obj._data is not None else None
                want = want or (
                    TensorType(obj.shape, obj.dtype)
                    if kind == "param"
                    else slot_type(obj[0]._buffers[obj[1]])
                )
                problem, array = converted_value(value, want)
                if problem:
                    mismatched.append(f"{key}: {problem}")
                else:
                    converted[key] = array
        problems = []
        if strict and missing:
            problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            problems.append(
                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected)
            )
        if mismatched:
            problems.append("Size or dtype mismatch for " + "; ".join(mismatched))
        if problems:
            raise StateDictError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
                + "\n  nothing was loaded; fix: rename/reshape the entries or pass strict=False "
                "to skip missing and unexpected keys"
            )
        for key, array in converted.items():  # every entry checked: nothing fails past here
            obj, kind = items[key]
            if kind == "param":
                obj.data = array
            else:
                module, name = obj
                module._set_buffer(name, array)
        return IncompatibleKeys(missing, unexpected)
