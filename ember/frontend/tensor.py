"""`Tensor`: one class for traced and lazy tensors, with PyTorch's operators and methods.

Inside a traced forward a Tensor wraps an IR `Value` of the active trace and
every op emits a node. Outside a trace it is a lazy tensor (`frontend/lazy.py`):
ops record into the lazy graph and values are computed only when Python needs
them (`.item()`, `.numpy()`, `print`, `bool`). Methods are attached by the
functional modules (`tensor_method`), so each op is defined once for both.

In-place methods (`add_`, `x[idx] = v`, ...) are functional updates that rebind
the tensor to the new value; a tensor bound to a parameter or buffer slot
(`param.data`, `module.running_mean`) writes the new value back to its owner.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any

import numpy as np

from ember.errors import ShapeError, TraceError
from ember.frontend.lazy import LazyValue, as_lazy, is_grad_enabled, materialize
from ember.frontend.lent_arrays import is_lent, lend
from ember.frontend.print_options import array2string_options
from ember.frontend.tracer import is_tracing
from ember.graphdef.dtypes import as_dtype
from ember.graphdef.ir import Value

# `Tensor.type()`'s legacy names (torch.FloatTensor, ...) by dtype, and back
_LEGACY_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
}
_LEGACY_TYPE_DTYPES = {name: dt for dt, name in _LEGACY_TYPE_NAMES.items()}


class _TensorMeta(type):
    """`em.Tensor(value, builder)` is ember's own wrapper of an IR value; any other call is
    PyTorch's legacy constructor (`torch.Tensor(3, 4)`, `torch.Tensor([1, 2])`)."""

    def __call__(cls, *args, **kwargs):
        if cls is Tensor and not (len(args) == 2 and isinstance(args[0], Value)):
            if kwargs:
                raise TypeError(f"Tensor(): unexpected keyword arguments {sorted(kwargs)}")
            from ember.frontend.legacy_constructors import legacy_tensor

            return legacy_tensor(args)
        return super().__call__(*args, **kwargs)


