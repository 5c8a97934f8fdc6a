"""The IR data structures: `Value`, `Source`, `Node`, `GraphInput`, `Graph`.

Modelled on jaxpr: values are typed, nodes are in topological order, attrs are
static JSON-able data, and a graph is immutable (passes build new graphs).
Values are compared by identity; names are only hints for the printer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .types import TensorType

INPUT_KINDS = ("data", "param", "buffer", "rng")


class Value:
    """One SSA value: its type and an optional name hint (inputs keep theirs)."""

    __slots__ = ("type", "name")

    def __init__(self, type: TensorType, name: str | None = None):
        self.type = type
        self.name = name

    def __repr__(self) -> str:
        return f"Value({self.name or hex(id(self))}: {self.type})"


@dataclass(frozen=True)
class Source:
    """Where a node came from: the module path and the user's file:line."""

    module_path: str = ""
    file: str = ""
    line: int = 0

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""

    def __str__(self) -> str:
        parts = [self.module_path or "<root>"]
        if self.file:
            parts.append(f"@ {self.location}")
        return " ".join(parts)


@dataclass(frozen=True, eq=False)
class Node:
    """`outputs = op(*inputs) {attrs}`, with the source it was traced from.

    `subgraphs` holds the bodies of structured control-flow ops (cond, scan, ...).
    """

    op: str
    inputs: tuple[Value, ...]
    attrs: dict[str, Any]
    outputs: tuple[Value, ...]
    source: Source = field(default_factory=Source)
    subgraphs: tuple[Graph, ...] = ()

    def replace(self, **changes) -> Node:
        fields = dict(
            op=self.op,
            inputs=self.inputs,
            attrs=self.attrs,
            outputs=self.outputs,
            source=self.source,
            subgraphs=self.subgraphs,
        )
        fields.update(changes)
        return Node(**fields)


@dataclass(frozen=True)
class GraphInput:
    """A graph input: data, a parameter, a buffer or the RNG key, by state-dict name."""

    kind: str
    name: str
    value: Value

    def __post_init__(self):
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input kind must be one of {INPUT_KINDS}, got {self.kind!r}")


@dataclass(frozen=True, eq=False)
class Graph:
    """A typed, topologically ordered program.

    `outputs` are the results; `updates` pairs a buffer name with the value
    that replaces it after the step (filled in by buffer functionalization).
    """

    inputs: tuple[GraphInput, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[Value, ...]
    updates: tuple[tuple[str, Value], ...] = ()
    name: str = "graph"

    def inputs_of_kind(self, kind: str) -> tuple[GraphInput, ...]:
        return tuple(i for i in self.inputs if i.kind == kind)

    def replace(self, **changes) -> Graph:
        fields = dict(
            inputs=self.inputs,
            nodes=self.nodes,
            outputs=self.outputs,
            updates=self.updates,
            name=self.name,
        )
        fields.update(changes)
        return Graph(**fields)

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)

    def __repr__(self) -> str:
        return str(self)

    def to_json(self) -> str:
        from .serialize import graph_to_json

        return graph_to_json(self)

    @staticmethod
    def from_json(text: str) -> Graph:
        from .serialize import graph_from_json

        return graph_from_json(text)

    @staticmethod
    def parse(text: str) -> Graph:
        from .parser import parse_graph

        return parse_graph(text)
