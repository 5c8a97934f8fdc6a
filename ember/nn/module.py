"""`Module`: PyTorch's registration semantics on top of the tracer.

Assigning a `Parameter`, a `Module` or (via `register_buffer`) an array to an
attribute registers it. Inside a trace, reading a parameter or buffer returns
the graph's input `Tensor`; assigning a traced value to a buffer records a
buffer write. Outside a trace, calling a module on arrays runs a compiled,
cached forward (provided by the runtime).

State lives in one place: each Parameter holds its value and each module's
`_buffers` dict holds its buffers' arrays. Runners read and write them there;
anything that changes what a compiled program bakes in bumps `STATE_VERSION`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from ember.errors import EmberError
from ember.frontend import stored_tensors
from ember.frontend.lazy import RECORDER, LazyValue, materialize
from ember.frontend.lent_arrays import lend
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.nn.hooks import HookMixin, call_with_hooks, has_hooks, subtree_has_hooks
from ember.nn.module_state import StateDictMixin
from ember.nn.parameter import Parameter, bump_state_version, slot_type, stored
from ember.nn.settings import EAGER_FORWARD, assign_computed, note_deleted, note_setting
from ember.nn.slot_values import as_buffer_array

# The runtime installs the function that runs a module on concrete arrays.
EAGER_CALL: list[Callable | None] = [None]


class Module(HookMixin, StateDictMixin):
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
        object.__setattr__(self, "_programs", {})  # the runtime's per-module compiled programs

    # -- registration -------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call; "
                f"fix: call super().__init__() first in {type(self).__name__}.__init__"
            )
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._discard(name, keep=params)
            params[name] = value
            bump_state_version()
        elif isinstance(value, Module):
            self._discard(name, keep=modules)
            modules[name] = value
            bump_state_version()
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} "
                    "(nn.Parameter or None required)"
                )
            params[name] = None
            bump_state_version()
        elif name in buffers:
            self._set_buffer(name, value)
        elif name in modules and value is None:
            modules[name] = None
            bump_state_version()
        else:
            d = self.__dict__
            if name == "training":
                if value != d.get("training"):
                    bump_state_version()  # `m.training = False` is a mode change like m.eval()
            elif name[0] != "_" and current_builder() is None:
                computed = d.get("_computed_attributes")
                if computed and name in computed:
                    assign_computed(self, name, value)
                    return
                note_setting(self, name, value)  # forward may read it: see `nn.settings`
            elif isinstance(value, Tensor) and stored_tensors.collecting():
                stored_tensors.note_write(self, name, value, current_builder())
            object.__setattr__(self, name, value)

    def _discard(self, name: str, keep: dict | None = None) -> None:
        """Forget `name` everywhere but in `keep`, where a reassignment keeps its place (as
        in PyTorch: `net.fc = nn.Linear(...)` does not move fc's keys in the state dict)."""
        for d in (self.__dict__, self._parameters, self._buffers, self._modules):
            if d is not keep:
                d.pop(name, None)

    def _set_buffer(self, name: str, value: Any) -> None:
        builder = current_builder()
        if isinstance(value, Tensor) and not isinstance(value.value, LazyValue):
            if builder is None:
                raise TypeError(f"buffer {name!r}: a traced Tensor outside a trace")
            builder.write_buffer(self, name, value)
            return
        if isinstance(value, Tensor) and builder is not None and not isinstance(value, Parameter):
            builder.write_buffer(self, name, value)  # a lazy constant assigned in forward
            return
        if isinstance(value, Tensor) and value.requires_grad:
            value = value.detach()  # a buffer computed by an eager forward is state, not autograd's
        if value is not None:
            value = as_buffer_array(value)
            RECORDER.pin_slot(value)
        self._buffers[name] = value
        bump_state_version()

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
                return self._buffer_tensor(name)
            if name in d["_modules"]:
                return d["_modules"][name]
            computed = d.get("_computed_attributes")  # parametrized weights (nn.utils)
            if computed and name in computed:
                return computed[name](self)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _buffer_tensor(self, name: str, handed_out: bool = True):
        """A buffer outside a trace: a tensor bound to its slot (in-place updates write back).
        `handed_out=False`: an operand the runtime consumes at once, not a user's tensor."""
        value = self._buffers[name]
        if value is None:
            return None
        if isinstance(value, LazyValue):
            lazy = value if value.data is None else LazyValue(value.type, data=value.data)
        else:
            lazy = LazyValue(slot_type(value), data=value)
        t = Tensor(lazy, RECORDER)
        t._slot = (self, name)
        if handed_out:
            lend(lazy)  # it shares the array a compiled step donates
        return t

    def _write_slot(self, name: str, tensor: Tensor) -> None:
        self._buffers[name] = stored(tensor)
        RECORDER.pin_slot(self._buffers[name])
        bump_state_version()

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                bump_state_version()
                return
        object.__delattr__(self, name)
        if name[0] != "_" and current_builder() is None:
            note_deleted(self, name)

    def __deepcopy__(self, memo: dict) -> Module:
        """A deep copy with its own parameters and buffers; compiled programs are not copied."""
        import copy

        pending = [v for v in self._buffers.values() if isinstance(v, LazyValue) and v.data is None]
        materialize(pending)  # a buffer updated by an eager forward is still being computed
        new = object.__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            object.__setattr__(new, key, {} if key == "_programs" else copy.deepcopy(value, memo))
        return new

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        if "." in name or not name:
            raise KeyError(f"buffer name {name!r} must be non-empty and contain no '.'")
        self._discard(name, keep=self._buffers)
        if isinstance(tensor, Tensor) and not isinstance(tensor.value, LazyValue):
            raise TypeError(
                f"register_buffer({name!r}, ...) with a traced tensor; call it in __init__"
            )
        self._buffers[name] = None if tensor is None else as_buffer_array(tensor)
        # a pending value (DDPM's schedules computed in __init__) is computed once, in the
        # next cut, not again in every cut that reads the buffer
        RECORDER.pin_slot(self._buffers[name])
        if not persistent:
            self._non_persistent.add(name)
        else:
            self._non_persistent.discard(name)
        bump_state_version()

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._discard(name, keep=self._parameters)
        self._parameters[name] = param
        bump_state_version()

    def add_module(self, name: str, module: Module | None) -> None:
        self._discard(name, keep=self._modules)
        self._modules[name] = module
        bump_state_version()

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
            if subtree_has_hooks(self):  # op by op, so hooks run on every call
                EAGER_FORWARD[0] += 1  # forward's own attribute writes are not settings
                try:
                    return call_with_hooks(self, args, kwargs)
                finally:
                    EAGER_FORWARD[0] -= 1
            return EAGER_CALL[0](self, args, kwargs)
        path = builder.module_paths.get(id(self))
        if path is None:
            parent = builder.module_path
            path = f"{parent}.{type(self).__name__}" if parent else type(self).__name__
        builder.module_stack.append(path)
        try:
            if has_hooks(self):
                return call_with_hooks(self, args, kwargs)
            return self.forward(*args, **kwargs)
        except EmberError as e:
            located = builder.locate(e)  # name this module if nothing deeper said where
            if located is e:
                raise
            raise located from e.__cause__
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
                    yield (f"{path}.{name}" if path else name), m._buffer_tensor(name)

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
        """Set training mode here and, through each child's own `train(mode)`, below (as
        PyTorch does, so a layer that overrides `train` (LoRA's merge, a frozen
        BatchNorm) runs its override on `model.eval()`)."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        bump_state_version()
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the `.grad` of every parameter (None, or zeros), as `optimizer.zero_grad()`
        does for its own: `loss.backward()` adds into `.grad`."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = p.grad * 0

    def to(self, *args, **kwargs) -> Module:
        """Like PyTorch's: a dtype (`net.to(em.bfloat16)`, `to(dtype=...)`, or another
        tensor's) casts the floating-point parameters and buffers; devices are accepted for
        porting (XLA places arrays)."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, dtypes.DType):
                dtype = a
            elif isinstance(a, Tensor):
                dtype = a.dtype
        return self if dtype is None else self._cast_floating(dtype)

    def half(self) -> Module:
        return self._cast_floating("float16")

    def bfloat16(self) -> Module:
        return self._cast_floating("bfloat16")

    def float(self) -> Module:
        return self._cast_floating("float32")

    def double(self) -> Module:
        return self._cast_floating("float64")

    def _cast_floating(self, dtype: str) -> Module:
        if not dtypes.is_floating(dtypes.canonical(dtype)):
            raise TypeError(
                f"{type(self).__name__}.to only casts to floating-point dtypes, got {dtype}; "
                "fix: cast integer tensors themselves (t.to(em.int64))"
            )
        dtypes.requested(dtype)  # warns once when float64 will compute as float32
        for p in self.parameters():
            if dtypes.is_floating(p._dtype):
                p._cast(dtype)
        target = dtypes.canonical(dtype)
        for m in self.modules():
            for name, value in m._buffers.items():
                if isinstance(value, LazyValue):
                    materialize([value])
                    value = value.data
                if value is not None and dtypes.is_floating(str(value.dtype)):
                    m._buffers[name] = value.astype(target)
        bump_state_version()
        return self

    def cuda(self, *args, **kwargs) -> Module:
        return self

    def cpu(self) -> Module:
        return self

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
