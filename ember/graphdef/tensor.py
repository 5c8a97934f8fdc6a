"""`Tensor`: the proxy a traced `forward` computes with.

It wraps an IR `Value` and has PyTorch's operators and methods; every call
emits an IR node through the active `GraphBuilder`. Methods are attached by
the functional modules (`tensor_method`), so each op is defined once.
Anything that needs a concrete value (`bool(t)`, `float(t)`, `t.item()`)
raises `TraceError` naming the line and the structured alternatives.
"""

from __future__ import annotations

from .errors import TraceError
from .ir import Value


class Tensor:
    __slots__ = ("value", "builder")
    __array_priority__ = 1000  # numpy scalars/arrays defer to our operators

    def __init__(self, value: Value, builder):
        self.value = value
        self.builder = builder

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> str:
        return self.value.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.value.type.shape)

    @property
    def type(self):
        return self.value.type

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return self.value.type.size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Tensor({self.value.type})"

    def __hash__(self) -> int:
        return id(self)

    def _concrete(self, what: str):
        raise self.builder.error(
            TraceError(
                f"{what} needs the concrete value of a traced tensor {self.value.type}, which is "
                "not known while tracing. Python control flow on tensor values cannot be "
                "compiled; fix: use em.where(cond, a, b) for elementwise choices, em.cond for "
                "branches, em.fori_loop / em.while_loop / em.scan for loops, or do this "
                "outside forward"
            )
        )

    def __bool__(self):
        self._concrete("bool(tensor) / `if tensor:`")

    def __float__(self):
        self._concrete("float(tensor)")

    def __int__(self):
        self._concrete("int(tensor)")

    def __index__(self):
        self._concrete("using a tensor as a Python index")

    def item(self):
        self._concrete("tensor.item()")

    def tolist(self):
        self._concrete("tensor.tolist()")

    def numpy(self):
        self._concrete("tensor.numpy()")

    def __array__(self, *args, **kwargs):
        self._concrete("converting a tensor to a numpy array")

    # PyTorch idioms that are no-ops in a compiled graph
    def contiguous(self, *args, **kwargs) -> Tensor:
        return self

    def detach(self) -> Tensor:
        from .functional import stop_gradient

        return stop_gradient(self)

    def clone(self) -> Tensor:
        return self

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args, **kwargs) -> Tensor:
        return self

    @property
    def device(self) -> str:
        return "xla"

    @property
    def requires_grad(self) -> bool:
        return True


def tensor_method(*names: str):
    """Decorator: also expose a functional op as `Tensor.<name>` for each name given."""

    def attach(fn):
        for name in names or (fn.__name__,):
            setattr(Tensor, name, fn)
        return fn

    return attach
