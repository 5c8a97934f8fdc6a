"""The canonical text form of a graph: one line per node, deterministic.

    graph Net(
        data  %x: f32[64,784],
        param %fc1.weight: f32[128,784],
    ) {
      %0: f32[64,128] = linear(%x, %fc1.weight, %fc1.bias)  # fc1 @ net.py:12
      return (%0)
    }

Inputs print by name; every other value is numbered in definition order, with
one numbering for the whole text (sub-graph bodies continue it), so two graphs
that differ only in value names print identically and no number means two
things. Annotations (`meta`, e.g. sharding) print as `meta{...}` after the attrs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ember.graphdef.ir import Graph, Value


def format_attr(value: Any) -> str:
    return json.dumps(_to_json(value))


def _to_json(value: Any) -> Any:
    return [_to_json(v) for v in value] if isinstance(value, tuple) else value


def format_attrs(attrs: dict[str, Any]) -> str:
    if not attrs:
        return ""
    return " {" + ", ".join(f"{k}={format_attr(attrs[k])}" for k in sorted(attrs)) + "}"


def format_meta(meta: dict[str, Any]) -> str:
    return " meta" + format_attrs(meta)[1:] if meta else ""


class _Names:
    """One naming context for a whole printed text, sub-graphs included."""

    def __init__(self):
        self.names: dict[Value, str] = {}
        self.counter = 0

    def __call__(self, v: Value) -> str:
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = str(self.counter)
            self.counter += 1
        return "%" + name


def print_graph(graph: Graph, indent: str = "", names: _Names | None = None) -> str:
    name_of = names or _Names()
    for gi in graph.inputs:
        name_of.names[gi.value] = gi.name
    width = max((len(i.kind) for i in graph.inputs), default=0)
    lines = [f"{indent}graph {graph.name}("]
    for gi in graph.inputs:
        lines.append(
            f"{indent}    {gi.kind.ljust(width)} %{gi.name}: {gi.value.type}{format_meta(gi.meta)},"
        )
    lines.append(f"{indent}) {{")
    for node in graph.nodes:
        outs = ", ".join(f"{name_of(v)}: {v.type}" for v in node.outputs)
        args = ", ".join(name_of(v) for v in node.inputs)
        src = node.source
        where = src.module_path or "<root>"
        if src.file:
            where += f" @ {os.path.basename(src.file)}:{src.line}"
        lines.append(
            f"{indent}  {outs} = {node.op}({args}){format_attrs(node.attrs)}"
            f"{format_meta(node.meta)}  # {where}"
        )
        for sub in node.subgraphs:
            lines.append(print_graph(sub, indent + "    ", name_of))
    lines.append(f"{indent}  return ({', '.join(name_of(v) for v in graph.outputs)})")
    for buffer_name, value in graph.updates:
        lines.append(f"{indent}  update {buffer_name} <- {name_of(value)}")
    lines.append(f"{indent}}}")
    return "\n".join(lines)