class Tensor(metaclass=_TensorMeta):
    # `__dict__`: PyTorch tensors take any attribute (`t.my_tag = ...`, BERT-pytorch's
    # `pe.require_grad = False`); made only when one is set
    __slots__ = ("value", "builder", "grad", "_slot", "_view", "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy scalars/arrays defer to our operators

    def __init__(self, value: Value, builder):
        self.value = value
        self.builder = builder
        self.grad = None
        self._slot = None
        self._view = None  # a `ViewLink` when this tensor is a view of another (views.py)

    def _current(self) -> Tensor:
        """This tensor, recomputed first if it is a view whose root changed since."""
        link = self._view
        if link is not None and link.root.value is not link.seen():
            link.refresh(self)
        return self

    # -- type ---------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> str:
        return as_dtype(self.value.type.dtype)

    @property
    def ndim(self) -> int:
        return len(self.value.type.shape)

    def type(self, dtype: Any = None, non_blocking: bool = False, **kwargs: Any):
        """PyTorch's `Tensor.type`: `t.type()` is the legacy type name (`'torch.FloatTensor'`),
        `t.type(em.long)` / `t.type("torch.LongTensor")` is `t.to(...)`. (The IR type, shape
        and dtype, is `t.value.type`.)"""
        if dtype is None:
            return "torch." + _LEGACY_TYPE_NAMES.get(str(self.dtype), "Tensor")
        if isinstance(dtype, str) and dtype.rsplit(".", 1)[-1] in _LEGACY_TYPE_DTYPES:
            dtype = _LEGACY_TYPE_DTYPES[dtype.rsplit(".", 1)[-1]]
        return self.to(dtype)

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        """`t.size()`: an `em.Size` (a tuple with `numel()`), `t.size(d)`: an int."""
        if dim is not None:
            return self.shape[dim]
        from ember.frontend.size import Size

        return tuple.__new__(Size, self.shape)

    def numel(self) -> int:
        return self.value.type.size

    nelement = numel

    def element_size(self) -> int:
        return np.dtype(_numpy_dtype(self.dtype)).itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self._lazy() and not self.requires_grad and len(self):
            # `for i in ix` (ix from randint): the values once, then host rows, not one
            # recorded select and one computed program per element
            from ember.frontend.host_arrays import frozen
            from ember.frontend.lazy import leaf
            from ember.nn.functional.indexing import _select
            from ember.nn.functional.views import mark_view

            rows = np.asarray(self._array())
            for i in range(len(self)):
                row = leaf(frozen(np.array(rows[i])))
                mark_view(row, self, _select, (i,), {})  # `for row in x: row.zero_()`
                yield row
            return
        for i in range(len(self)):
            yield self[i]

    def __hash__(self) -> int:
        return id(self)

    @property
    def is_lazy(self) -> bool:
        return not self.builder.__class__.__name__ == "GraphBuilder" and self._lazy()

    def _lazy(self) -> bool:
        return isinstance(self.value, LazyValue)

    # -- concrete values ------------------------------------------------------------------------
    def _concrete(self, what: str):
        if self._lazy():
            return self._array()
        if not is_tracing(self.builder):
            raise TraceError(
                f"{what}: this {self.value.type} tensor was made while tracing a compiled step "
                "or an earlier call's forward, which has finished, so it has no value (kept on "
                "a module, e.g. `self.kl = ...` in forward, read after a compiled step); fix: "
                "read it inside the step (training_step), or return it from forward"
            )
        raise self.builder.error(
            TraceError(
                f"{what} needs the concrete value of a traced tensor {self.value.type}, which is "
                "not known while tracing. Python control flow on tensor values cannot be "
                "compiled; fix: use em.where(cond, a, b) for elementwise choices, em.cond for "
                "branches, em.fori_loop / em.while_loop / em.scan for loops, or do this "
                "outside forward; a random decision (stochastic depth, layer dropout) can be "
                "drawn with Python's `random` instead, which traces forward anew every call"
            )
        )

    def _array(self):
        """The concrete backend array (computing pending values: one compiled program)."""
        value = self._current().value
        if value.data is None:
            materialize([value])
        return value.data

    def numpy(self, *, force: bool = False) -> np.ndarray:
        return np.array(self._concrete("tensor.numpy()"))

    def item(self):
        arr = np.asarray(self._concrete("tensor.item()"))
        if arr.size != 1:
            raise ValueError(
                f"a Tensor with {arr.size} elements cannot be converted to Scalar; fix: index "
                "it or reduce it first (t.sum().item())"
            )
        return arr.reshape(()).item()

    def tolist(self):
        return np.asarray(self._concrete("tensor.tolist()")).tolist()

    def __bool__(self):
        return bool(self._scalar("bool(tensor) / `if tensor:`"))

    def __float__(self):
        return float(self._scalar("float(tensor)"))

    def __int__(self):
        return int(self._scalar("int(tensor)"))

    def __index__(self):
        value = self._scalar("using a tensor as a Python index")
        if self.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint32"):
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(value)

    def _scalar(self, what: str):
        arr = np.asarray(self._concrete(what))
        if arr.size != 1:
            raise RuntimeError(
                f"{what}: a tensor with {arr.size} elements is ambiguous; fix: use .any() or "
                ".all(), or index a single element"
            )
        return arr.reshape(()).item()

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self._concrete("converting a tensor to a numpy array"))
        return arr.astype(dtype) if dtype is not None else arr

    def __jax_array__(self):
        """`jnp.asarray(t)` takes its array; a copy when the array is the state's
        (`jnp.asarray(net.state_dict()[k])`): ember's steps donate those, and a JAX
        program that donates its arguments would otherwise delete the module's."""
        data = self._concrete("converting a tensor to a JAX array")
        return np.array(data) if self._shares_state() else data

    def __repr__(self) -> str:
        self._current()
        if not self._lazy():
            return f"Tensor({self.value.type})"
        arr = np.asarray(self._array())
        body = np.array2string(arr, separator=", ", prefix="tensor(", **array2string_options())
        extras = []
        if self.dtype not in ("float32", "int32", "bool") or arr.size == 0:
            extras.append(f"dtype=ember.{self.dtype}")
        if self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec: str) -> str:
        """As torch, a 0-d tensor formats as its Python number (`"{}".format(acc)`);
        a one-element tensor takes a number's spec too (`f"{loss:.3f}"`)."""
        if self._lazy() and (not self.shape or (spec and self.numel() == 1)):
            return format(self.item(), spec)
        return repr(self) if not spec else format(repr(self), spec)

    # -- autograd -------------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return bool(getattr(self.value, "requires_grad", True))

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self._lazy():
            if not requires_grad and self.builder.input_kinds.get(self.value) != "param":
                # PyTorch allows it only on a tensor that needs no gradient, where it does
                # nothing (`self.pe[:, :n].requires_grad_(False)` on a buffer)
                return self
            raise self.builder.error(
                TraceError(
                    f"requires_grad_({requires_grad}) inside a traced forward: gradients flow "
                    "already, and a parameter's flag is set outside forward; fix: "
                    "p.requires_grad_(False) before compiling or stepping (freezes it), or "
                    "x.detach() for a value that must not be differentiated"
                )
            )
        if not self.is_leaf:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; fix: use "
                "x.detach().requires_grad_()"
            )
        if requires_grad and self.dtype not in ("float16", "bfloat16", "float32", "float64"):
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        value = self.value
        if bool(requires_grad) == value.requires_grad:
            return self
        if value.data is None:  # made by an op (`em.randn(3)`): a leaf, as in PyTorch
            materialize([value])
        # a new value: tensors sharing the old one (`y = x.clone()`) keep their flag
        self.value = LazyValue(value.type, data=value.data, requires_grad=bool(requires_grad))
        if requires_grad:
            self.value.owner = weakref.ref(self)
        return self

    @property
    def is_leaf(self) -> bool:
        node = getattr(self.value, "node", None)
        return node is None or not self.requires_grad

    def __deepcopy__(self, memo: dict) -> Tensor:
        """`copy.deepcopy(t)` (and of modules holding tensors): a leaf with the same values
        and `requires_grad` (a computed tensor's copy is detached; torch refuses those)."""
        if not self._lazy():
            raise self.builder.error(
                TraceError(
                    "deepcopy of a tensor inside a traced forward: it has no value yet; "
                    "fix: copy outside forward, or use t.clone() inside it"
                )
            )
        from ember.frontend.lazy import leaf

        out = leaf(np.array(self._array()), requires_grad=self.is_leaf and self.requires_grad)
        memo[id(self)] = out
        if self.grad is not None:
            out.grad = self.grad.__deepcopy__(memo)
        return out

    @property
    def grad_fn(self):
        """The autograd node that made this tensor (None for a leaf): `GradFn`."""
        node = getattr(self.value, "node", None)
        if node is None or not self.requires_grad:
            return None
        from ember.frontend.grad_fn import GradFn

        return GradFn(node)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        if not self._lazy():
            raise self.builder.error(
                TraceError(
                    "backward() inside a traced forward: the compiled step differentiates the "
                    "loss itself; fix: return the loss (em.compile(..., loss=...) or "
                    "training_step)"
                )
            )
        from ember.frontend.autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        from ember.frontend.grad_hooks import retain_grad

        retain_grad(self)

    def register_hook(self, hook):
        """`hook(grad) -> new grad or None`, run on this tensor's gradient (see
        `ember/frontend/grad_hooks.py`); returns a handle with `.remove()`.

        >>> h = x.register_hook(lambda g: g * 2)
        """
        from ember.frontend.grad_hooks import register_hook

        return register_hook(self, hook)

    def _shares_state(self) -> bool:
        """Whether this tensor's array may be a parameter's, buffer's or optimizer state's
        (a parameter, a slot-bound tensor, or one made from those): see `lent_arrays`."""
        return type(self) is not Tensor or self._slot is not None or is_lent(self.value.data)

    def detach(self) -> Tensor:
        if self._lazy() and self.value.data is not None:
            from ember.frontend.lazy import leaf

            out = leaf(self.value.data)
            if self._shares_state():
                lend(out.value)  # a donating step copies it first
            return out
        from ember.nn.functional import stop_gradient

        return stop_gradient(self)

    def detach_(self) -> Tensor:
        return self._assign(self.detach())

    # -- in-place updates -----------------------------------------------------------------------
    def _assign(self, new: Tensor, new_shape: bool = False) -> Tensor:
        """Rebind to `new` (an in-place op's result) and write back to an owning slot.
        `new_shape`: the op changes the shape (`unsqueeze_`, `t_`), which a parameter or
        buffer cannot."""
        if self._lazy() and self.is_leaf and self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation; "
                "fix: do it under `with em.no_grad():` (e.g. initialisation or a manual update)"
            )
        # a plain leaf updated under no_grad (`w -= lr * w.grad`) stays a leaf that requires
        # grad, as in PyTorch: its new value is computed now and becomes the leaf's data
        keep_leaf = type(self) is Tensor and self._slot is None and self._view is None
        keep_leaf = keep_leaf and self._lazy()
        keep_leaf = keep_leaf and self.value.node is None and self.value.requires_grad
        if new_shape and new.shape != self.shape and self._slot is not None:
            raise ShapeError(
                f"an in-place op would change the shape of a parameter or buffer from "
                f"{tuple(self.shape)} to {tuple(new.shape)}; fix: assign a new tensor "
                "(module.name = ...) or use the out-of-place op"
            )
        if new.value.type != self.value.type:
            new = new.to(self.dtype)
            if new.shape != self.shape and not new_shape:
                from ember.nn.functional.shape import broadcast_to

                new = broadcast_to(new, self.shape)
        self.value = new.value
        self.builder = new.builder
        if isinstance(self.value, LazyValue) and self.value.data is None:
            # a live pending value: the next cut computes it, so `w -= lr * g` in a loop
            # that reads only the loss does not replay every earlier update
            self.builder.track(self)
        if keep_leaf:
            materialize([self.value])
            self.value = LazyValue(self.value.type, data=self.value.data, requires_grad=True)
            self.value.owner = weakref.ref(self)
        if self._slot is not None:
            owner, key = self._slot
            owner._write_slot(key, self)
        link = self._view
        if link is not None:
            if new_shape:
                self._view = None  # `view.unsqueeze_(0)` reshapes the view alone
            else:
                link.write_back(self)
        return self

    # PyTorch idioms that are no-ops in a compiled graph
    def contiguous(self, *args, **kwargs) -> Tensor:
        return self

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return True  # XLA owns layouts (see ember/memory_format.py)

    def clone(self, *args, **kwargs) -> Tensor:
        if self._lazy() and self.value.data is not None and self._shares_state():
            lend(self.value)  # a snapshot (`w0 = p.clone()`) outlives the next donating step
        return Tensor(self.value, self.builder)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args, **kwargs) -> Tensor:
        return self

    def pin_memory(self) -> Tensor:
        return self

    @property
    def device(self):
        from ember.frontend.device import device

        return device("cpu")

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def data(self) -> Tensor:
        """The value without autograd history (PyTorch's `.data`); bound to this tensor."""
        out = Tensor(self.value, self.builder) if not self._lazy() else self.detach()
        out._slot = (_DataOwner(self), "data")
        return out

    @data.setter
    def data(self, value: Any) -> None:
        self._set_data(as_lazy(value, self.value.type).value)

    def _set_data(self, new: Value) -> None:
        """`t.data = v`, `t.data -= lr * t.grad` (pre-0.4 SGD): new values, the same leaf;
        a leaf that requires grad keeps requiring it, as in PyTorch."""
        old = self.value
        if isinstance(old, LazyValue) and old.requires_grad and old.node is None:
            if new.data is None:
                materialize([new])
            new = LazyValue(new.type, data=new.data, requires_grad=True)
            new.owner = weakref.ref(self)
        self.value = new


