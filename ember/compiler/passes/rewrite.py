"""A small helper for passes that replace values: rebuild nodes with substituted inputs.

Passes that create nodes use `ember.graphdef.rewriter.Rewriter` (it re-infers types);
this one only rewires uses and is the cheap path for removing nodes.
"""

from __future__ import annotations

from collections.abc import Callable

from ember.graphdef import Graph, Node, Value


def substitute(graph: Graph, nodes: list[Node], mapping: dict[Value, Value]) -> Graph:
    """Rebuild `graph` with `nodes`, rewiring every use of a key of `mapping`."""

    def sub(v: Value) -> Value:
        while v in mapping:
            v = mapping[v]
        return v

    new_nodes = tuple(
        n
        if not any(v in mapping for v in n.inputs)
        else n.replace(inputs=tuple(sub(v) for v in n.inputs))
        for n in nodes
    )
    return graph.replace(
        nodes=new_nodes,
        outputs=tuple(sub(v) for v in graph.outputs),
        updates=tuple((name, sub(v)) for name, v in graph.updates),
    )


def map_subgraphs(node: Node, graph_pass: Callable[[Graph], Graph]) -> Node:
    """`node` with `graph_pass` applied to each of its sub-graph bodies (signatures kept)."""
    if not node.subgraphs:
        return node
    bodies = tuple(graph_pass(g) for g in node.subgraphs)
    if all(new is old for new, old in zip(bodies, node.subgraphs, strict=True)):
        return node
    return node.replace(subgraphs=bodies)
