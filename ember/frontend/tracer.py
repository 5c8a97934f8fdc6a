"""Tracing: run a Module's `forward` on `Tensor` proxies and record a `Graph`.

A `GraphBuilder` is active while tracing. Every op call goes through
`emit`, which infers result types from the registry, stamps the node with the
current module path and the user's file:line, and wraps the results as Tensors.
"""

from __future__ import annotations

import os
import sys
import threading
import zlib
from collections.abc import Sequence
from typing import Any

from ember.errors import EmberError, TraceError, with_location
from ember.graphdef import dtypes
from ember.graphdef.ir import Graph, GraphInput, Node, Source, Value
from ember.graphdef.registry import check_attr, get_op
from ember.graphdef.types import TensorType

# > 0 while an eager call (`net(x)` on lazy tensors) traces its module's forward
EAGER_CALL_TRACE = [0]


def is_grad_enabled() -> bool:
    from ember.frontend.lazy import is_grad_enabled as enabled

    return enabled()


_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_local = threading.local()


def current_builder() -> GraphBuilder | None:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def is_tracing(builder: Any) -> bool:
    """`builder`'s trace is still being recorded (not finished)."""
    return any(b is builder for b in getattr(_local, "stack", ()))


_IN_EMBER: dict[str, bool] = {}


def _in_ember(filename: str) -> bool:
    inside = _IN_EMBER.get(filename)
    if inside is None:
        inside = _IN_EMBER[filename] = os.path.abspath(filename).startswith(_EMBER_DIR + os.sep)
    return inside


def user_frame() -> tuple[str, int]:
    """The innermost stack frame outside the ember package: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _in_ember(filename):
            return filename, frame.f_lineno
        frame = frame.f_back
    return "", 0


def user_site() -> tuple[str, int, Any]:
    """`user_frame()` and the place within that line: (code, bytecode offset), equal only
    for the same operation of the user's code (a loop's next pass), not for two ops of
    one expression."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if not _in_ember(code.co_filename):
            return code.co_filename, frame.f_lineno, (code, frame.f_lasti)
        frame = frame.f_back
    return "", 0, None


def traceback_user_frame(tb) -> tuple[str, int]:
    """The innermost frame of a traceback outside the ember package: the user's line that
    led to an error ("", 0 when every frame is ember's)."""
    found = ("", 0)
    while tb is not None:
        if not _in_ember(tb.tb_frame.f_code.co_filename):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _effective(t: TensorType) -> TensorType:
    return TensorType(t.shape, dtypes.effective(t.dtype))


def _slot_type(value) -> TensorType:
    from ember.nn.parameter import slot_type

    return slot_type(value)


