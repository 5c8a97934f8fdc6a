"""`verify(graph)`: the IR's well-formedness check, run between passes in tests.

Checks: every use is defined earlier, every op is registered with the right
arity, attrs match the op's schema, sub-graphs are well-formed (and only on ops
that take them), and stored result types equal the types the registry infers.
Failures raise `VerifyError` naming the graph and node and showing the nearby
IR; a malformed graph (wrong Python types anywhere) raises `VerifyError` too,
never another exception.
"""

from __future__ import annotations

import inspect

from ember.errors import EmberError, VerifyError
from ember.graphdef import dtypes
from ember.graphdef.ir import Graph, GraphInput, Node, Source, Value
from ember.graphdef.printer import print_graph
from ember.graphdef.registry import OpDef, check_attr, get_op
from ember.graphdef.types import TensorType

MAX_SUBGRAPH_DEPTH = 64  # sub-graphs inside sub-graphs (a cycle of graphs fails here too)


def cut(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: object, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters for error messages."""
    return cut(repr(value), limit)


def _context(graph: Graph, line: int) -> str:
    try:
        text = print_graph(graph).splitlines()
    except Exception as e:  # a graph too malformed to print still gets its message
        return f"(the graph cannot be printed: {type(e).__name__}: {e})"
    lo, hi = max(0, line - 3), min(len(text), line + 4)
    return "\n".join(("> " if k == line else "  ") + text[k] for k in range(lo, hi))


_TAKES_SUBGRAPHS: dict[str, bool] = {}


def takes_subgraphs(opdef: OpDef) -> bool:
    """Does the op's infer rule take `subgraphs` (structured control flow)?"""
    if opdef.name not in _TAKES_SUBGRAPHS:
        params = inspect.signature(opdef.infer).parameters
        _TAKES_SUBGRAPHS[opdef.name] = "subgraphs" in params
    return _TAKES_SUBGRAPHS[opdef.name]


def type_problem(t: object) -> str | None:
    """Why `t` is not a well-formed TensorType, or None."""
    if not isinstance(t, TensorType):
        return f"type {short(t)} is not a TensorType"
    if not isinstance(t.shape, tuple) or not all(type(d) is int and d >= 0 for d in t.shape):
        return f"shape {short(t.shape)} is not a tuple of non-negative ints"
    if t.dtype not in dtypes.ALL:
        return f"dtype {short(t.dtype)} is not one of {', '.join(dtypes.ALL)}"
    return None


def _meta_problem(meta: object) -> str | None:
    if not isinstance(meta, dict):
        return f"meta {short(meta)} is not a dict"
    for key, value in meta.items():
        if not isinstance(key, str) or not key.isidentifier():
            return f"meta key {short(key)} is not an identifier"
        if not check_attr("any", value):
            return f"meta {key}={short(value)} is not JSON-like (scalars and tuples)"
    return None


def verify(graph: Graph) -> Graph:
    """Raise `VerifyError` if `graph` is ill-formed; return it unchanged otherwise."""
    name = graph.name if isinstance(graph, Graph) else "?"
    _verify(graph, f"graph {short(name)}", 0)
    return graph


def _verify(graph: Graph, where: str, depth: int) -> int:
    """Check `graph`; return how many lines its printed form has (to point into it)."""
    if not isinstance(graph, Graph):
        raise VerifyError(f"{where}: expected a Graph, got {short(graph)}")
    if depth > MAX_SUBGRAPH_DEPTH:
        raise VerifyError(
            f"{where}: sub-graphs are nested more than MAX_SUBGRAPH_DEPTH={MAX_SUBGRAPH_DEPTH} "
            "deep (or a graph contains itself)"
        )

    def fail(line: int, message: str) -> None:
        raise VerifyError(f"{where}: {message}\nnear:\n{_context(graph, line)}")

    for part in ("inputs", "nodes", "outputs", "updates"):
        if not isinstance(getattr(graph, part), tuple):
            raise VerifyError(f"{where}: {part} is not a tuple: {short(getattr(graph, part))}")
    if not isinstance(graph.name, str):
        raise VerifyError(f"{where}: the graph name {short(graph.name)} is not a string")
    defined: set[Value] = set()
    names = set()
    for k, gi in enumerate(graph.inputs):
        if not isinstance(gi, GraphInput) or not isinstance(gi.value, Value):
            raise VerifyError(f"{where}: input {k} is not a GraphInput of a Value: {short(gi)}")
        if not isinstance(gi.name, str) or gi.name in names:
            fail(1 + k, f"input {k}: duplicate or malformed input name {short(gi.name)}")
        names.add(gi.name)
        problem = type_problem(gi.value.type) or _meta_problem(gi.meta)
        if problem:
            fail(1 + k, f"input {gi.name!r}: {problem}")
        if gi.value in defined:
            fail(1 + k, f"input {gi.name!r}: its value is also another input")
        defined.add(gi.value)
    next_line = len(graph.inputs) + 2  # the printed line of the next node
    for index, node in enumerate(graph.nodes):
        if not isinstance(node, Node):
            raise VerifyError(f"{where}, node {index}: expected a Node, got {short(node)}")
        line = next_line
        op = node.op
        if not isinstance(op, str):
            fail(line, f"node {index}: op {short(op)} is not a string")
        try:
            opdef = get_op(op)
        except EmberError as e:
            fail(line, f"node {index}: {e}")
        at = f"node {index}: {op}"
        for k, v in enumerate(node.inputs):
            if not isinstance(v, Value):
                fail(line, f"{at}: operand {k} is not a Value: {short(v)}")
            if v not in defined:
                fail(line, f"{at}: operand {v!r} is used before it is defined")
        if not opdef.check_arity(len(node.inputs)):
            fail(line, f"{at}: takes {opdef.num_inputs} inputs, got {len(node.inputs)}")
        for key, value in node.attrs.items():
            if key not in opdef.attrs:
                fail(line, f"{at}: unknown attr {short(key)} (schema: {opdef.attrs})")
            if not check_attr(opdef.attrs[key], value):
                fail(line, f"{at}: attr {key}={short(value)} is not a {opdef.attrs[key]}")
        missing = set(opdef.attrs) - set(node.attrs)
        if missing:
            fail(line, f"{at}: missing attrs {sorted(missing)}")
        problem = _meta_problem(node.meta)
        if not problem and not isinstance(node.source, Source):
            problem = f"source {short(node.source)} is not a Source"
        if not problem and not (
            isinstance(node.source.module_path, str)
            and isinstance(node.source.file, str)
            and type(node.source.line) is int
        ):
            problem = f"source {short(node.source)} has fields of the wrong types"
        if problem:
            fail(line, f"{at}: {problem}")
        subgraphs = node.subgraphs
        if not isinstance(subgraphs, tuple):
            fail(line, f"{at}: subgraphs {short(subgraphs)} is not a tuple")
        takes = takes_subgraphs(opdef)
        if subgraphs and not takes:
            fail(line, f"{at}: the op takes no sub-graphs, got {len(subgraphs)}")
        next_line += 1
        for k, sub in enumerate(subgraphs):
            sub_name = short(sub.name) if isinstance(sub, Graph) else "?"
            at_sub = f"{where}, node {index} ({op}), sub-graph {k} {sub_name}"
            next_line += _verify(sub, at_sub, depth + 1)
        for k, v in enumerate(node.outputs):
            if not isinstance(v, Value):
                fail(line, f"{at}: result {k} is not a Value: {short(v)}")
            problem = type_problem(v.type)
            if problem:
                fail(line, f"{at}: result {k}: {problem}")
        try:
            extra = {"subgraphs": subgraphs} if takes else {}
            inferred = list(opdef.infer([v.type for v in node.inputs], **node.attrs, **extra))
        except EmberError as e:
            fail(line, f"{at}: type inference failed: {e}")
        except Exception as e:  # an infer rule that cannot digest these attrs or operands
            fail(
                line,
                f"{at}: type inference failed with attrs {short(dict(node.attrs), 200)}: "
                f"{type(e).__name__}: {cut(str(e))}",
            )
        actual = [v.type for v in node.outputs]
        if inferred != actual:
            shown = ", ".join(map(str, inferred))
            fail(
                line,
                f"{at}: result types {', '.join(map(str, actual))} differ from inferred {shown}",
            )
        for v in node.outputs:
            if v in defined:
                fail(line, f"{at}: result {v!r} is defined twice")
            defined.add(v)
    end = next_line  # the `return` line
    for k, v in enumerate(graph.outputs):
        if not isinstance(v, Value) or v not in defined:
            fail(end, f"graph output {k} ({short(v)}) is not defined")
    for k, update in enumerate(graph.updates):
        if not (isinstance(update, tuple) and len(update) == 2 and isinstance(update[0], str)):
            fail(end + 1 + k, f"update {k} is not a (buffer name, value) pair: {short(update)}")
        if not isinstance(update[1], Value) or update[1] not in defined:
            fail(end + 1 + k, f"update of {update[0]!r} uses an undefined value")
    return end + 1 + len(graph.updates) + 1
