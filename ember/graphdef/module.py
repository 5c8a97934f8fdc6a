"""`Module`: PyTorch's registration semantics on top of the tracer.

Assigning a `Parameter`, a `Module` or (via `register_buffer`) an array to an
attribute registers it. Inside a trace, reading a parameter or buffer returns
the graph's input `Tensor`; assigning a traced value to a buffer records a
buffer write. Outside a trace, calling a module on arrays runs a compiled,
cached forward (provided by the runtime).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .errors import StateDictError
from .parameter import STRUCTURE_VERSION, Parameter, StateStore, to_numpy
from .tensor import Tensor
from .tracer import current_builder

# The runtime installs the function that runs a module on concrete arrays.
EAGER_CALL: list[Callable | None] = [None]


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class BoundBuffer:
    """A buffer slot that lives in a compiled model's `StateStore`."""

    __slots__ = ("store", "index")

    def __init__(self, store: StateStore, index: int):
        self.store, self.index = store, index

    def get(self):
        return self.store.buffers[self.index]


def _buffer_value(value):
    return value.get() if isinstance(value, BoundBuffer) else value


class Module:
    """Base class of all layers and models; subclass it and define `forward`.

    >>> class Net(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    """

    training: bool

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_compiled_cache", {})

    # -- registration -------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call; "
                f"fix: call super().__init__() first in {type(self).__name__}.__init__"
            )
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._discard(name)
            params[name] = value
        elif isinstance(value, Module):
            self._discard(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} "
                    "(nn.Parameter or None required)"
                )
            params[name] = None
        elif name in buffers:
            self._set_buffer(name, value)
        elif name in modules and value is None:
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str) -> None:
        for d in (self.__dict__, self._parameters, self._buffers, self._modules):
            d.pop(name, None)

    def _set_buffer(self, name: str, value: Any) -> None:
        builder = current_builder()
        if isinstance(value, Tensor):
            if builder is None:
                raise TypeError(f"buffer {name!r}: a traced Tensor outside a trace")
            builder.write_buffer(self, name, value)
            return
        if value is None:
            self._buffers[name] = None
            return
        arr = to_numpy(value)
        slot = self._buffers.get(name)
        if isinstance(slot, BoundBuffer):
            slot.store.buffers[slot.index] = slot.store.convert(arr.astype(slot.get().dtype))
        else:
            self._buffers[name] = arr

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if "_parameters" in d:
            if name in d["_parameters"]:
                p = d["_parameters"][name]
                builder = current_builder()
                return builder.param_tensor(p) if builder is not None and p is not None else p
            if name in d["_buffers"]:
                builder = current_builder()
                if builder is not None:
                    t = builder.buffer_tensor(self, name)
                    if t is not None:
                        return t
                return _buffer_value(d["_buffers"][name])
            if name in d["_modules"]:
                return d["_modules"][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        if "." in name or not name:
            raise KeyError(f"buffer name {name!r} must be non-empty and contain no '.'")
        self._discard(name)
        self._buffers[name] = None if tensor is None else to_numpy(tensor)
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._discard(name)
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        self._discard(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        mod = self
        for part in target.split(".") if target else []:
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        return self.get_submodule(path)._parameters[name]

    # -- calling ------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        builder = current_builder()
        if builder is None:
            if EAGER_CALL[0] is None:
                raise RuntimeError(
                    "import ember (not only ember.graphdef) to run modules on arrays"
                )
            return EAGER_CALL[0](self, args, kwargs)
        path = builder.module_paths.get(id(self))
        if path is None:
            parent = builder.module_path
            path = f"{parent}.{type(self).__name__}" if parent else type(self).__name__
        builder.module_stack.append(path)
        try:
            return self.forward(*args, **kwargs)
        finally:
            builder.module_stack.pop()

    # -- traversal ----------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate and id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(
                    memo, f"{prefix}.{name}" if prefix else name, remove_duplicate
                )

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for path, m in mods:
            for name, p in m._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{path}.{name}" if path else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for path, m in mods:
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{path}.{name}" if path else name), _buffer_value(b)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes --------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        STRUCTURE_VERSION[0] += 1
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Gradients never accumulate on modules in ember (the step is functional)."""

    def to(self, *args, **kwargs) -> Module:
        """Accepted for porting; devices are placed by XLA (dtype casts are not supported here)."""
        return self

    def cuda(self, *args, **kwargs) -> Module:
        return self

    def cpu(self) -> Module:
        return self

    # -- state dict ---------------------------------------------------------------
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
        """Parameters and persistent buffers as numpy arrays, under PyTorch's names."""
        out = OrderedDict()
        for key, obj, kind in self._state_items(prefix):
            if kind == "param":
                out[key] = obj if keep_vars else np.array(obj.data)
            else:
                module, name = obj
                out[key] = np.array(_buffer_value(module._buffers[name]))
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False):
        """Copy values in; errors list missing, unexpected and mis-shaped entries (like PyTorch)."""
        items = {key: (obj, kind) for key, obj, kind in self._state_items()}
        missing = [k for k in items if k not in state_dict]
        unexpected = [k for k in state_dict if k not in items]
        mismatched = []
        for key, value in state_dict.items():
            if key in items:
                obj, kind = items[key]
                want = (
                    obj.shape if kind == "param" else _buffer_value(obj[0]._buffers[obj[1]]).shape
                )
                got = tuple(np.shape(value) if not hasattr(value, "shape") else value.shape)
                if tuple(want) != got:
                    mismatched.append(
                        f"{key}: checkpoint has shape {got}, model expects {tuple(want)}"
                    )
        problems = []
        if strict and missing:
            problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            problems.append(
                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected)
            )
        if mismatched:
            problems.append("Size mismatch for " + "; ".join(mismatched))
        if problems:
            raise StateDictError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
                + "\n  nothing was loaded; fix: rename/reshape the entries or pass strict=False "
                "to skip missing and unexpected keys"
            )
        for key, value in state_dict.items():
            if key not in items:
                continue
            obj, kind = items[key]
            if kind == "param":
                obj.data = to_numpy(value).astype(obj.dtype)
            else:
                module, name = obj
                old = _buffer_value(module._buffers[name])
                module._set_buffer(name, to_numpy(value).astype(old.dtype))
        return IncompatibleKeys(missing, unexpected)

    # -- printing -----------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        body = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                return body + lines[0] + ")"
            body += "\n  " + "\n  ".join(lines) + "\n"
        return body + ")"

    def __dir__(self):
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )
