"""`lower(graph)`: a Graph becomes a pure JAX function.

    fn(params, buffers, inputs, rng) -> (outputs, new_buffers)

`params`, `buffers` and `inputs` are lists in the order of the graph's inputs
of that kind; `new_buffers` has one entry per buffer (updated or passed through).
The function is traced by `jax.jit` once per input types; the interpreter
loop below runs only at trace time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ember.graphdef import Graph, UnsupportedOpError
from ember.graphdef.errors import EmberError
from ember.graphdef.printer import print_graph

from .lowering import LOWERING


class LoweringContext:
    """What a rule may need besides its operands: result types, precision."""

    __slots__ = ("node", "precision")

    def __init__(self, precision=None):
        self.node = None
        self.precision = precision

    def out_dtype(self, i: int) -> str:
        return self.node.outputs[i].type.dtype


@dataclass(frozen=True)
class LoweredGraph:
    fn: Callable
    param_names: tuple[str, ...]
    buffer_names: tuple[str, ...]
    data_names: tuple[str, ...]
    uses_rng: bool


class LoweringError(EmberError):
    """An internal failure while lowering; the message shows the surrounding IR."""


def _context(graph: Graph, index: int) -> str:
    lines = print_graph(graph).splitlines()
    at = len(graph.inputs) + 2 + index
    return "\n".join(
        ("> " if k == at else "  ") + lines[k]
        for k in range(max(0, at - 3), min(len(lines), at + 3))
    )


def lower(graph: Graph, precision=None) -> LoweredGraph:
    """Compile-time check that every op has a rule, then build the interpreter fn."""
    for node in graph.nodes:
        if node.op not in LOWERING:
            raise UnsupportedOpError(f"op {node.op!r} has no JAX lowering ({node.source})")
    params = [gi.value for gi in graph.inputs if gi.kind == "param"]
    buffers = [gi.value for gi in graph.inputs if gi.kind == "buffer"]
    data = [gi.value for gi in graph.inputs if gi.kind == "data"]
    rng = [gi.value for gi in graph.inputs if gi.kind == "rng"]
    updates = {name: v for name, v in graph.updates}
    buffer_names = tuple(gi.name for gi in graph.inputs if gi.kind == "buffer")

    def fn(param_values, buffer_values, input_values, rng_value=None):
        env = {}
        for vals, values in (
            (params, param_values),
            (buffers, buffer_values),
            (data, input_values),
        ):
            for v, x in zip(vals, values, strict=True):
                env[id(v)] = x
        if rng:
            env[id(rng[0])] = rng_value
        ctx = LoweringContext(precision)
        for index, node in enumerate(graph.nodes):
            ctx.node = node
            try:
                out = LOWERING[node.op](ctx, *(env[id(v)] for v in node.inputs), **node.attrs)
            except EmberError:
                raise
            except Exception as e:  # an internal bug: show where in the IR it happened
                raise LoweringError(
                    f"internal error lowering {node.op} ({node.source}): {type(e).__name__}: {e}\n"
                    f"{_context(graph, index)}"
                ) from e
            outs = out if isinstance(out, tuple) else (out,)
            for v, x in zip(node.outputs, outs, strict=True):
                env[id(v)] = x
        outputs = [env[id(v)] for v in graph.outputs]
        new_buffers = [
            env[id(updates[n])] if n in updates else env[id(b)]
            for n, b in zip(buffer_names, buffers, strict=True)
        ]
        return outputs, new_buffers

    return LoweredGraph(
        fn,
        tuple(gi.name for gi in graph.inputs if gi.kind == "param"),
        buffer_names,
        tuple(gi.name for gi in graph.inputs if gi.kind == "data"),
        bool(rng),
    )


__all__ = ["lower", "LoweredGraph", "LoweringContext", "print_graph"]
