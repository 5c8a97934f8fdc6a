"""Safe JSON (de)serialization of graphs: plain data in, registry lookups out.

Loading never executes code: ops resolve through the registry by name, attrs
are JSON scalars and lists, and no module is imported by name.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import GraphParseError
from .ir import Graph, GraphInput, Node, Source, Value
from .registry import get_op
from .types import TensorType

FORMAT = "ember.graph/1"


def _attr_to_json(value: Any) -> Any:
    return [_attr_to_json(v) for v in value] if isinstance(value, tuple) else value


def _attr_from_json(value: Any) -> Any:
    return tuple(_attr_from_json(v) for v in value) if isinstance(value, list) else value


def _graph_to_obj(graph: Graph) -> dict:
    ids: dict[int, int] = {}

    def vid(v: Value) -> int:
        return ids.setdefault(id(v), len(ids))

    return {
        "name": graph.name,
        "inputs": [
            {"kind": gi.kind, "name": gi.name, "id": vid(gi.value), "type": str(gi.value.type)}
            for gi in graph.inputs
        ],
        "nodes": [
            {
                "op": n.op,
                "inputs": [vid(v) for v in n.inputs],
                "attrs": {k: _attr_to_json(v) for k, v in sorted(n.attrs.items())},
                "outputs": [{"id": vid(v), "type": str(v.type)} for v in n.outputs],
                "source": [n.source.module_path, n.source.file, n.source.line],
                "subgraphs": [_graph_to_obj(g) for g in n.subgraphs],
            }
            for n in graph.nodes
        ],
        "outputs": [vid(v) for v in graph.outputs],
        "updates": [[name, vid(v)] for name, v in graph.updates],
    }


def graph_to_json(graph: Graph) -> str:
    """Serialize to a JSON string (`Graph.from_json` reads it back)."""
    return json.dumps({"format": FORMAT, "graph": _graph_to_obj(graph)}, indent=1)


def _graph_from_obj(obj: dict) -> Graph:
    env: dict[int, Value] = {}

    def get(i: int) -> Value:
        if i not in env:
            raise GraphParseError(f"value id {i} is used before it is defined")
        return env[i]

    inputs = []
    for item in obj["inputs"]:
        v = Value(TensorType.parse(item["type"]), item["name"])
        env[item["id"]] = v
        inputs.append(GraphInput(item["kind"], item["name"], v))
    nodes = []
    for item in obj["nodes"]:
        get_op(item["op"])
        ins = tuple(get(i) for i in item["inputs"])
        outs = []
        for o in item["outputs"]:
            outs.append(Value(TensorType.parse(o["type"])))
            env[o["id"]] = outs[-1]
        path, file, line = item["source"]
        nodes.append(
            Node(
                item["op"],
                ins,
                {k: _attr_from_json(v) for k, v in item["attrs"].items()},
                tuple(outs),
                Source(str(path), str(file), int(line)),
                tuple(_graph_from_obj(g) for g in item.get("subgraphs", [])),
            )
        )
    return Graph(
        tuple(inputs),
        tuple(nodes),
        tuple(get(i) for i in obj["outputs"]),
        tuple((str(name), get(i)) for name, i in obj["updates"]),
        str(obj["name"]),
    )


def graph_from_json(text: str) -> Graph:
    """Read a graph written by `graph_to_json`; malformed input raises GraphParseError."""
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise GraphParseError(f"not an ember graph file (format {data.get('format')!r})")
        return _graph_from_obj(data["graph"])
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, GraphParseError):
            raise
        raise GraphParseError(f"malformed graph JSON: {type(e).__name__}: {e}") from None
