"""Choose backend-specific lowering rules and record the choice in the IR.

For each node whose op has alternatives on the target backend
(`ember.compiler.lowering.backend_rules.BACKEND_RULES`), the first alternative
that applies is written as `meta{rule=<name>}`; `lower` then uses that rule
instead of the op's default. Control-flow bodies are visited too. The backend
is JAX's default backend unless given.

>>> graph = choose_lowering_rules(graph)            # on CPU: meta{rule=conv_im2col} ...
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from ember.compiler.lowering.backend_rules import BACKEND_RULES
from ember.graphdef import Graph
from ember.graphdef.rewriter import Rewriter


class _Choose(Rewriter):
    def __init__(self, graph: Graph, table: dict):
        super().__init__(graph)
        self.table = table

    def visit(self, node, inputs):
        if node.subgraphs:
            bodies = tuple(choose_rules(g, self.table) for g in node.subgraphs)
            return self.emit(
                node.op, inputs, node.attrs, subgraphs=bodies, source=node.source, meta=node.meta
            )
        for name, applies in self.table.get(node.op, ()):
            if applies(node):
                meta = {**node.meta, "rule": name}
                return self.emit(node.op, inputs, node.attrs, source=node.source, meta=meta)
        return super().visit(node, inputs)


def _chooses(graph: Graph, table: dict) -> bool:
    """Does an alternative apply to a node of `graph` or of its bodies?"""
    return any(
        any(applies(n) for _, applies in table.get(n.op, ()))
        or any(_chooses(g, table) for g in n.subgraphs)
        for n in graph.nodes
    )


def choose_rules(graph: Graph, table: dict) -> Graph:
    """`graph` with `meta{rule=...}` on each node that an entry of `table` (op -> [(rule
    name, applies)], first match wins) applies to; the graph itself (and each body in it
    that nothing applies to) when none does."""
    if not table or not _chooses(graph, table):
        return graph
    return _Choose(graph, table).run()


def lowering_rules_for(backend: str | None = None) -> Callable[[Graph], Graph]:
    """The pass for `backend` ("cpu", "gpu", "tpu"; None: JAX's default backend)."""

    def choose_lowering_rules(graph: Graph) -> Graph:
        return choose_rules(graph, BACKEND_RULES.get(backend or jax.default_backend(), {}))

    return choose_lowering_rules


choose_lowering_rules = lowering_rules_for()
