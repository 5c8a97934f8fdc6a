"""Parse the printer's text back into a `Graph` (print -> parse -> print is the identity).

Ops resolve only through the registry; nothing is imported or executed. The
text is untrusted: every line is matched strictly, names and types are checked
against the loading limits (see serialize.py), values must be defined before
they are used, and the result is verified (types re-inferred). Errors are
`GraphParseError` (or `UnsupportedOpError` / `VerifyError`) naming the line.
"""

from __future__ import annotations

import json
import re

from ember.errors import GraphParseError
from ember.graphdef.ir import INPUT_KINDS, Graph, GraphInput, Node, Value
from ember.graphdef.serialize import (
    NodeBudget,
    attr_value,
    check_document,
    check_graph_name,
    check_key,
    check_source,
    check_value_name,
    finish_loading,
    get_op_at,
    parse_type,
)
from ember.graphdef.verify import MAX_SUBGRAPH_DEPTH, cut, short

_HEADER = re.compile(r"graph (\S+)\(")
_INPUT = re.compile(r"(\w+)\s+%(\S+?): (\S+?)( meta\{.*\})?,")
_OP = re.compile(r"([\w.]+)\(")
_OUT = re.compile(r"%([\w.\-]+): (\S+)")
_SRC = re.compile(r"(?P<path>\S+)(?: @ (?P<file>.+):(?P<line>[0-9]{1,10}))?")
_UPDATE = re.compile(r"update (\S+) <- %(\S+)")
_DECODER = json.JSONDecoder()


def parse_attrs(text: str, where: str = "attrs") -> dict:
    """Parse `{k=v, k2=v2}` where each v is JSON (lists become tuples)."""
    text = text.strip()
    attrs, end = _scan_attrs(text, 0, where)
    if end != len(text):
        raise GraphParseError(f"{where}: unexpected text after the attrs: {short(text[end:])}")
    return attrs


def _scan_attrs(text: str, pos: int, where: str) -> tuple[dict, int]:
    """Read `{k=v, ...}` starting at `text[pos]`; return the attrs and the index after `}`."""
    if not text.startswith("{", pos):
        raise GraphParseError(f"{where}: expected '{{', got {short(text[pos:])}")
    attrs: dict = {}
    pos += 1
    if text.startswith("}", pos):
        return attrs, pos + 1
    while True:
        eq = text.find("=", pos)
        if eq < 0:
            raise GraphParseError(f"{where}: expected 'name=value' at {short(text[pos:])}")
        key = check_key(text[pos:eq], where)
        if key in attrs:
            raise GraphParseError(f"{where}: {key!r} is given twice")
        try:
            value, pos = _DECODER.raw_decode(text, eq + 1)
        except RecursionError:
            raise GraphParseError(f"{where}.{key}: the value is nested too deeply") from None
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            raise GraphParseError(f"{where}.{key}: not a JSON value ({cut(msg)})") from None
        attrs[key] = attr_value(value, f"{where}.{key}")
        if text.startswith(", ", pos):
            pos += 2
        elif text.startswith("}", pos):
            return attrs, pos + 1
        else:
            raise GraphParseError(f"{where}: expected ', ' or '}}' at {short(text[pos:])}")


class _Block:
    """The names of one graph block (each sub-graph has its own)."""

    def __init__(self):
        self.env: dict[str, Value] = {}

    def define(self, name: str, value: Value, where: str) -> None:
        if name in self.env:
            raise GraphParseError(f"{where}: {short('%' + name)} is defined twice")
        self.env[name] = value

    def lookup(self, token: str, where: str) -> Value:
        token = token.strip()
        if not token.startswith("%") or token[1:] not in self.env:
            raise GraphParseError(f"{where}: use of undefined value {short(token)}")
        return self.env[token[1:]]

    def operands(self, text: str, where: str) -> tuple[Value, ...]:
        return tuple(self.lookup(t, where) for t in text.split(",")) if text.strip() else ()


