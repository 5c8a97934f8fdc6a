"""Safe JSON (de)serialization of graphs: plain data in, registry lookups out.

Loading never executes code: ops resolve through the registry by name, attrs
are JSON scalars and lists, and no module is imported by name.

A document to load is untrusted. `Graph.from_json` and `Graph.parse` (parser.py)
check its structure field by field, check names, types and attr values against
the limits below, resolve value ids/names strictly in definition order, and run
`verify` on the result (types re-inferred by the registry, attrs against each
op's schema, sub-graphs recursively). Every failure is an `EmberError`
(`GraphParseError`, `UnsupportedOpError` for an op name the registry does not
know, `VerifyError` for a well-formed document that is not a valid graph) whose
message says what is wrong and where: the JSON path (``graph.nodes[3] (op
'relu').attrs.dim``) or the text line.

Limits: the MAX_* constants below, the tensor-type limits MAX_RANK, MAX_DIM and
MAX_ELEMENTS in types.py, and MAX_SUBGRAPH_DEPTH in verify.py.
"""

from __future__ import annotations

import json
import os
import re
from itertools import accumulate
from typing import Any

from ember.errors import GraphParseError, UnsupportedOpError
from ember.graphdef import dtypes
from ember.graphdef.ir import INPUT_KINDS, Graph, GraphInput, Node, Source, Value
from ember.graphdef.registry import get_op
from ember.graphdef.types import TensorType, limit_problem
from ember.graphdef.verify import MAX_SUBGRAPH_DEPTH, cut, short, verify

FORMAT = "ember.graph/1"

MAX_DOCUMENT_CHARS = 2**30  # characters of one JSON or IR text document (1 Gi)
MAX_NODES = 1_000_000  # nodes of a graph, all sub-graphs included
MAX_NAME_LENGTH = 4096  # graph/input/buffer names, attr and meta keys, module paths, files
MAX_ATTR_DEPTH = 32  # list nesting inside one attr or meta value
# bracket nesting of a JSON document: enough for the deepest valid graph (each sub-graph
# level nests 4 brackets: graph, nodes, node, subgraphs) and its deepest attr
MAX_NESTING = 4 * MAX_SUBGRAPH_DEPTH + MAX_ATTR_DEPTH + 8
MAX_ATTR_ITEMS = 2**24  # scalars and lists inside one attr or meta value
MAX_STRING_LENGTH = 2**16  # characters of a string attr or meta value
MAX_SOURCE_LINE = 2**31 - 1  # the line number of a node's source
MAX_ATTR_INT = 2**63 - 1  # attr ints fit in int64 (no ember dtype holds more)

# Input/buffer names are what the printer writes after `%`; all-digit names are
# reserved for the numbered values of the text form.
VALUE_NAME = re.compile(r"[\w.\-]+")
_NUMBERED = re.compile(r"[0-9]+")
# `f32[2,3]`: a short dtype name and decimal dims (at most 15 digits each)
_TYPE = re.compile(r"([a-z0-9]+)\[((?:[0-9]{1,15}(?:,[0-9]{1,15})*)?)\]")


# -- writing ---------------------------------------------------------------------------------


def _attr_to_json(value: Any) -> Any:
    return [_attr_to_json(v) for v in value] if isinstance(value, tuple) else value


def _attrs_to_json(attrs: dict) -> dict:
    return {k: _attr_to_json(v) for k, v in sorted(attrs.items())}


def _graph_to_obj(graph: Graph) -> dict:
    ids: dict[Value, int] = {}

    def vid(v: Value) -> int:
        return ids.setdefault(v, len(ids))

    return {
        "name": graph.name,
        "inputs": [
            {
                "kind": gi.kind,
                "name": gi.name,
                "id": vid(gi.value),
                "type": str(gi.value.type),
                **({"meta": _attrs_to_json(gi.meta)} if gi.meta else {}),
            }
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
                **({"meta": _attrs_to_json(n.meta)} if n.meta else {}),
            }
            for n in graph.nodes
        ],
        "outputs": [vid(v) for v in graph.outputs],
        "updates": [[name, vid(v)] for name, v in graph.updates],
    }


def graph_to_json(graph: Graph) -> str:
    """Serialize to a JSON string (`Graph.from_json` reads it back)."""
    return json.dumps({"format": FORMAT, "graph": _graph_to_obj(graph)}, indent=1)


# -- checks shared by both loaders -----------------------------------------------------------


