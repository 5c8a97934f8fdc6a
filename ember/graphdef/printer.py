"""The canonical text form of a graph: one line per node, deterministic.

    graph Net(
        data  %x: f32[64,784],
        param %fc1.weight: f32[128,784],
    ) {
      %0: f32[64,128] = linear(%x, %fc1.weight, %fc1.bias)  # fc1 @ net.py:12
      return (%0)
    }

Inputs print by name; every other value is numbered in definition order, so
two graphs that differ only in value names print identically.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .ir import Graph, Value


def format_attr(value: Any) -> str:
    return json.dumps(_to_json(value))


def _to_json(value: Any) -> Any:
    return [_to_json(v) for v in value] if isinstance(value, tuple) else value


def format_attrs(attrs: dict[str, Any]) -> str:
    if not attrs:
        return ""
    return " {" + ", ".join(f"{k}={format_attr(attrs[k])}" for k in sorted(attrs)) + "}"


def print_graph(graph: Graph, indent: str = "") -> str:
    names: dict[int, str] = {}
    for gi in graph.inputs:
        names[id(gi.value)] = gi.name
    counter = [0]

    def name_of(v: Value) -> str:
        key = id(v)
        if key not in names:
            names[key] = str(counter[0])
            counter[0] += 1
        return "%" + names[key]

    width = max((len(i.kind) for i in graph.inputs), default=0)
    lines = [f"{indent}graph {graph.name}("]
    for gi in graph.inputs:
        lines.append(f"{indent}    {gi.kind.ljust(width)} %{gi.name}: {gi.value.type},")
    lines.append(f"{indent}) {{")
    for node in graph.nodes:
        outs = ", ".join(f"{name_of(v)}: {v.type}" for v in node.outputs)
        args = ", ".join(name_of(v) for v in node.inputs)
        src = node.source
        where = src.module_path or "<root>"
        if src.file:
            where += f" @ {os.path.basename(src.file)}:{src.line}"
        lines.append(f"{indent}  {outs} = {node.op}({args}){format_attrs(node.attrs)}  # {where}")
        for sub in node.subgraphs:
            lines.append(print_graph(sub, indent + "    "))
    lines.append(f"{indent}  return ({', '.join(name_of(v) for v in graph.outputs)})")
    for buffer_name, value in graph.updates:
        lines.append(f"{indent}  update {buffer_name} <- {name_of(value)}")
    lines.append(f"{indent}}}")
    return "\n".join(lines)
