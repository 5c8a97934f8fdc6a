"""Merge nodes that compute the same op on the same operands with the same attrs."""

from __future__ import annotations

from ember.graphdef import Graph, Value, get_op

from .rewrite import substitute


def _key(node, canonical):
    # repr keeps 0.0 / -0.0 and 1 / 1.0 / True apart (they compare equal in Python)
    attrs = tuple(sorted((k, type(v).__name__, repr(v)) for k, v in node.attrs.items()))
    return (node.op, tuple(id(canonical.get(id(v), v)) for v in node.inputs), attrs)


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Replace repeated pure computations by their first occurrence.

    Stochastic ops (dropout) are merged only when their salt matches, which
    the tracer makes unique per call, so two dropouts never collapse.
    """
    seen: dict[tuple, tuple[Value, ...]] = {}
    mapping: dict[int, Value] = {}
    kept = []
    for node in graph.nodes:
        opdef = get_op(node.op)
        if not opdef.pure or node.subgraphs:
            kept.append(node)
            continue
        try:
            key = _key(node, mapping)
            hash(key)
        except TypeError:
            kept.append(node)
            continue
        if key in seen:
            for old, new in zip(node.outputs, seen[key], strict=True):
                mapping[id(old)] = new
            continue
        seen[key] = node.outputs
        kept.append(node)
    if not mapping:
        return graph
    return substitute(graph, kept, mapping)
