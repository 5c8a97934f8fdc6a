"""A re-emitting graph rewriter: passes that insert or replace nodes build on it.

Like torch.fx's `Transformer`: the rewriter walks a graph node by node and
re-emits each one through `emit`, which re-runs the registry's type inference,
so a pass can insert casts, sharding constraints or whole sub-computations and
get correct result types. Inserted nodes keep the `source` (module path and
file:line) of the node being rewritten, so provenance survives every pass.

>>> class DoubleRelu(Rewriter):
...     def visit(self, node, inputs):
...         outs = super().visit(node, inputs)
...         if node.op == "relu":
...             outs = self.emit("relu", outs)
...         return outs
>>> new_graph = DoubleRelu(graph).run()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.errors import EmberError, VerifyError
from ember.graphdef.ir import EMPTY, Graph, GraphInput, Node, Source, Value
from ember.graphdef.registry import get_op


class Rewriter:
    """Rebuild `graph`; override `visit` (and optionally `visit_input`) to change it."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.env: dict[Value, Value] = {}  # old value -> new value
        self.nodes: list[Node] = []
        self.current: Node | None = None

    # -- building -------------------------------------------------------------------
    def emit(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        *,
        subgraphs: Sequence[Graph] = (),
        source: Source | None = None,
        meta: dict[str, Any] | None = None,
    ) -> tuple[Value, ...]:
        """Append `op(*inputs)` with types inferred by the registry; return its results."""
        attrs = dict(attrs or {})
        extra = {"subgraphs": tuple(subgraphs)} if subgraphs else {}
        try:
            types = get_op(op).infer([v.type for v in inputs], **attrs, **extra)
        except EmberError as e:
            where = source or (self.current.source if self.current else Source())
            raise VerifyError(f"rewriting {op} ({where}): {e}") from None
        outs = tuple(Value(t) for t in types)
        if source is None:
            source = self.current.source if self.current is not None else Source()
        self.nodes.append(
            Node(op, tuple(inputs), attrs, outs, source, tuple(subgraphs), meta or EMPTY)
        )
        return outs

    def lookup(self, value: Value) -> Value:
        return self.env.get(value, value)

    # -- hooks ----------------------------------------------------------------------
    def visit_input(self, graph_input: GraphInput) -> GraphInput:
        """The new graph's input for `graph_input` (default: unchanged)."""
        return graph_input

    def visit(self, node: Node, inputs: list[Value]) -> Sequence[Value]:
        """The values replacing `node`'s results; default: re-emit the node as is."""
        return self.emit(
            node.op,
            inputs,
            node.attrs,
            subgraphs=node.subgraphs,
            source=node.source,
            meta=node.meta,
        )

    # -- driving --------------------------------------------------------------------
    def run(self) -> Graph:
        inputs = []
        for gi in self.graph.inputs:
            new = self.visit_input(gi)
            if new.value is not gi.value:
                self.env[gi.value] = new.value
            inputs.append(new)
        for node in self.graph.nodes:
            self.current = node
            outs = self.visit(node, [self.lookup(v) for v in node.inputs])
            if len(outs) != len(node.outputs):
                raise VerifyError(
                    f"rewriting {node.op} ({node.source}) gave {len(outs)} results, "
                    f"expected {len(node.outputs)}"
                )
            for old, new in zip(node.outputs, outs, strict=True):
                if new.type != old.type:
                    raise VerifyError(
                        f"rewriting {node.op} ({node.source}) changed a result type from "
                        f"{old.type} to {new.type}; insert a cast to keep the graph's types"
                    )
                if new is not old:
                    self.env[old] = new
        self.current = None
        return self.graph.replace(
            inputs=tuple(inputs),
            nodes=tuple(self.nodes),
            outputs=tuple(self.lookup(v) for v in self.graph.outputs),
            updates=tuple((name, self.lookup(v)) for name, v in self.graph.updates),
        )
