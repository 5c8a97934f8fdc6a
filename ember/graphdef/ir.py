"""The IR data structures: `Value`, `Source`, `Node`, `GraphInput`, `Graph`.

Modelled on jaxpr: values are typed, nodes are in topological order, attrs are
static, frozen JSON-able data, and a graph is immutable (passes build new graphs).
Values are compared and hashed by identity (environments are keyed by `Value`);
names are only hints for the printer. `meta` carries annotations that are not
part of an op's meaning (e.g. a sharding decision), printed and saved with the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ember.graphdef.types import TensorType

INPUT_KINDS = ("data", "param", "buffer", "rng")


class FrozenDict(dict):
    """An immutable, hashable dict: node attrs and meta (values are JSON-like, tuples for lists)."""

    __slots__ = ("_hash",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            if isinstance(value, list):  # lists are spelled as tuples in the IR
                dict.__setitem__(self, key, _freeze(value))
        self._hash = None

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted((k, _hash_key(v)) for k, v in self.items())))
        return self._hash

    def _immutable(self, *args, **kwargs):
        raise TypeError("IR attrs are frozen; build a new node with node.replace(attrs=...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __reduce__(self):
        raise TypeError("IR objects are saved as JSON (graph.to_json()), never pickled")


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def _hash_key(value: Any) -> Any:
    # keep 0.0 / -0.0 and 1 / 1.0 / True apart (they hash alike in Python)
    if isinstance(value, tuple):
        return tuple(_hash_key(v) for v in value)
    return (type(value).__name__, repr(value))


EMPTY = FrozenDict()


class Value:
    """One SSA value: its type and an optional name hint (inputs keep theirs)."""

    __slots__ = ("type", "name", "__weakref__")  # views note the value they came from

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

    `subgraphs` holds the bodies of structured control-flow ops (cond, scan, ...);
    `attrs` and `meta` are frozen (hashable) dicts.
    """

    op: str
    inputs: tuple[Value, ...]
    attrs: FrozenDict
    outputs: tuple[Value, ...]
    source: Source = field(default_factory=Source)
    subgraphs: tuple[Graph, ...] = ()
    meta: FrozenDict = EMPTY

    def __post_init__(self):
        if type(self.attrs) is not FrozenDict:
            object.__setattr__(self, "attrs", FrozenDict(self.attrs))
        if type(self.meta) is not FrozenDict:
            object.__setattr__(self, "meta", FrozenDict(self.meta))
        if type(self.inputs) is not tuple:
            object.__setattr__(self, "inputs", tuple(self.inputs))
        if type(self.outputs) is not tuple:
            object.__setattr__(self, "outputs", tuple(self.outputs))

    def replace(self, **changes) -> Node:
        fields = dict(
            op=self.op,
            inputs=self.inputs,
            attrs=self.attrs,
            outputs=self.outputs,
            source=self.source,
            subgraphs=self.subgraphs,
            meta=self.meta,
        )
        fields.update(changes)
        return Node(**fields)


@dataclass(frozen=True)
class GraphInput:
    """A graph input: data, a parameter, a buffer or the RNG key, by state-dict name."""

    kind: str
    name: str
    value: Value
    meta: FrozenDict = EMPTY

    def __post_init__(self):
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input kind must be one of {INPUT_KINDS}, got {self.kind!r}")
        if type(self.meta) is not FrozenDict:
            object.__setattr__(self, "meta", FrozenDict(self.meta))

    def replace(self, **changes) -> GraphInput:
        fields = dict(kind=self.kind, name=self.name, value=self.value, meta=self.meta)
        fields.update(changes)
        return GraphInput(**fields)


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
        from ember.graphdef.printer import print_graph

        return print_graph(self)

    def __repr__(self) -> str:
        return str(self)

    def to_json(self) -> str:
        from ember.graphdef.serialize import graph_to_json

        return graph_to_json(self)

    @staticmethod
    def from_json(text: str) -> Graph:
        from ember.graphdef.serialize import graph_from_json

        return graph_from_json(text)

    @staticmethod
    def parse(text: str) -> Graph:
        from ember.graphdef.parser import parse_graph

        return parse_graph(text)
