"""`Parameter`, lazy deterministic initialization, and the state version.

A Parameter is a leaf `Tensor` that holds its own current value: it is the one
place where that parameter lives, and every runner (compiled steps, `net(x)`,
functional calls, lazy tensors) reads it from there and writes the new value
back, so two compiled models that share a submodule see each other's updates
and nothing is ever rebound.

Inside a traced forward a Parameter stands for its graph input; outside, it is
a lazy leaf that requires grad, so `loss.backward()` fills `p.grad`.

The value is created on first use from `em.manual_seed`: parameter number k
after `manual_seed(s)` always draws from the stream (s, k), whatever order
things materialize in. `p.data` is a tensor bound to the parameter: in-place
updates of it (`p.data.uniform_(-a, a)`, `nn.init.normal_(p.data)`) write back.

`STATE_VERSION` is bumped by anything a compiled program bakes in or a runner
caches: a module's train/eval flag, a parameter's `requires_grad`, registering
or replacing a parameter, buffer or submodule, and values written by the user
(`p.data = ...`, `load_state_dict`). Runners compare it in O(1) per call and
re-resolve their view of the state only when it moved.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ember.frontend.lazy import RECORDER, LazyValue, as_lazy
from ember.frontend.lent_arrays import lend
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.graphdef.types import TensorType
from ember.nn.parameter_stack import StackMember, unstack_parameters

Initializer = Callable[[np.random.Generator, tuple, str], np.ndarray]

_SEED = {"seed": 0, "counter": 0, "draws": 0}

STATE_VERSION = [0]


def bump_state_version() -> None:
    """Tell every runner that module structure, modes or user-written values changed."""
    STATE_VERSION[0] += 1


def manual_seed(seed: int) -> None:
    """Seed parameter initialization, random tensors and the default RNG of compiled models."""
    _SEED["seed"] = int(seed)
    _SEED["counter"] = 0
    _SEED["draws"] = 0


def initial_seed() -> int:
    return _SEED["seed"]


def next_stream() -> tuple[int, int]:
    """(seed, k): the k-th stream of the current seed (parameters, models, host draws)."""
    _SEED["counter"] += 1
    return _SEED["seed"], _SEED["counter"]


_next_stream = next_stream


def next_draw() -> int:
    """The number of the next random op outside a trace (for its key)."""
    _SEED["draws"] += 1
    return _SEED["draws"]


def host_generator() -> np.random.Generator:
    """A numpy generator on a fresh seed stream (initializers of plain tensors)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(_next_stream())))


def to_numpy(value: Any) -> np.ndarray:
    """Arrays from numpy, JAX, PyTorch (detached) or ember tensors to a numpy array."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and not isinstance(value, Tensor):
        value = value.detach().cpu().numpy()  # a torch tensor
    return np.asarray(value)


def is_host_or_device_array(value: Any) -> bool:
    """An array ember can store as is (numpy or a backend array), not a torch/ember tensor."""
    return (
        hasattr(value, "shape")
        and hasattr(value, "dtype")
        and not hasattr(value, "detach")
        and not isinstance(value, Tensor)
    )


def stored(value: Any) -> Any:
    """What a parameter or buffer slot keeps: an array, or a pending `LazyValue`."""
    if isinstance(value, Tensor):
        v = value.value
        if not isinstance(v, LazyValue):
            raise TypeError("a tensor of a traced forward cannot be stored in a module")
        lend(v)  # the tensor and the slot now share an array a step may donate
        return v.data if v.data is not None else v
    return value


def slot_type(value: Any) -> TensorType:
    """The type of a slot's content (array or pending lazy value)."""
    if isinstance(value, LazyValue):
        return value.type
    return TensorType(tuple(value.shape), dtypes.canonical(value.dtype))


