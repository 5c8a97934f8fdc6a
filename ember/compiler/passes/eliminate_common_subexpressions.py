"""Merge nodes that compute the same op on the same operands with the same attrs."""

from __future__ import annotations

from ember.graphdef import Graph, Value, get_op

from .rewrite import map_subgraphs, substitute


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Replace repeated pure computations by their first occurrence, in bodies too.

    Frozen attrs hash with their types (0.0 and -0.0, 1 and 1.0 stay apart).
    Stochastic ops (dropout) are merged only when their salt matches, which
    the tracer makes unique per call, so two dropouts never collapse.
    """
    seen: dict[tuple, tuple[Value, ...]] = {}
    mapping: dict[Value, Value] = {}
    kept, changed = [], False

    def canonical(v: Value) -> Value:
        return mapping.get(v, v)

    for node in graph.nodes:
        new = map_subgraphs(node, eliminate_common_subexpressions)
        changed |= new is not node
        if not get_op(node.op).pure or node.subgraphs:
            kept.append(new)
            continue
        key = (node.op, tuple(canonical(v) for v in node.inputs), node.attrs)
        if key in seen:
            for old, first in zip(node.outputs, seen[key], strict=True):
                mapping[old] = first
            continue
        seen[key] = node.outputs
        kept.append(new)
    if not mapping and not changed:
        return graph
    return substitute(graph, kept, mapping)
