"""The NaN locator: which IR node first produced a NaN or an infinity, and where it came from.

`model.locate_nonfinite(x, y)` re-runs a batch's train objective through an
instrumented lowering that checks every top-level IR node's float outputs (one
jitted program returning a flag per node), finds the first node whose output is
not finite, and reports its op, module path, the user's file:line, its printed
IR line and the value ranges of its inputs. If every forward value is finite,
the gradients are checked and the parameters with non-finite gradients named.
`em.compile(..., check_numerics=True)` (or `EMBER_CHECK_NUMERICS=1`) checks every
step's status and runs the locator on the failing batch before raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ember.compiler import lower
from ember.graphdef import Graph
from ember.graphdef.printer import print_graph
from ember.graphdef.pytree import tree_unflatten

_FLOATS = ("float16", "bfloat16", "float32", "float64")


@dataclass
class NonFiniteReport:
    """Where a NaN/inf first appeared (`node_index` is None when only gradients are bad)."""

    node_index: int | None
    op: str = ""
    module_path: str = ""
    location: str = ""
    ir_line: str = ""
    input_ranges: list[str] = field(default_factory=list)
    bad_gradients: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.node_index is None:
            names = ", ".join(self.bad_gradients) or "none"
            return (
                "every forward value is finite; non-finite gradients for: " + names + " (the "
                "backward of an op overflowed: e.g. sqrt or log at 0, division by ~0)"
            )
        where = self.module_path or "<root>"
        lines = [
            f"first non-finite value: node {self.node_index} `{self.op}` in module {where}"
            + (f" at {self.location}" if self.location else ""),
            f"  IR: {self.ir_line.strip()}",
        ]
        lines += [f"  input {k}: {r}" for k, r in enumerate(self.input_ranges)]
        return "\n".join(lines)


def node_lines(graph: Graph) -> list[str]:
    """The printed line of each top-level node (bodies printed in between are skipped)."""
    text = print_graph(graph).splitlines()
    at = len(graph.inputs) + 2
    out = []
    for node in graph.nodes:
        out.append(text[at])
        at += 1 + sum(len(print_graph(g).splitlines()) for g in node.subgraphs)
    return out


# ops whose infinities are intentional (attention masks: masked_fill(mask, -inf), where, fills)
_MASKING_OPS = frozenset({"masked_fill", "where", "constant", "full", "iota", "convert"})
# ops that turn -inf (or +inf) inputs into finite outputs (a masked softmax): an infinity of
# that sign reaching them is not what made their output bad
_ABSORBS_NEG = frozenset(
    "softmax log_softmax logsumexp exp sigmoid tanh relu amax max maximum".split()
)
_ABSORBS_POS = frozenset("sigmoid tanh amin min minimum".split())


def _flags(outs) -> jax.Array:
    """(any NaN, any inf, any +inf, any -inf) over a node's float outputs."""
    floats = [o for o in outs if str(o.dtype) in _FLOATS]
    if not floats:
        return jnp.zeros((4,), bool)

    def anyof(test):
        return jnp.any(jnp.stack([jnp.any(test(o)) for o in floats]))

    return jnp.stack([anyof(jnp.isnan), anyof(jnp.isinf), anyof(jnp.isposinf), anyof(jnp.isneginf)])


def _root_cause(graph: Graph, out_tree, found: np.ndarray, loss_name: str) -> int | None:
    """The node where the non-finite values that reach the loss begin.

    Walk back from the loss through producers whose outputs are non-finite: the earliest
    node on that path with no non-finite producer is the cause (a masked attention's
    -inf is absorbed by its softmax, so it is never on the path). None when the loss
    itself is finite (see `_first_nonfinite` for non-finite gradients).
    """
    bad = found[:, 0] | found[:, 1]
    nan, pos, neg = found[:, 0], found[:, 2], found[:, 3]
    producer = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
    leaves = tree_unflatten(out_tree, list(graph.outputs))
    loss_value = leaves["losses"].get(loss_name) if isinstance(leaves, dict) else None
    start = producer.get(loss_value)
    if start is not None and bad[start]:
        roots, stack, seen = [], [start], set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            sources = [producer[v] for v in graph.nodes[i].inputs if v in producer]
            op = graph.nodes[i].op
            tainted = [
                j
                for j in sources
                if nan[j]
                or (pos[j] and op not in _ABSORBS_POS)
                or (neg[j] and op not in _ABSORBS_NEG)
            ]
            if tainted:
                stack.extend(tainted)
            else:
                roots.append(i)
        return min(roots)
    return None


def _first_nonfinite(graph: Graph, found: np.ndarray) -> int | None:
    """The first NaN, else the first infinity outside masking ops (for bad gradients)."""
    nan_at = np.flatnonzero(found[:, 0])
    if nan_at.size:
        return int(nan_at[0])
    inf_at = [i for i in np.flatnonzero(found[:, 1]) if graph.nodes[i].op not in _MASKING_OPS]
    return int(inf_at[0]) if inf_at else None


