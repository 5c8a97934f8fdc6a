"""Remove nodes whose results reach no output or buffer update."""

from __future__ import annotations

from ember.graphdef import Graph, get_op


def eliminate_dead_code(graph: Graph) -> Graph:
    """Return a graph without unused nodes (impure ops are always kept).

    >>> print(eliminate_dead_code(graph))
    """
    live = {id(v) for v in graph.outputs} | {id(v) for _, v in graph.updates}
    kept = []
    for node in reversed(graph.nodes):
        if not get_op(node.op).pure or any(id(v) in live for v in node.outputs):
            kept.append(node)
            live.update(id(v) for v in node.inputs)
    kept.reverse()
    if len(kept) == len(graph.nodes):
        return graph
    return graph.replace(nodes=tuple(kept))
