"""`verify(graph)`: the IR's well-formedness check, run between passes in tests.

Checks: every use is defined earlier, every op is registered with the right
arity, attrs match the op's schema, and stored result types equal the types
the registry infers. Failures raise `VerifyError` showing the nearby IR.
"""

from __future__ import annotations

from .errors import EmberError, VerifyError
from .ir import Graph
from .printer import print_graph
from .registry import check_attr, get_op


def _fail(graph: Graph, index: int, message: str) -> None:
    text = print_graph(graph).splitlines()
    n_inputs = len(graph.inputs) + 2  # header line and ') {'
    at = n_inputs + index
    lo, hi = max(0, at - 3), min(len(text), at + 4)
    context = "\n".join(("> " if k == at else "  ") + text[k] for k in range(lo, hi))
    raise VerifyError(f"{message}\nnear:\n{context}")


def verify(graph: Graph) -> Graph:
    """Raise `VerifyError` if `graph` is ill-formed; return it unchanged otherwise."""
    defined: set[int] = set()
    names = set()
    for gi in graph.inputs:
        if gi.name in names:
            _fail(graph, -1, f"duplicate input name {gi.name!r}")
        names.add(gi.name)
        if gi.value.type != gi.value.type.__class__(gi.value.type.shape, gi.value.type.dtype):
            _fail(graph, -1, f"input {gi.name!r} has a malformed type")
        defined.add(id(gi.value))
    for index, node in enumerate(graph.nodes):
        try:
            opdef = get_op(node.op)
        except EmberError as e:
            _fail(graph, index, str(e))
        for v in node.inputs:
            if id(v) not in defined:
                _fail(graph, index, f"{node.op}: operand {v!r} is used before it is defined")
        if not opdef.check_arity(len(node.inputs)):
            _fail(
                graph, index, f"{node.op}: takes {opdef.num_inputs} inputs, got {len(node.inputs)}"
            )
        for key, value in node.attrs.items():
            if key not in opdef.attrs:
                _fail(graph, index, f"{node.op}: unknown attr {key!r} (schema: {opdef.attrs})")
            if not check_attr(opdef.attrs[key], value):
                _fail(graph, index, f"{node.op}: attr {key}={value!r} is not a {opdef.attrs[key]}")
        missing = set(opdef.attrs) - set(node.attrs)
        if missing:
            _fail(graph, index, f"{node.op}: missing attrs {sorted(missing)}")
        try:
            extra = {"subgraphs": node.subgraphs} if node.subgraphs else {}
            inferred = list(opdef.infer([v.type for v in node.inputs], **node.attrs, **extra))
        except EmberError as e:
            _fail(graph, index, f"{node.op}: type inference failed: {e}")
        actual = [v.type for v in node.outputs]
        if inferred != actual:
            shown = ", ".join(map(str, inferred))
            _fail(
                graph,
                index,
                f"{node.op}: result types {', '.join(map(str, actual))} "
                f"differ from inferred {shown}",
            )
        for sub in node.subgraphs:
            verify(sub)
        for v in node.outputs:
            if id(v) in defined:
                _fail(graph, index, f"{node.op}: result {v!r} is defined twice")
            defined.add(id(v))
    for v in graph.outputs:
        if id(v) not in defined:
            _fail(graph, len(graph.nodes), f"graph output {v!r} is not defined")
    for name, v in graph.updates:
        if id(v) not in defined:
            _fail(graph, len(graph.nodes), f"update of {name!r} uses an undefined value")
    return graph