def _poisoned(index, outs, poison):
    """Tests' injection: with `poison = [node, element, kind]` (runtime values, so one
    compiled program serves every trial), that node's first output gets NaN (kind 0) or
    +inf (kind 1) at `element`."""
    first = outs[0]
    if poison is None or str(first.dtype) not in _FLOATS or not first.size:
        return outs
    hit = (poison[0] == index) & (jnp.arange(first.size) == poison[1])
    bad = jnp.where(poison[2] == 0, jnp.nan, jnp.inf).astype(first.dtype)
    return (jnp.where(hit, bad, first.reshape(-1)).reshape(first.shape), *outs[1:])


def _ranges(args) -> jax.Array:
    """(finite min, finite max, NaN count, inf count) of each float argument."""
    rows = []
    for a in args:
        if str(a.dtype) not in _FLOATS or not a.size:
            rows.append(jnp.zeros((4,), jnp.float32))
            continue
        x = a.astype(jnp.float32)
        finite = jnp.isfinite(x)
        rows.append(
            jnp.stack(
                [
                    jnp.min(jnp.where(finite, x, jnp.inf)),
                    jnp.max(jnp.where(finite, x, -jnp.inf)),
                    jnp.sum(jnp.isnan(x)).astype(jnp.float32),
                    jnp.sum(jnp.isinf(x)).astype(jnp.float32),
                ]
            )
        )
    return jnp.stack(rows) if rows else jnp.zeros((0, 4), jnp.float32)


def _instrumented(program):
    """(flags_and_ranges_fn, gradients_fn) of a program, jitted once and cached on it."""
    cached = getattr(program, "_numerics", None)
    if cached is not None:
        return cached
    graph, out_tree = program.graph, program.out_tree
    record: list = []

    def observe(index, node, args, outs, poison=None):
        outs = _poisoned(index, outs, poison)
        record.append((_flags(outs), _ranges(args)))
        return outs

    def flags(p, b, x, key, poison):
        record.clear()
        lower(graph, observe=lambda i, n, a, o: observe(i, n, a, o, poison)).fn(p, b, x, key)
        return [f for f, _ in record], [r for _, r in record]

    def grads(p, b, x, key, poison, loss_name):
        fn = lower(graph, observe=lambda i, n, a, o: _poisoned(i, o, poison)).fn

        def loss_of(ps):
            outs, _ = fn(ps, b, x, key)
            return tree_unflatten(out_tree, outs)["losses"][loss_name]

        return jax.grad(loss_of)(p)

    cached = (jax.jit(flags), jax.jit(grads, static_argnums=5))
    object.__setattr__(program, "_numerics", cached)
    return cached


def locate(
    program,
    params: list,
    buffers: list,
    inputs: list,
    rng=None,
    poison=None,
    loss_name: str = "loss",
    param_names: tuple[str, ...] = (),
) -> NonFiniteReport | None:
    """Run `program` instrumented; None when the loss and every gradient are finite.

    `poison=(node, element, 0 for NaN | 1 for inf)` injects a bad value (tests).
    """
    graph = program.graph
    flags_fn, grads_fn = _instrumented(program)
    poison_arr = jnp.asarray(poison if poison is not None else (-1, 0, 0), jnp.int32)
    flag_list, range_list = flags_fn(params, buffers, inputs, rng, poison_arr)
    found = np.asarray(jnp.stack(flag_list)) if flag_list else np.zeros((0, 4), bool)
    index = _root_cause(graph, program.out_tree, found, loss_name)
    bad_grads: list[str] = []
    if index is None:
        try:
            grads = grads_fn(params, buffers, inputs, rng, poison_arr, loss_name)
        except TypeError:  # not a float loss: nothing to differentiate
            grads = []
        bad_grads = [
            n for n, g in zip(param_names, grads, strict=False) if not np.all(np.isfinite(g))
        ]
        if not bad_grads:
            return None
        index = _first_nonfinite(graph, found)
        if index is None:
            return NonFiniteReport(None, bad_gradients=bad_grads)
    node = graph.nodes[index]
    ranges = np.asarray(range_list[index])
    described = []
    for v, (lo, hi, nans, infs) in zip(node.inputs, ranges, strict=True):
        described.append(
            f"{v.type} finite range [{lo:.4g}, {hi:.4g}], {int(nans)} NaN, {int(infs)} inf"
            if str(v.type.dtype) in _FLOATS
            else str(v.type)
        )
    src = node.source
    return NonFiniteReport(
        index,
        node.op,
        src.module_path,
        src.location,
        node_lines(graph)[index],
        described,
        bad_grads,
    )