def check_document(text: Any, what: str) -> None:
    """A document is a str (or, for JSON, bytes) of at most MAX_DOCUMENT_CHARS."""
    if not isinstance(text, str):
        raise GraphParseError(f"{what} must be a str, got {type(text).__name__}")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise GraphParseError(
            f"{what} has {len(text)} characters, more than the limit "
            f"MAX_DOCUMENT_CHARS={MAX_DOCUMENT_CHARS}"
        )


def check_value_name(name: Any, where: str) -> str:
    """An input or buffer name: `[\\w.-]+`, not all digits, at most MAX_NAME_LENGTH."""
    if not isinstance(name, str):
        raise GraphParseError(f"{where}: a name must be a string, got {short(name)}")
    if len(name) > MAX_NAME_LENGTH:
        raise GraphParseError(
            f"{where}: name of {len(name)} characters exceeds MAX_NAME_LENGTH={MAX_NAME_LENGTH}"
        )
    if not VALUE_NAME.fullmatch(name) or _NUMBERED.fullmatch(name):
        raise GraphParseError(
            f"{where}: invalid name {short(name)}: names are letters, digits, '_', '.' and '-' "
            "(not only digits, which number the other values in the text form)"
        )
    return name


def _printable_word(value: Any, where: str, what: str, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise GraphParseError(f"{where}: {what} must be a string, got {short(value)}")
    if len(value) > MAX_NAME_LENGTH:
        raise GraphParseError(
            f"{where}: {what} of {len(value)} characters exceeds MAX_NAME_LENGTH={MAX_NAME_LENGTH}"
        )
    if not value and allow_empty:
        return value
    if not value or not value.isprintable() or any(c.isspace() for c in value):
        raise GraphParseError(
            f"{where}: invalid {what} {short(value)}: it must be printable, non-empty and "
            "without spaces"
        )
    return value


def check_graph_name(name: Any, where: str) -> str:
    return _printable_word(name, where, "graph name", allow_empty=False)


def check_source(path: Any, file: Any, line: Any, where: str) -> Source:
    """A node's source: module path (no spaces), file (printable) and line number."""
    path = _printable_word(path, where, "module path", allow_empty=True)
    if not isinstance(file, str):
        raise GraphParseError(f"{where}: the source file must be a string, got {short(file)}")
    if len(file) > MAX_NAME_LENGTH:
        raise GraphParseError(
            f"{where}: source file of {len(file)} characters exceeds "
            f"MAX_NAME_LENGTH={MAX_NAME_LENGTH}"
        )
    if file and (not file.isprintable() or not os.path.basename(file).strip()):
        raise GraphParseError(
            f"{where}: invalid source file {short(file)}: it must be printable and name a file"
        )
    if type(line) is not int or not 0 <= line <= MAX_SOURCE_LINE:
        raise GraphParseError(
            f"{where}: the source line must be an integer in [0, {MAX_SOURCE_LINE}], "
            f"got {short(line)}"
        )
    return Source(path, file, line)


def parse_type(text: Any, where: str) -> TensorType:
    """`f32[2,3]` -> TensorType, strictly (decimal dims, known dtype, within the limits)."""
    if not isinstance(text, str):
        raise GraphParseError(
            f"{where}: a type must be a string like 'f32[2,3]', got {short(text)}"
        )
    m = _TYPE.fullmatch(text)
    if not m or m.group(1) not in dtypes.FROM_SHORT:
        raise GraphParseError(
            f"{where}: {short(text)} is not a tensor type like 'f32[2,3]' (dtypes: "
            f"{', '.join(dtypes.FROM_SHORT)}; dims: decimal integers)"
        )
    shape = tuple(int(d) for d in m.group(2).split(",")) if m.group(2) else ()
    problem = limit_problem(shape)
    if problem:
        raise GraphParseError(f"{where}: type {short(text)}: {problem}")
    return TensorType(shape, dtypes.FROM_SHORT[m.group(1)])


def attr_value(value: Any, where: str) -> Any:
    """A decoded JSON attr/meta value as IR data (lists become tuples), within the limits."""
    count = 0

    def convert(v: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > MAX_ATTR_ITEMS:
            raise GraphParseError(f"{where}: the value has more than MAX_ATTR_ITEMS=2**24 items")
        if v is None or isinstance(v, (bool, float)):
            return v
        if isinstance(v, int):
            if not -MAX_ATTR_INT - 1 <= v <= MAX_ATTR_INT:
                raise GraphParseError(f"{where}: integer {short(v)} does not fit in 64 bits")
            return v
        if isinstance(v, str):
            if len(v) > MAX_STRING_LENGTH:
                raise GraphParseError(
                    f"{where}: a string of {len(v)} characters exceeds "
                    f"MAX_STRING_LENGTH={MAX_STRING_LENGTH}"
                )
            return v
        if isinstance(v, list):
            if depth >= MAX_ATTR_DEPTH:
                raise GraphParseError(
                    f"{where}: lists are nested deeper than MAX_ATTR_DEPTH={MAX_ATTR_DEPTH}"
                )
            return tuple(convert(x, depth + 1) for x in v)
        raise GraphParseError(
            f"{where}: a {type(v).__name__} value is not allowed (attr and meta values are "
            "JSON numbers, strings, booleans, null and lists of them)"
        )

    return convert(value, 0)


def check_key(key: Any, where: str) -> str:
    """Attr and meta keys are Python identifiers (as the text form writes them)."""
    if not isinstance(key, str) or not key.isidentifier() or len(key) > MAX_NAME_LENGTH:
        raise GraphParseError(f"{where}: {short(key)} is not a valid attr/meta name")
    return key


def get_op_at(op: Any, where: str) -> str:
    """Resolve an op name through the registry only (nothing is imported or evaluated)."""
    if not isinstance(op, str):
        raise GraphParseError(f"{where}: the op name must be a string, got {short(op)}")
    try:
        get_op(op)
    except UnsupportedOpError as e:
        msg = str(e).replace(repr(op), short(op))  # cut a huge name in the message
        raise UnsupportedOpError(f"{where}: {msg}") from None
    return op


class NodeBudget:
    """Counts nodes over a whole document (sub-graphs included) against MAX_NODES."""

    def __init__(self):
        self.count = 0

    def add(self, where: str) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise GraphParseError(f"{where}: the graph has more than MAX_NODES={MAX_NODES} nodes")


def check_updates(graph: Graph, where: str) -> None:
    """Each update names a buffer input of its graph, at most once (sub-graphs too)."""
    buffers = {gi.name for gi in graph.inputs if gi.kind == "buffer"}
    seen = set()
    for name, _ in graph.updates:
        if name not in buffers:
            raise GraphParseError(f"{where}: update of {short(name)}, which is not a buffer input")
        if name in seen:
            raise GraphParseError(f"{where}: buffer {short(name)} is updated twice")
        seen.add(name)
    for k, node in enumerate(graph.nodes):
        for j, sub in enumerate(node.subgraphs):
            check_updates(sub, f"{where}, node {k} ({node.op}), sub-graph {j}")


def finish_loading(graph: Graph) -> Graph:
    """The checks that need the whole graph: updates, then `verify` (types re-inferred)."""
    check_updates(graph, f"graph {short(graph.name)}")
    return verify(graph)


# -- reading JSON ----------------------------------------------------------------------------

# a JSON string, or an unterminated one up to the end of the text: every opening quote
# matches at its first try, so the scan stays linear whatever the quotes and backslashes
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_nesting(text: str) -> int:
    """The bracket nesting depth of a JSON text (strings skipped), without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DEPTH.__getitem__, brackets)), default=0)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise GraphParseError(f"JSON object has the key {short(dup)} twice")
    return obj


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {short(value)}"
    return names.get(type(value), type(value).__name__)


def _fields(obj: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()):
    if not isinstance(obj, dict):
        raise GraphParseError(f"{where}: expected a JSON object, got {_kind(obj)}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise GraphParseError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = [k for k in obj if k not in required and k not in optional]
    if unknown:
        raise GraphParseError(
            f"{where}: unknown field {short(unknown[0])} "
            f"(expected {', '.join(required + optional)})"
        )
    return obj


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise GraphParseError(f"{where}: expected a list, got {_kind(value)}")
    return value


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise GraphParseError(f"{where}: expected a JSON object, got {_kind(value)}")
    return {check_key(k, where): attr_value(v, f"{where}.{k}") for k, v in value.items()}


class _Env:
    """Value ids of one graph (each sub-graph numbers its own values)."""

    def __init__(self):
        self.values: dict[int, Value] = {}

    @staticmethod
    def _id(i: Any, where: str) -> int:
        if type(i) is not int or i < 0:
            raise GraphParseError(
                f"{where}: a value id must be a non-negative integer, got {_kind(i)}"
            )
        return i

    def define(self, i: Any, value: Value, where: str) -> None:
        if self._id(i, where) in self.values:
            raise GraphParseError(f"{where}: value id {i} is defined twice")
        self.values[i] = value

    def get(self, i: Any, where: str) -> Value:
        if self._id(i, where) not in self.values:
            raise GraphParseError(f"{where}: value id {i} is used before it is defined")
        return self.values[i]


def _graph_from_obj(obj: Any, where: str, depth: int, budget: NodeBudget) -> Graph:
    if depth > MAX_SUBGRAPH_DEPTH:
        raise GraphParseError(
            f"{where}: sub-graphs are nested deeper than MAX_SUBGRAPH_DEPTH={MAX_SUBGRAPH_DEPTH}"
        )
    _fields(obj, where, ("name", "inputs", "nodes", "outputs", "updates"))
    name = check_graph_name(obj["name"], f"{where}.name")
    env = _Env()
    inputs = []
    for k, item in enumerate(_list(obj["inputs"], f"{where}.inputs")):
        at = f"{where}.inputs[{k}]"
        _fields(item, at, ("kind", "name", "id", "type"), ("meta",))
        if item["kind"] not in INPUT_KINDS:
            raise GraphParseError(
                f"{at}.kind: {short(item['kind'])} is not one of {', '.join(INPUT_KINDS)}"
            )
        value = Value(
            parse_type(item["type"], f"{at}.type"), check_value_name(item["name"], f"{at}.name")
        )
        env.define(item["id"], value, f"{at}.id")
        meta = _mapping(item.get("meta", {}), f"{at}.meta")
        inputs.append(GraphInput(item["kind"], value.name, value, meta))
    nodes = []
    for k, item in enumerate(_list(obj["nodes"], f"{where}.nodes")):
        at = f"{where}.nodes[{k}]"
        budget.add(at)
        _fields(item, at, ("op", "inputs", "attrs", "outputs", "source"), ("subgraphs", "meta"))
        op = get_op_at(item["op"], f"{at}.op")
        at = f"{at} (op {op!r})"
        ins = tuple(
            env.get(i, f"{at}.inputs[{j}]")
            for j, i in enumerate(_list(item["inputs"], f"{at}.inputs"))
        )
        attrs = _mapping(item["attrs"], f"{at}.attrs")
        source = _list(item["source"], f"{at}.source")
        if len(source) != 3:
            raise GraphParseError(f"{at}.source: expected [module_path, file, line]")
        source = check_source(*source, f"{at}.source")
        subgraphs = tuple(
            _graph_from_obj(g, f"{at}.subgraphs[{j}]", depth + 1, budget)
            for j, g in enumerate(_list(item.get("subgraphs", []), f"{at}.subgraphs"))
        )
        outs = []
        for j, o in enumerate(_list(item["outputs"], f"{at}.outputs")):
            _fields(o, f"{at}.outputs[{j}]", ("id", "type"))
            outs.append(Value(parse_type(o["type"], f"{at}.outputs[{j}].type")))
            env.define(o["id"], outs[-1], f"{at}.outputs[{j}].id")
        meta = _mapping(item.get("meta", {}), f"{at}.meta")
        nodes.append(Node(op, ins, attrs, tuple(outs), source, subgraphs, meta))
    outputs = tuple(
        env.get(i, f"{where}.outputs[{k}]")
        for k, i in enumerate(_list(obj["outputs"], f"{where}.outputs"))
    )
    updates = []
    for k, pair in enumerate(_list(obj["updates"], f"{where}.updates")):
        at = f"{where}.updates[{k}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise GraphParseError(f"{at}: expected [buffer_name, value_id], got {_kind(pair)}")
        updates.append((check_value_name(pair[0], at), env.get(pair[1], at)))
    return Graph(tuple(inputs), tuple(nodes), outputs, tuple(updates), name)


def graph_from_json(text: str | bytes) -> Graph:
    """Read a graph written by `graph_to_json` and verify it.

    Malformed input raises GraphParseError (UnsupportedOpError for an op the
    registry does not know, VerifyError for a graph that does not verify).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise GraphParseError(f"graph JSON is not UTF-8: {e}") from None
    check_document(text, "graph JSON")
    depth = json_nesting(text)
    if depth > MAX_NESTING:
        raise GraphParseError(
            f"graph JSON is nested {depth} levels deep, more than the limit "
            f"MAX_NESTING={MAX_NESTING}"
        )
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise GraphParseError(
            f"graph JSON is nested too deeply (the limit is MAX_NESTING={MAX_NESTING})"
        ) from None
    except ValueError as e:
        if isinstance(e, GraphParseError):
            raise
        raise GraphParseError(f"graph JSON is not valid JSON: {cut(str(e))}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = short(data.get("format")) if isinstance(data, dict) else _kind(data)
        raise GraphParseError(
            f"not an ember graph file (format {found}; expected {{'format': {FORMAT!r}, "
            "'graph': ...})"
        )
    _fields(data, "document", ("format", "graph"))
    return finish_loading(_graph_from_obj(data["graph"], "graph", 0, NodeBudget()))
