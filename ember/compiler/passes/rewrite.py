"""A small helper for passes that replace values: rebuild nodes with substituted inputs.

Passes that create nodes use `ember.graphdef.rewriter.Rewriter` (it re-infers types);
this one only rewires uses and is the cheap path for removing nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ember.graphdef import Graph, Node, Value
from ember.graphdef.ir import GraphInput


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


def body_input(graph: Graph, value: Value, name: str) -> GraphInput:
    """A body's input for outer `value`: a graph input keeps its kind and name."""
    for gi in graph.inputs:
        if gi.value is value:
            return GraphInput(gi.kind, gi.name, Value(value.type))
    return GraphInput("data", name, Value(value.type))


def region_body(
    nodes: Sequence[Node],
    inputs: Sequence[tuple[Value, GraphInput]],
    results: Sequence[Value],
    name: str,
) -> Graph:
    """`nodes` as a self-contained sub-graph computing `results`: each (outer value,
    input) pair is a value the nodes read from outside; every other value is fresh."""
    env = {outer: gi.value for outer, gi in inputs}
    body = []
    for node in nodes:
        outs = tuple(Value(v.type) for v in node.outputs)
        env.update(zip(node.outputs, outs, strict=True))
        body.append(node.replace(inputs=tuple(env[v] for v in node.inputs), outputs=outs))
    return Graph(
        tuple(gi for _, gi in inputs), tuple(body), tuple(env[v] for v in results), name=name
    )