class Parameter(Tensor):
    """A trainable tensor of a Module (`nn.Parameter` in PyTorch).

    >>> w = Parameter(np.zeros((3, 4), "float32"))
    >>> w.shape
    (3, 4)
    """

    __slots__ = ("_data", "_requires_grad", "_stream", "_shape", "_dtype", "_init", "_leaf")

    def __init__(
        self,
        data: Any = None,
        requires_grad: bool = True,
        *,
        shape: tuple | None = None,
        dtype: str | None = None,
        init: Initializer | None = None,
    ):
        self.grad = None
        self._slot = None
        self._view = None
        self._requires_grad = bool(requires_grad)
        self._stream = _next_stream()
        self._leaf: LazyValue | None = None
        if data is not None:
            if isinstance(data, Tensor):
                value = data.value
                if not isinstance(value, LazyValue):
                    raise TypeError("nn.Parameter of a traced tensor; create it in __init__")
                self._dtype = dtypes.canonical(dtype or value.type.dtype)
                self._shape = value.type.shape
                self._data = stored(data if dtype is None else data.to(self._dtype))
            else:
                arr = to_numpy(data)
                if arr.dtype == np.float64 and dtype is None and not dtypes.x64_enabled():
                    arr = arr.astype(np.float32)
                self._dtype = dtypes.canonical(dtype or arr.dtype)
                self._data = np.array(arr, dtype=self._dtype)
                self._shape = tuple(arr.shape)
            self._init = None
        else:
            if shape is None or init is None:
                raise ValueError("Parameter needs data, or a shape and an initializer")
            self._shape = tuple(int(s) for s in shape)
            if any(s < 0 for s in self._shape):
                raise ValueError(f"Parameter shape {self._shape} has a negative dimension")
            self._dtype = dtypes.canonical(dtype or dtypes.DEFAULT_FLOAT)
            self._data = None
            self._init = init

    # -- Tensor protocol: the traced input inside a trace, a lazy leaf outside ---------------
    @property
    def builder(self):
        builder = current_builder()
        return builder if builder is not None else RECORDER

    @builder.setter
    def builder(self, _) -> None:  # in-place ops rebind `value`; the world follows the trace
        pass

    @property
    def value(self):
        builder = current_builder()
        if builder is not None:
            return builder.param_tensor(self).value
        return self.lazy_leaf()

    def lazy_leaf(self) -> LazyValue:
        """This parameter as a leaf of the lazy graph (its gradient accumulates in `.grad`)."""
        data = self._materialized()
        leaf = self._leaf
        if leaf is None or leaf.data is not data or leaf.requires_grad != self._requires_grad:
            # one type object across steps: identity makes the recorder's cache keys cheap
            same = leaf is not None and leaf.type.shape == self._shape
            same = same and leaf.type.dtype == self._dtype
            kind = leaf.type if same else TensorType(self._shape, self._dtype)
            leaf = self._leaf = LazyValue(kind, data=data, requires_grad=self._requires_grad)
            if self._requires_grad:
                leaf.owner = weakref.ref(self)
        return leaf

    @value.setter
    def value(self, new) -> None:  # an in-place op on the parameter (under no_grad)
        self._set(new.data if new.data is not None else new)

    def _write_slot(self, key: str, tensor: Tensor) -> None:  # in-place ops on `p.data`
        self._set(stored(tensor))

    def _set(self, value: Any) -> None:
        unstack_parameters([self])  # a stacked layer gets its own array first
        RECORDER.pin_slot(value)
        self._data = value
        self._init = None
        bump_state_version()

    def _cast(self, dtype: str) -> None:
        """This parameter in another dtype (`Module.to(dtype)`): drawn first, then cast, as
        PyTorch does."""
        target = dtypes.canonical(dtype)
        if target == self._dtype:
            return
        value = self._materialized()
        unstack_parameters([self])
        self._data = value.astype(target)
        self._dtype = target
        self._init = None
        bump_state_version()

    def _materialized(self) -> Any:
        """The concrete array (drawing the initial value or computing a pending one)."""
        data = self._data
        if data is None:
            self.materialize()
            data = self._data
        elif type(data) is StackMember:
            return data.value()
        elif isinstance(data, LazyValue):
            if data.data is None:
                from ember.frontend.lazy import materialize

                materialize([data])
            data = self._data = data.data
        return data

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if bool(value) != self._requires_grad:
            self._requires_grad = bool(value)
            bump_state_version()

    def requires_grad_(self, requires_grad: bool = True) -> Parameter:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return True

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> str:
        return dtypes.as_dtype(self._dtype)

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def numel(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def is_materialized(self) -> bool:
        return self._data is not None

    def _draw(self, init: Initializer) -> np.ndarray:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self._stream)))
        value = np.asarray(init(rng, self._shape, self._dtype), dtype=self._dtype)
        if value.shape != self._shape:
            raise ValueError(f"initializer returned shape {value.shape}, expected {self._shape}")
        return value

    def materialize(self) -> None:
        if self._data is None:
            self._data = self._draw(self._init)

    def set_initializer(self, init: Initializer) -> None:
        """Replace the initializer; an already materialized value is re-drawn now."""
        self._init = init
        if self._data is not None:
            unstack_parameters([self])
            self._data = self._draw(init)
            bump_state_version()

    @property
    def data(self) -> Tensor:
        """The value as a tensor without autograd history, bound to this parameter: in-place
        updates of it (`p.data.fill_(0)`, `nn.init.normal_(p.data)`) write back."""
        out = Tensor(
            LazyValue(TensorType(self._shape, self._dtype), data=self._materialized()), RECORDER
        )
        out._slot = (self, "data")
        lend(out.value)  # it shares the array a compiled step donates
        return out

    @data.setter
    def data(self, value: Any) -> None:
        """`p.data = t`: new values, in the parameter's dtype. As in PyTorch the shape may
        change (`w.data = w.data.T`, as GPT-2 checkpoints' Conv1D layers are loaded); the
        next step then retraces, since every runner keys its programs on the state version."""
        if isinstance(value, Tensor):
            self._shape = tuple(value.shape)
            self._set(stored(value.to(self._dtype)))
            return
        arr = value if is_host_or_device_array(value) else to_numpy(value)
        if isinstance(arr, np.ndarray) or str(arr.dtype) != self._dtype:
            arr = np.array(arr, dtype=self._dtype)  # a private copy in the parameter's dtype
        self._shape = tuple(arr.shape)
        self._set(arr)

    def numpy(self, *, force: bool = False) -> np.ndarray:
        return np.array(self._materialized())

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self._materialized())
        return arr.astype(dtype) if dtype is not None else arr

    def __repr__(self) -> str:
        if not self.is_materialized:
            return f"Parameter(shape={self._shape}, dtype={self._dtype}, not materialized)"
        return "Parameter containing:\n" + repr(self.data)

    def __deepcopy__(self, memo: dict) -> Parameter:
        new = object.__new__(Parameter)
        memo[id(self)] = new
        new.grad = None
        new._slot = None
        new._view = None
        new._requires_grad = self._requires_grad
        new._stream = self._stream
        new._shape, new._dtype, new._init = self._shape, self._dtype, self._init
        new._leaf = None
        data = self._data
        new._data = None if data is None else np.array(self._materialized())
        return new

    def __reduce__(self):
        raise TypeError(
            "ember parameters are not pickled; save the module's state dict with "
            "em.save(net.state_dict(), path) (safetensors) and load it into a new module"
        )


__all__ = ["Parameter", "manual_seed", "initial_seed", "as_lazy"]
