"""Tracing control-flow bodies (em.cond/scan/fori_loop/while_loop) into sub-graphs.

A body is traced by a `SubgraphBuilder` nested in the enclosing trace. Tensors
of enclosing traces that the body reads (closures, parameters, buffers) are
*captured*: each becomes an extra input of the sub-graph, and the enclosing
trace passes it as an operand of the control-flow node, so every sub-graph is
self-contained. Ops called on closed-over tensors only are recorded in the
body too (`GraphBuilder.emit` forwards them to the innermost active trace).
Bodies are plain Python functions over pytrees (tuples, lists, dicts,
namedtuples and None) of tensors, as in `jax.lax`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ember.errors import ShapeError, TraceError
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import GraphBuilder, current_builder
from ember.graphdef.ir import Graph, GraphInput, Value
from ember.graphdef.pytree import describe, tree_flatten, tree_unflatten  # noqa: F401
from ember.graphdef.types import TensorType
from ember.nn.parameter import Parameter

# -- the nested builder ----------------------------------------------------------------


class SubgraphBuilder(GraphBuilder):
    """Traces one body of a control-flow op inside an enclosing trace.

    `enclosing` lists the builders of the enclosing traces, innermost first.
    Loop bodies (`loop=True`) refuse random ops: a key captured from outside
    would repeat the same random draw at every iteration.
    """

    def __init__(self, parent: GraphBuilder, name: str, op: str, *, loop: bool):
        super().__init__(name)
        self.parent, self.op, self.loop = parent, op, loop
        self.enclosing = (parent, *getattr(parent, "enclosing", ()))
        self.module_paths = parent.module_paths  # module paths are those of the whole model
        self.module_stack = list(parent.module_stack)
        self._salt_counts = parent._salt_counts  # RNG salts stay unique across bodies
        self.captures: dict[Value, tuple[Tensor, GraphInput]] = {}
        self.buffer_writes: dict[tuple[int, str], tuple[Any, str, Tensor]] = {}
        self._names: set[str] = set()

    def unique_name(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._names:
            name, k = f"{hint}_{k}", k + 1
        self._names.add(name)
        return name

    def arg(self, hint: str, type: TensorType) -> Tensor:
        """A body argument (carried value, sequence slice, loop index)."""
        return self.add_input("data", self.unique_name(hint), type)

    def capture(self, t: Tensor) -> Tensor:
        """The body's input standing for `t`, a tensor of an enclosing trace."""
        if t.builder is self:
            return t
        if t.builder is not self.parent:
            t = self.parent.capture(t)  # thread it through every level in between
        hit = self.captures.get(t.value)
        if hit is None:
            # parameters, buffers and the RNG key keep their kind inside the body
            kind = t.builder.input_kinds.get(t.value, "data")
            if kind == "rng" and self.loop:
                raise self.error(TraceError(self._no_rng()))
            inner = self.add_input(kind, self.unique_name(t.value.name or "captured"), t.value.type)
            self.captures[t.value] = (t, self.inputs[-1])
            return inner
        return Tensor(hit[1].value, self)

    def to_tensor(self, x: Any, dtype: str | None = None) -> Tensor:
        """A body result as a tensor of this body (captures outer tensors, makes scalars)."""
        from ember.nn.functional._core import as_tensor

        if isinstance(x, Tensor) and x.builder in self.enclosing:
            return self.capture(x)
        if isinstance(x, Parameter):
            return self.param_tensor(x)
        return as_tensor(x, self, dtype)

    # -- state reads go through the enclosing trace, then get captured -------------------
    def emit(self, op: str, inputs: Sequence, attrs: dict | None = None, subgraphs: Sequence = ()):
        for t in inputs:
            if getattr(t, "_view", None) is not None:
                t._current()
        inputs = [
            self.capture(t) if isinstance(t, Tensor) and t.builder in self.enclosing else t
            for t in inputs
        ]
        return super().emit(op, inputs, attrs, subgraphs)

    def param_tensor(self, param):
        outer = self.parent.param_tensor(param)
        if outer is param:  # the lazy graph's: the parameter's own leaf there
            outer = Tensor(param.lazy_leaf(), self.parent)
        return self.capture(outer)

    def buffer_tensor(self, module, name: str):
        written = self.buffer_writes.get((id(module), name))
        if written is not None:
            return written[2]  # read after the body's own write
        t = self.parent.buffer_tensor(module, name)
        return None if t is None else self.capture(t)

    def write_buffer(self, module, name: str, tensor) -> None:
        """A remat body may write buffers (BatchNorm's running statistics): the value
        becomes an extra result, written once after the node (`utils.checkpoint`)."""
        if self.op != "remat":
            raise self.error(
                TraceError(
                    f"buffer {name!r} is assigned inside an em.{self.op} body; buffer writes "
                    f"inside control flow are not supported; fix: return the new value from "
                    f"the body and assign it after em.{self.op}"
                )
            )
        tensor = self.buffer_value(name, getattr(module, name), self.to_tensor(tensor))
        self.buffer_writes[(id(module), name)] = (module, name, tensor)

    def rng_tensor(self):
        if self.loop:
            raise self.error(TraceError(self._no_rng()))
        return self.capture(self.parent.rng_tensor())

    def _no_rng(self) -> str:
        return (
            f"a random op (dropout) is used inside an em.{self.op} body; the same key would "
            f"repeat its draw at every iteration, so this is not supported; fix: apply "
            f"dropout to the inputs or results outside em.{self.op}"
        )


