"""Remove nodes whose results reach no output or buffer update, in bodies too."""

from __future__ import annotations

from ember.graphdef import Graph, get_op

from .rewrite import map_subgraphs


def eliminate_dead_code(graph: Graph) -> Graph:
    """Return a graph without unused nodes (impure ops are always kept).

    Control-flow bodies are cleaned the same way; their signatures (inputs and
    results) are part of the op and stay as they are.

    >>> print(eliminate_dead_code(graph))
    """
    live = set(graph.outputs) | {v for _, v in graph.updates}
    kept, changed = [], False
    for node in reversed(graph.nodes):
        if not get_op(node.op).pure or any(v in live for v in node.outputs):
            new = map_subgraphs(node, eliminate_dead_code)
            changed |= new is not node
            kept.append(new)
            live.update(node.inputs)
    kept.reverse()
    if len(kept) == len(graph.nodes) and not changed:
        return graph
    return graph.replace(nodes=tuple(kept))
