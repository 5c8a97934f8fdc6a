"""Turn `buffer_write` nodes into graph updates threaded through the step."""

from __future__ import annotations

from ember.compiler.passes.rewrite import substitute
from ember.graphdef import Graph


def functionalize_buffers(graph: Graph) -> Graph:
    """Each buffer's last write becomes `update NAME <- value`; the writes disappear.

    Later reads already use the written value (the tracer rebinds the buffer),
    so a write is an identity on its operand.
    """
    writes = [n for n in graph.nodes if n.op == "buffer_write"]
    if not writes:
        return graph
    mapping = {n.outputs[0]: n.inputs[0] for n in writes}
    last = {}
    for n in writes:
        last[n.attrs["name"]] = n.outputs[0]
    kept = [n for n in graph.nodes if n.op != "buffer_write"]
    updates = dict(graph.updates)
    updates.update(last)
    names = [gi.name for gi in graph.inputs if gi.kind == "buffer"]
    ordered = tuple((name, updates[name]) for name in names if name in updates)
    return substitute(graph.replace(updates=ordered), kept, mapping)