@dataclass
class Body:
    """A traced body: its builder, explicit arguments, results and result structure."""

    builder: SubgraphBuilder
    args: list[Tensor]
    results: list[Tensor]
    structure: Any

    def graph(self, captures: Sequence[Tensor]) -> Graph:
        """The sub-graph with inputs (args, *captures); captures it does not use stay unused."""
        b = self.builder
        inputs = list(b.inputs[: len(self.args)])
        for outer in captures:
            hit = b.captures.get(outer.value)
            if hit is None:
                name = b.unique_name(outer.value.name or "captured")
                kind = outer.builder.input_kinds.get(outer.value, "data")
                hit = (outer, GraphInput(kind, name, Value(outer.value.type, name)))
            inputs.append(hit[1])
        return Graph(
            tuple(inputs), tuple(b.nodes), tuple(r.value for r in self.results), (), b.name
        )


def parent_builder() -> GraphBuilder:
    """The innermost active trace (control-flow ops are recorded there)."""
    builder = current_builder()
    if builder is None:
        from ember.nn.functional._core import active_builder

        return active_builder()  # raises the "only inside a traced forward" error
    return builder


def body_name(fn: Callable, default: str) -> str:
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() else default


def trace_body(
    parent: GraphBuilder,
    op: str,
    fn: Callable,
    arg_types: Sequence[tuple[str, TensorType]],
    call: Callable[[list[Tensor]], Any],
    *,
    loop: bool,
    result_dtypes: Sequence[str] | None = None,
    default_name: str | None = None,
) -> Body:
    """Trace `call(args)` (which calls `fn`) into a new sub-graph of `parent`."""
    name = body_name(fn, default_name or f"{op}_body")
    with SubgraphBuilder(parent, name, op, loop=loop) as b:
        args = [b.arg(hint, t) for hint, t in arg_types]
        out = call(args)
        leaves, structure = tree_flatten(out)
        dtypes = list(result_dtypes or [])
        results = [
            b.to_tensor(x, dtypes[k] if k < len(dtypes) else None) for k, x in enumerate(leaves)
        ]
    return Body(b, args, results, structure)


def join_captures(bodies: Sequence[Body]) -> list[Tensor]:
    """The enclosing tensors captured by any of `bodies`, each once, in first-use order."""
    seen, out = set(), []
    for body in bodies:
        for key, (outer, _) in body.builder.captures.items():
            if key not in seen:
                seen.add(key)
                out.append(outer)
    return out


def same_structure(parent: GraphBuilder, op: str, what: str, want: Any, got: Any) -> None:
    if want != got:
        raise parent.error(
            TraceError(
                f"{op}: {what} has structure {describe(got)} but {describe(want)} was "
                "expected; fix: return the same nesting of tuples/lists/dicts"
            )
        )


def sequence_length(parent: GraphBuilder, xs: Sequence[Tensor], length: int | None) -> int:
    """The common leading dim of the scanned sequences (and `length`, if given)."""
    for x in xs:
        if x.ndim == 0:
            raise parent.error(
                ShapeError(
                    f"scan: xs leaves need a leading (time) dim, got a 0-d tensor {x.value.type}"
                )
            )
    lengths = {x.shape[0] for x in xs}
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        shown = ", ".join(str(x.value.type) for x in xs)
        given = f" and length={length}" if length is not None else ""
        raise parent.error(
            ShapeError(
                f"scan: xs leaves have types {shown}{given}, whose "
                f"leading dims {sorted(lengths)} differ; fix: give every "
                "sequence the same leading (time) dimension"
            )
        )
    if not lengths:
        raise parent.error(
            TraceError("scan: with no xs, the number of steps is unknown; fix: pass length=N")
        )
    return lengths.pop()