class _Parser:
    def __init__(self, text: str):
        self.lines = [ln.strip() for ln in text.splitlines()]
        self.i = 0
        self.skip_blank()
        self.budget = NodeBudget()

    def skip_blank(self) -> None:
        while self.i < len(self.lines) and not self.lines[self.i]:
            self.i += 1

    def line(self, inside: str) -> str:
        if self.i >= len(self.lines):
            raise GraphParseError(f"line {self.i + 1}: the text ends inside {inside}")
        return self.lines[self.i]

    @property
    def where(self) -> str:
        return f"line {self.i + 1}"

    def graph(self, depth: int) -> Graph:
        header = self.line("a graph")
        m = _HEADER.fullmatch(header)
        if not m:
            raise GraphParseError(f"{self.where}: expected 'graph NAME(', got {short(header)}")
        if depth > MAX_SUBGRAPH_DEPTH:
            raise GraphParseError(
                f"{self.where}: sub-graphs are nested deeper than "
                f"MAX_SUBGRAPH_DEPTH={MAX_SUBGRAPH_DEPTH}"
            )
        name = check_graph_name(m.group(1), self.where)
        inside = f"graph {short(name)} (missing '}}')"
        self.i += 1
        block = _Block()
        inputs = []
        while (line := self.line(inside)) != ") {":
            inputs.append(self.input(line, block))
            self.i += 1
        self.i += 1
        nodes: list[Node] = []
        outputs: tuple[Value, ...] | None = None
        updates: list[tuple[str, Value]] = []
        while (line := self.line(inside)) != "}":
            where = self.where
            if line.startswith("return ("):
                if outputs is not None or not line.endswith(")"):
                    raise GraphParseError(f"{where}: a second or malformed return {short(line)}")
                outputs = block.operands(line[len("return (") : -1], where)
            elif line.startswith("update "):
                um = _UPDATE.fullmatch(line)
                if outputs is None or not um:
                    raise GraphParseError(
                        f"{where}: expected 'update NAME <- %value' after the return line, "
                        f"got {short(line)}"
                    )
                name_ = check_value_name(um.group(1), where)
                updates.append((name_, block.lookup("%" + um.group(2), where)))
            else:
                if outputs is not None:
                    raise GraphParseError(f"{where}: unexpected {short(line)} after the return")
                self.budget.add(where)
                nodes.append(self.node(line, block, depth))
                continue  # node() moved past the node and its sub-graphs
            self.i += 1
        if outputs is None:
            raise GraphParseError(f"{self.where}: graph {short(name)} has no return line")
        self.i += 1
        return Graph(tuple(inputs), tuple(nodes), outputs, tuple(updates), name)

    def input(self, line: str, block: _Block) -> GraphInput:
        where = self.where
        m = _INPUT.fullmatch(line)
        if not m:
            raise GraphParseError(
                f"{where}: expected an input 'KIND %name: TYPE,' or ') {{', got {short(line)}"
            )
        kind, name, type_text, meta_text = m.groups()
        if kind not in INPUT_KINDS:
            raise GraphParseError(
                f"{where}: input kind {short(kind)} is not one of {', '.join(INPUT_KINDS)}"
            )
        value = Value(parse_type(type_text, where), check_value_name(name, where))
        block.define(name, value, where)
        meta = parse_attrs(meta_text[len(" meta") :], f"{where} meta") if meta_text else {}
        return GraphInput(kind, name, value, meta)

    def node(self, line: str, block: _Block, depth: int) -> Node:
        """`%3: f32[2] = op(%a, %b) {k=v} meta{k=v}  # path @ file:line`, then sub-graphs."""
        where = self.where
        if line.startswith("= "):
            outs_text, pos = "", 2
        else:
            eq = line.find(" = ")
            if eq < 0:
                raise GraphParseError(f"{where}: cannot parse {short(line)}")
            outs_text, pos = line[:eq], eq + 3
        m = _OP.match(line, pos)
        if not m:
            raise GraphParseError(f"{where}: expected 'op(operands)' at {short(line[pos:])}")
        op = get_op_at(m.group(1), where)
        where = f"{where} (op {op!r})"
        close = line.find(")", m.end())
        if close < 0:
            raise GraphParseError(f"{where}: the operand list has no ')'")
        ins = block.operands(line[m.end() : close], where)
        pos = close + 1
        attrs, meta = {}, {}
        if line.startswith(" {", pos):
            attrs, pos = _scan_attrs(line, pos + 1, f"{where} attrs")
        if line.startswith(" meta{", pos):
            meta, pos = _scan_attrs(line, pos + 5, f"{where} meta")
        if not line.startswith("  # ", pos):
            raise GraphParseError(
                f"{where}: expected '  # module.path @ file:line' at {short(line[pos:])}"
            )
        sm = _SRC.fullmatch(line, pos + 4)
        if not sm:
            raise GraphParseError(f"{where}: cannot parse the source {short(line[pos + 4 :])}")
        path = "" if sm.group("path") == "<root>" else sm.group("path")
        source = check_source(path, sm.group("file") or "", int(sm.group("line") or 0), where)
        outs = []
        for part in outs_text.split(", ") if outs_text else ():
            om = _OUT.fullmatch(part)
            if not om:
                raise GraphParseError(
                    f"{where}: expected a result '%name: TYPE', got {short(part)}"
                )
            outs.append(Value(parse_type(om.group(2), where)))
            block.define(om.group(1), outs[-1], where)
        self.i += 1
        subgraphs = []
        while self.i < len(self.lines) and self.lines[self.i].startswith("graph "):
            subgraphs.append(self.graph(depth + 1))
        return Node(op, ins, attrs, tuple(outs), source, tuple(subgraphs), meta)


def parse_graph(text: str) -> Graph:
    """Parse the printer's text form and verify the graph it describes."""
    check_document(text, "IR text")
    parser = _Parser(text)
    graph = parser.graph(0)
    parser.skip_blank()
    if parser.i != len(parser.lines):
        raise GraphParseError(
            f"line {parser.i + 1}: trailing text after the graph: {short(parser.lines[parser.i])}"
        )
    return finish_loading(graph)