class GraphBuilder:
    """Collects inputs and nodes while a trace is running."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list[GraphInput] = []
        self.input_kinds: dict[Value, str] = {}
        self.nodes: list[Node] = []
        self.module_stack: list[str] = []
        self.module_paths: dict[int, str] = {}
        self.state_tensors: dict[int, Any] = {}  # id(param) / (id(module), buffer) -> Tensor
        self.state_objects: dict[str, Any] = {}  # input name -> Parameter or (module, buffer)
        self.buffer_updates: dict[str, Value] = {}
        self._rng: Any = None
        self._salt_counts: dict[str, int] = {}

    # -- context ------------------------------------------------------------
    def __enter__(self) -> GraphBuilder:
        if not hasattr(_local, "stack"):
            _local.stack = []
        _local.stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _local.stack.pop()

    @property
    def module_path(self) -> str:
        return self.module_stack[-1] if self.module_stack else ""

    def source(self) -> Source:
        file, line = user_frame()
        return Source(self.module_path, file, line)

    def error(self, error: EmberError) -> EmberError:
        """Attach the module path and user's file:line to an error."""
        return with_location(error, self.module_path, self.source().location)

    def locate(self, error: EmberError) -> EmberError:
        """`error` as raised to the user: an error from outside `emit` (an argument check in
        functional code, e.g. a dim out of range) gets the current module path and the user's
        line it came from; one that already says where is returned as is. Called where a
        module's forward (or a traced function) exits with an error."""
        if error.located:
            return error
        file, line = traceback_user_frame(error.__traceback__)
        source = Source(self.module_path, file, line) if file else self.source()
        located = with_location(error, self.module_path, source.location)
        return located.with_traceback(error.__traceback__)

    # -- inputs ---------------------------------------------------------------
    def add_input(self, kind: str, name: str, type: TensorType):
        from ember.frontend.tensor import Tensor

        if any(i.name == name for i in self.inputs):
            raise TraceError(f"two graph inputs are named {name!r}")
        value = Value(type, name)
        self.inputs.append(GraphInput(kind, name, value))
        self.input_kinds[value] = kind
        return Tensor(value, self)

    def register_module_tree(self, root, prefix: str = "") -> None:
        """Make `root`'s parameters and buffers graph inputs named like state_dict keys
        (a parameter with gradient hooks is read through them, see `grad_hooks`).

        Their types are the dtypes JAX computes in (`dtypes.effective`: a float64 parameter
        is float32 without x64), as for data inputs; the runtime converts the arrays alike."""
        from ember.frontend.grad_hooks import hooked_parameter

        for path, module in root.named_modules(prefix=prefix):
            self.module_paths.setdefault(id(module), path)
        for name, param in root.named_parameters(prefix=prefix):
            if id(param) not in self.state_tensors:
                t = self.add_input("param", name, _effective(TensorType(param.shape, param.dtype)))
                self.state_tensors[id(param)] = hooked_parameter(param, t, name)
                self.state_objects[name] = param
        for path, module in root.named_modules(prefix=prefix):
            for bname, value in module._buffers.items():
                if value is None:
                    continue
                full = f"{path}.{bname}" if path else bname
                t = self.add_input("buffer", full, _effective(_slot_type(value)))
                self.state_tensors[(id(module), bname)] = t
                self.state_objects[full] = (module, bname)

    def param_tensor(self, param):
        t = self.state_tensors.get(id(param))
        if t is None:
            raise self.error(
                TraceError(
                    f"a Parameter of shape {tuple(param.shape)} is used in forward but is not "
                    "registered in the traced module tree; fix: assign it as a module attribute "
                    "(self.w = nn.Parameter(...)) of a submodule of the model"
                )
            )
        return t

    def buffer_tensor(self, module, name: str):
        return self.state_tensors.get((id(module), name))

    def write_buffer(self, module, name: str, tensor) -> None:
        """A module assigned a traced value to a buffer: emit a `buffer_write` node."""
        key = (id(module), name)
        if key not in self.state_tensors:
            raise self.error(TraceError(f"buffer {name!r} is not part of the traced model"))
        full = next(
            n
            for n, obj in self.state_objects.items()
            if isinstance(obj, tuple) and obj[0] is module and obj[1] == name
        )
        tensor = self.buffer_value(full, self.state_tensors[key], tensor)
        (new,) = self.emit("buffer_write", [tensor], {"name": full})
        self.state_tensors[key] = new

    def buffer_value(self, name: str, old, tensor):
        """`tensor` as the new value of buffer `name` (now `old`): same shape, old's dtype."""
        if tuple(tensor.shape) != tuple(old.shape):
            from ember.errors import ShapeError

            raise self.error(
                ShapeError(
                    f"buffer {name!r} has shape {tuple(old.shape)} but forward assigns a value "
                    f"of shape {tuple(tensor.shape)}; fix: keep buffer shapes fixed"
                )
            )
        return tensor if tensor.dtype == old.dtype else tensor.to(old.dtype)

    def rng_tensor(self):
        if self._rng is None:
            self._rng = self.add_input("rng", "rng", TensorType((2,), "uint32"))
        return self._rng

    def salt(self) -> int:
        """A stable per-node RNG salt from the module path (and a per-path counter)."""
        path = self.module_path
        count = self._salt_counts.get(path, 0)
        self._salt_counts[path] = count + 1
        return zlib.crc32(f"{path}#{count}".encode()) & 0x7FFFFFFF

    # -- nodes ------------------------------------------------------------------
    def emit(
        self, op: str, inputs: Sequence, attrs: dict | None = None, subgraphs: Sequence = ()
    ) -> list:
        from ember.frontend.tensor import Tensor

        for t in inputs:
            if getattr(t, "_view", None) is not None:
                t._current()  # a view whose root changed is recomputed first
        inner = current_builder()
        if inner is not self and self in getattr(inner, "enclosing", ()):
            # an op on closed-over tensors inside a control-flow body belongs to the body
            return inner.emit(op, inputs, attrs, subgraphs)
        attrs = dict(attrs or {})
        opdef = get_op(op)
        values = []
        for t in inputs:
            if not isinstance(t, Tensor) or t.builder is not self:
                raise self.error(TraceError(f"{op}: operand {t!r} is not a tensor of this trace"))
            values.append(t.value)
        for key, kind in opdef.attrs.items():
            if key not in attrs or not check_attr(kind, attrs[key]):
                raise self.error(TraceError(f"{op}: attr {key}={attrs.get(key)!r} is not a {kind}"))
        try:
            extra = {"subgraphs": tuple(subgraphs)} if subgraphs else {}
            types = list(opdef.infer([v.type for v in values], **attrs, **extra))
        except EmberError as e:
            raise self.error(e) from None
        outs = tuple(Value(t) for t in types)
        source = self.source()
        self.nodes.append(Node(op, tuple(values), attrs, outs, source, tuple(subgraphs)))
        if not is_grad_enabled() and opdef.differentiable and op != "stop_gradient":
            outs = tuple(self._stop_gradient(v, source) for v in outs)  # `with em.no_grad():`
        return [Tensor(v, self) for v in outs]

    def _stop_gradient(self, value: Value, source: Source) -> Value:
        if value.type.dtype not in ("float16", "bfloat16", "float32", "float64"):
            return value
        out = Value(value.type)
        self.nodes.append(Node("stop_gradient", (value,), {}, (out,), source))
        return out

    def build(self, outputs: Sequence) -> Graph:
        from ember.frontend.tensor import Tensor

        for o in outputs:
            if not isinstance(o, Tensor):
                raise TraceError(
                    "forward must return tensors (or tuples/lists/dicts of them); "
                    f"got {type(o).__name__}"
                )
        return Graph(
            tuple(self.inputs),
            tuple(self.nodes),
            tuple(o.value for o in outputs),
            (),
            self.name,
        )
