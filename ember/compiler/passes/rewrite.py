"""A small helper for passes that replace values: rebuild nodes with substituted inputs."""

from __future__ import annotations

from ember.graphdef import Graph, Node, Value


def substitute(graph: Graph, nodes: list[Node], mapping: dict[int, Value]) -> Graph:
    """Rebuild `graph` with `nodes`, rewiring every use of a key of `mapping` (by id)."""

    def sub(v: Value) -> Value:
        while id(v) in mapping:
            v = mapping[id(v)]
        return v

    new_nodes = tuple(
        n
        if not any(id(v) in mapping for v in n.inputs)
        else n.replace(inputs=tuple(sub(v) for v in n.inputs))
        for n in nodes
    )
    return graph.replace(
        nodes=new_nodes,
        outputs=tuple(sub(v) for v in graph.outputs),
        updates=tuple((name, sub(v)) for name, v in graph.updates),
    )
