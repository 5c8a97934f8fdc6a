"""`Parameter`, lazy deterministic initialization, and the shared state store.

A Parameter is created from a shape and an initializer and materialized on
first use from `em.manual_seed`: parameter number k after `manual_seed(s)`
always draws from the stream (s, k), whatever order things materialize in.

After `em.compile`, parameters and buffers are *bound* to a `StateStore`, the
compiled model's flat lists of arrays. Reading `param.data` then returns the
trained value; the step replaces whole lists, so per-step work does not grow
with the number of parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import dtypes

Initializer = Callable[[np.random.Generator, tuple, str], np.ndarray]

_SEED = {"seed": 0, "counter": 0}

# Bumped whenever something a compiled step bakes in changes (a module's train/eval flag,
# a parameter's requires_grad), so cached steps are re-validated in O(1) per call.
STRUCTURE_VERSION = [0]


def manual_seed(seed: int) -> None:
    """Seed parameter initialization (and the default RNG of compiled models)."""
    _SEED["seed"] = int(seed)
    _SEED["counter"] = 0


def initial_seed() -> int:
    return _SEED["seed"]


def _next_stream() -> tuple[int, int]:
    _SEED["counter"] += 1
    return _SEED["seed"], _SEED["counter"]


def to_numpy(value: Any) -> np.ndarray:
    """Arrays from numpy, JAX or PyTorch (detached) to a numpy array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class StateStore:
    """The flat lists of parameter and buffer arrays a compiled model trains.

    `convert` turns a host array into the backend's array (set by the runtime).
    """

    def __init__(self, params: list, buffers: list, convert: Callable[[Any], Any] = np.asarray):
        self.params = params
        self.buffers = buffers
        self.convert = convert


class Parameter:
    """A trainable tensor of a Module (`nn.Parameter` in PyTorch).

    >>> w = Parameter(shape=(3, 4), init=lambda rng, shape, dtype: rng.normal(size=shape))
    >>> w.shape
    (3, 4)
    """

    def __init__(
        self,
        data: Any = None,
        requires_grad: bool = True,
        *,
        shape: tuple | None = None,
        dtype: str | None = None,
        init: Initializer | None = None,
    ):
        self._requires_grad = bool(requires_grad)
        self._store: StateStore | None = None
        self._index = -1
        self._stream = _next_stream()
        if data is not None:
            arr = to_numpy(data)
            if arr.dtype == np.float64 and dtype is None:
                arr = arr.astype(np.float32)
            self._dtype = dtypes.canonical(dtype or arr.dtype)
            self._value = arr.astype(self._dtype)
            self._shape = tuple(arr.shape)
            self._init = None
        else:
            if shape is None or init is None:
                raise ValueError("Parameter needs data, or a shape and an initializer")
            self._shape = tuple(int(s) for s in shape)
            self._dtype = dtypes.canonical(dtype or dtypes.DEFAULT_FLOAT)
            self._value = None
            self._init = init

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._requires_grad = bool(value)
        STRUCTURE_VERSION[0] += 1

    def requires_grad_(self, requires_grad: bool = True) -> Parameter:
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        return self._shape if dim is None else self._shape[dim]

    def numel(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def is_materialized(self) -> bool:
        return self._store is not None or self._value is not None

    def materialize(self) -> None:
        if self._value is None and self._store is None:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self._stream)))
            value = np.asarray(self._init(rng, self._shape, self._dtype), dtype=self._dtype)
            if value.shape != self._shape:
                raise ValueError(
                    f"initializer returned shape {value.shape}, expected {self._shape}"
                )
            self._value = value

    def set_initializer(self, init: Initializer) -> None:
        """Replace the initializer; an already materialized value is re-drawn now."""
        self._init = init
        if self.is_materialized:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self._stream)))
            self.data = np.asarray(init(rng, self._shape, self._dtype), dtype=self._dtype)

    @property
    def data(self) -> Any:
        """The current value (a backend array once bound to a compiled model).

        A compiled train step donates the previous arrays, so a reference kept across
        steps becomes invalid; keep `param.numpy()` (a copy) instead.
        """
        if self._store is not None:
            return self._store.params[self._index]
        self.materialize()
        return self._value

    @data.setter
    def data(self, value: Any) -> None:
        arr = value if hasattr(value, "shape") and not hasattr(value, "detach") else to_numpy(value)
        if tuple(arr.shape) != self._shape:
            from .errors import ShapeError

            raise ShapeError(
                f"cannot assign a value of shape {tuple(arr.shape)} to a "
                f"parameter of shape {self._shape}"
            )
        if self._store is not None:
            self._store.params[self._index] = self._store.convert(np.asarray(arr, self._dtype))
        else:
            self._value = np.array(arr, dtype=self._dtype)

    def bind(self, store: StateStore | None, index: int = -1) -> None:
        """Attach to (or, with None, detach from) a compiled model's state store."""
        if store is None and self._store is not None:
            self._value = np.array(self._store.params[self._index])
        self._store, self._index = store, index

    def numpy(self) -> np.ndarray:
        return np.array(self.data)

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self.data)
        return arr.astype(dtype) if dtype is not None else arr

    def __repr__(self) -> str:
        if not self.is_materialized:
            return f"Parameter(shape={self._shape}, dtype={self._dtype}, not materialized)"
        return f"Parameter containing:\n{np.asarray(self.data)!r}"