class _DataOwner:
    """Writes in-place updates of `t.data` back into `t`."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor):
        self.tensor = tensor

    def _write_slot(self, key: str, new: Tensor) -> None:
        self.tensor._set_data(new.value)


def _numpy_dtype(dtype: str):
    if dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(dtype)


def tensor_method(*names: str):
    """Decorator: also expose a functional op as `Tensor.<name>` for each name given. An
    op with a `dim` argument also takes NumPy's spellings `axis=` and `keepdims=`, as
    PyTorch's do (`probs.sum(axis=1, keepdims=True)`)."""

    def attach(fn):
        fn = _numpy_spellings(fn)
        for name in names or (fn.__name__,):
            setattr(Tensor, name, fn)
        return fn

    return attach


_SPELLINGS = {"axis": "dim", "keepdims": "keepdim"}


def _numpy_spellings(fn):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    aliases = {k: v for k, v in _SPELLINGS.items() if v in params and k not in params}
    if "dim" not in aliases.values():
        return fn

    @functools.wraps(fn)
    def accepting_numpy_spellings(*args, **kwargs):
        if kwargs and not aliases.keys().isdisjoint(kwargs):
            kwargs = {aliases.get(k, k): v for k, v in kwargs.items()}
        return fn(*args, **kwargs)

    return accepting_numpy_spellings
