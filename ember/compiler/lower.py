"""`lower(graph)`: a Graph becomes a pure JAX function.

    fn(params, buffers, inputs, rng) -> (outputs, new_buffers)

`params`, `buffers` and `inputs` are lists in the order of the graph's inputs
of that kind; `new_buffers` has one entry per buffer (updated or passed through).
The environment maps each `Value` (hashed by identity) to its JAX array.
The function is traced by `jax.jit` once per input types; the interpreter
loop below runs only at trace time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ember.compiler.lowering import LOWERING
from ember.compiler.lowering.backend_rules import ALTERNATIVE_LOWERING
from ember.errors import EmberError, UnsupportedOpError
from ember.graphdef import Graph
from ember.graphdef.ir import INPUT_KINDS
from ember.graphdef.printer import print_graph


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
    """`fn(params, buffers, inputs, rng) -> (outputs, new_buffers)` by input kind, and
    `run(*inputs_in_graph_order) -> (*outputs, *updated buffers)` (sub-graph bodies)."""

    fn: Callable
    param_names: tuple[str, ...]
    buffer_names: tuple[str, ...]
    data_names: tuple[str, ...]
    uses_rng: bool
    run: Callable


class LoweringError(EmberError):
    """An internal failure while lowering; the message shows the surrounding IR."""


def _context(graph: Graph, index: int) -> str:
    lines = print_graph(graph).splitlines()
    at = len(graph.inputs) + 2 + index
    return "\n".join(
        ("> " if k == at else "  ") + lines[k]
        for k in range(max(0, at - 3), min(len(lines), at + 3))
    )


def lower(graph: Graph, precision=None, observe=None, mesh=None) -> LoweredGraph:
    """Compile-time check that every op has a rule, then build the interpreter fns.

    `observe(index, node, inputs, outputs)` (optional) is called after every top-level
    node while tracing: instrumented lowerings (the NaN locator) collect from it.
    With a JAX `mesh`, `meta{sharding=...}` annotations (inputs and nodes; see
    `passes/annotate_sharding.py`) become `jax.lax.with_sharding_constraint`s."""
    for node in graph.nodes:
        if node.op not in LOWERING:
            raise UnsupportedOpError(f"op {node.op!r} has no JAX lowering ({node.source})")
    by_kind = {kind: [gi.value for gi in graph.inputs if gi.kind == kind] for kind in INPUT_KINDS}
    params, buffers, data, rng = (by_kind[k] for k in ("param", "buffer", "data", "rng"))
    updates = dict(graph.updates)
    buffer_names = tuple(gi.name for gi in graph.inputs if gi.kind == "buffer")
    update_of = [updates.get(n, b) for n, b in zip(buffer_names, buffers, strict=True)]

    def fn(param_values, buffer_values, input_values, rng_value=None):
        env = dict(zip(params, param_values, strict=True))
        env.update(zip(buffers, buffer_values, strict=True))
        env.update(zip(data, input_values, strict=True))
        if rng:
            env[rng[0]] = rng_value
        if mesh is not None:
            for gi in graph.inputs:
                if "sharding" in gi.meta and gi.kind == "data":
                    env[gi.value] = _constrain(env[gi.value], gi.meta["sharding"], mesh)
        evaluate(graph, env, precision, observe, mesh)
        return [env[v] for v in graph.outputs], [env[v] for v in update_of]

    def run(*values):
        env = dict(zip((gi.value for gi in graph.inputs), values, strict=True))
        evaluate(graph, env, precision)
        return tuple(env[v] for v in graph.outputs) + tuple(env[v] for _, v in graph.updates)

    return LoweredGraph(
        fn,
        tuple(gi.name for gi in graph.inputs if gi.kind == "param"),
        buffer_names,
        tuple(gi.name for gi in graph.inputs if gi.kind == "data"),
        bool(rng),
        run,
    )


def evaluate(graph: Graph, env: dict, precision=None, observe=None, mesh=None) -> None:
    """Run every node's rule in order, extending `env` (Value -> array); trace time only."""
    ctx = LoweringContext(precision)
    for index, node in enumerate(graph.nodes):
        ctx.node = node
        args = [env[v] for v in node.inputs]
        try:
            rule = node.meta.get("rule")
            lowering = ALTERNATIVE_LOWERING[rule] if rule else LOWERING[node.op]
            out = lowering(ctx, *args, **node.attrs)
        except EmberError:
            raise
        except Exception as e:  # an internal bug: show where in the IR it happened
            raise LoweringError(
                f"internal error lowering {node.op} ({node.source}): {type(e).__name__}: {e}\n"
                f"{_context(graph, index)}"
            ) from e
        outs = out if isinstance(out, tuple) else (out,)
        if observe is not None:
            outs = observe(index, node, args, outs) or outs
        if mesh is not None and "sharding" in node.meta:
            outs = (_constrain(outs[0], node.meta["sharding"], mesh), *outs[1:])
        for v, x in zip(node.outputs, outs, strict=True):
            env[v] = x


def _constrain(x, spec, mesh):
    from jax.lax import with_sharding_constraint
    from jax.sharding import NamedSharding, PartitionSpec

    axes = [tuple(a) if isinstance(a, (list, tuple)) else a for a in spec]
    return with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(*axes)))


__all__ = ["lower", "LoweredGraph", "LoweringContext", "print_graph"]
