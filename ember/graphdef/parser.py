"""Parse the printer's text back into a `Graph` (print -> parse -> print is the identity).

Ops resolve only through the registry; nothing is imported or executed.
"""

from __future__ import annotations

import json
import re

from .errors import GraphParseError
from .ir import Graph, GraphInput, Node, Source, Value
from .registry import get_op
from .types import TensorType

_HEADER = re.compile(r"^graph (\S+)\($")
_INPUT = re.compile(r"^(\w+)\s+%([\w.\-]+): (\S+),$")
_NODE = re.compile(  # a node without results prints as `= op(...)`
    r"^(?:(?P<outs>.+?) )?= (?P<op>[\w.]+)\((?P<args>[^)]*)\)(?P<attrs> \{.*\})?  # (?P<src>.*)$"
)
_OUT = re.compile(r"^%([\w.\-]+): (\S+)$")
_SRC = re.compile(r"^(?P<path>\S+)(?: @ (?P<file>.+):(?P<line>\d+))?$")
_UPDATE = re.compile(r"^update (\S+) <- %([\w.\-]+)$")
_DECODER = json.JSONDecoder()


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def parse_attrs(text: str) -> dict:
    """Parse ` {k=v, k2=v2}` where each v is JSON (lists become tuples)."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise GraphParseError(f"bad attrs {text!r}")
    body, attrs, pos = text[1:-1], {}, 0
    while pos < len(body):
        eq = body.index("=", pos)
        key = body[pos:eq].strip()
        value, end = _DECODER.raw_decode(body, eq + 1)
        attrs[key] = _tuples(value)
        pos = end
        if body[pos : pos + 2] == ", ":
            pos += 2
    return attrs


def parse_graph(text: str) -> Graph:
    lines = [ln.strip() for ln in text.strip().splitlines()]
    graph, rest = _parse_block(lines, 0)
    if rest != len(lines):
        raise GraphParseError(f"trailing text after the graph at line {rest + 1}: {lines[rest]!r}")
    return graph


def _parse_block(lines: list[str], i: int) -> tuple[Graph, int]:
    m = _HEADER.match(lines[i])
    if not m:
        raise GraphParseError(f"line {i + 1}: expected 'graph NAME(', got {lines[i]!r}")
    name, i = m.group(1), i + 1
    env: dict[str, Value] = {}
    inputs = []
    while lines[i] != ") {":
        im = _INPUT.match(lines[i])
        if not im:
            raise GraphParseError(f"line {i + 1}: bad input declaration {lines[i]!r}")
        value = Value(TensorType.parse(im.group(3)), im.group(2))
        env[im.group(2)] = value
        inputs.append(GraphInput(im.group(1), im.group(2), value))
        i += 1
    i += 1
    nodes, outputs, updates = [], (), []

    def lookup(token: str, lineno: int) -> Value:
        token = token.strip()
        if not token.startswith("%") or token[1:] not in env:
            raise GraphParseError(f"line {lineno}: use of undefined value {token!r}")
        return env[token[1:]]

    while lines[i] != "}":
        line = lines[i]
        if line.startswith("return ("):
            body = line[len("return (") : -1]
            outputs = tuple(lookup(t, i + 1) for t in body.split(",")) if body else ()
            i += 1
            continue
        um = _UPDATE.match(line)
        if um:
            updates.append((um.group(1), lookup("%" + um.group(2), i + 1)))
            i += 1
            continue
        nm = _NODE.match(line)
        if not nm:
            raise GraphParseError(f"line {i + 1}: cannot parse {line!r}")
        get_op(nm.group("op"))  # unknown ops fail here, by registry lookup only
        outs = []
        for part in nm.group("outs").split(", ") if nm.group("outs") else ():
            om = _OUT.match(part)
            if not om:
                raise GraphParseError(f"line {i + 1}: bad result {part!r}")
            outs.append(Value(TensorType.parse(om.group(2))))
            env[om.group(1)] = outs[-1]
        args = nm.group("args")
        ins = tuple(lookup(t, i + 1) for t in args.split(",")) if args.strip() else ()
        attrs = parse_attrs(nm.group("attrs")) if nm.group("attrs") else {}
        sm = _SRC.match(nm.group("src"))
        path = sm.group("path") if sm else ""
        source = Source(
            "" if path == "<root>" else path,
            sm.group("file") or "" if sm else "",
            int(sm.group("line") or 0) if sm else 0,
        )
        i += 1
        subgraphs = []
        while i < len(lines) and lines[i].startswith("graph "):
            sub, i = _parse_block(lines, i)
            subgraphs.append(sub)
        nodes.append(Node(nm.group("op"), ins, attrs, tuple(outs), source, tuple(subgraphs)))
    return Graph(tuple(inputs), tuple(nodes), outputs, tuple(updates), name), i + 1
