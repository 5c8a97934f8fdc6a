"""Scan over layers: structurally identical sibling blocks become one `scan`.

A `ModuleList`/`Sequential` of equal blocks traces to N copies of the same
nodes, so XLA compiles N copies of the block (compile time grows with depth).
This pass finds runs of consecutive sibling blocks (module paths `prefix.k`,
`prefix.k+1`, ...) whose nodes are identical up to which tensors they read, and
replaces each run by one `scan` whose body is the first block:

- a value block k reads from block k-1 is the scan's **carry** (the residual
  stream of a Transformer);
- tensors each block reads from before the run, different per block (its own
  weights and buffers), are **stacked** along a new leading dim and scanned over;
- tensors every block shares (a mask, tied weights) are passed as **constants**;
- values used after the run (a BatchNorm's new running stats, hidden states a
  model collects) are the scan's per-layer results, sliced back out per block.

Parameters stay per-layer graph inputs with their torch names (state_dict and
checkpoints do not change); the stacking is part of the program, so gradients
reach each layer's own parameters. Random ops (dropout) may differ in their salt:
the step key is folded with each layer's salt outside the loop and the body's node
draws from its layer's key (`salt=None`), the masks of the unrolled program. Runs
of blocks that differ otherwise (a first block with a downsample) stay unrolled.

>>> graph = scan_repeated_blocks(graph)   # printed: stack(...), then one scan whose body
...                                       # is transformer.h.0 with inputs transformer.h.0-47.*
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ember.graphdef import Graph, Node, Value, get_op
from ember.graphdef.ir import GraphInput, Source
from ember.graphdef.rewriter import Rewriter

from .rewrite import body_input, region_body

MIN_LAYERS = 2


def layer_of(module_path: str) -> tuple[str, int] | None:
    """`("transformer.h", 3)` for `transformer.h.3.attn.c_attn`: the first numbered part."""
    parts = module_path.split(".")
    for k, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[:k]), int(part)
    return None


# -- structure --------------------------------------------------------------------------
def _refs(values, local: dict, external: dict, order: list) -> tuple:
    refs = []
    for v in values:
        if v in local:
            refs.append(local[v])
        else:
            if v not in external:
                external[v] = len(order)
                order.append(v)
            refs.append(("external", external[v]))
    return tuple(refs)


def structure(
    nodes, inputs=(), ignore_salts: bool = False
) -> tuple[Any, list[Value], dict[Value, tuple[int, int]]]:
    """A hashable key of `nodes` up to value identity, the values they read from outside
    (in first-use order) and where each local value is defined ((node, result) positions).
    `inputs`: values numbered as ("input", k) (a body's inputs). `ignore_salts`: random
    ops may differ in their RNG salt (each layer's dropout has its own)."""
    local: dict[Value, Any] = {v: ("input", k) for k, v in enumerate(inputs)}
    positions: dict[Value, tuple[int, int]] = {}
    external: dict[Value, int] = {}
    order: list[Value] = []
    key = []
    for p, node in enumerate(nodes):
        attrs = node.attrs
        if ignore_salts and get_op(node.op).stochastic:
            attrs = tuple(sorted((k, v) for k, v in attrs.items() if k != "salt"))
        key.append(
            (
                node.op,
                attrs,
                node.meta,
                _refs(node.inputs, local, external, order),
                tuple(v.type for v in node.outputs),
                tuple(graph_key(g) for g in node.subgraphs),
            )
        )
        for o, v in enumerate(node.outputs):
            local[v] = ("local", p, o)
            positions[v] = (p, o)
    return (tuple(key), tuple(v.type for v in order)), order, positions


def graph_key(graph: Graph) -> tuple:
    """Structure of a sub-graph body (input kinds and types, nodes, results, updates)."""
    inputs = [gi.value for gi in graph.inputs]
    key, _, positions = structure(graph.nodes, inputs)
    where = {v: ("input", k) for k, v in enumerate(inputs)} | positions
    return (
        tuple((gi.kind, gi.value.type) for gi in graph.inputs),
        key,
        tuple(where.get(v) for v in graph.outputs),
        tuple((name, where.get(v)) for name, v in graph.updates),
    )


# -- finding runs -----------------------------------------------------------------------
@dataclass
class _Run:
    prefix: str
    first_layer: int
    segments: list[list[int]]  # node indices of each block
    externals: list[list[Value]]  # per block: the values it reads from outside, by slot
    carry: list[tuple[int, tuple[int, int]]] = field(default_factory=list)  # slot, (p, o)
    stacked: list[int] = field(default_factory=list)
    consts: list[int] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.segments[0][0]

    @property
    def layers(self) -> str:
        return f"{self.first_layer}-{self.first_layer + len(self.segments) - 1}"


def _segments(graph: Graph) -> list[tuple[str, int, list[int]]]:
    """Contiguous node ranges that belong to one numbered block each."""
    out: list[tuple[str, int, list[int]]] = []
    for i, node in enumerate(graph.nodes):
        layer = layer_of(node.source.module_path) or ("", -1)
        if layer[1] >= 0 and out and out[-1][:2] == layer and out[-1][2][-1] == i - 1:
            out[-1][2].append(i)
        else:
            out.append((*layer, [i]))
    return out


def _classify(run: _Run, graph: Graph, defined_at: dict[Value, int]) -> bool:
    """Sort each external slot into carry / stacked / const; False if one fits none."""
    start = run.start
    positions = [
        {v: (p, o) for p, i in enumerate(seg) for o, v in enumerate(graph.nodes[i].outputs)}
        for seg in run.segments
    ]
    run.carry, run.stacked, run.consts = [], [], []
    for s in range(len(run.externals[0])):
        values = [ext[s] for ext in run.externals]
        if all(v is values[0] for v in values):
            run.consts.append(s)
            continue
        if defined_at.get(values[0], -1) >= start:
            return False
        carried = [positions[k - 1].get(values[k]) for k in range(1, len(values))]
        if carried[0] is not None and all(p == carried[0] for p in carried):
            run.carry.append((s, carried[0]))
        elif all(defined_at.get(v, -1) < start for v in values):
            run.stacked.append(s)
        else:
            return False
    return True


def _random(nodes) -> list[Node]:
    return [n for n in nodes if get_op(n.op).stochastic]


def step_key(graph: Graph) -> Value | None:
    """The graph's RNG key input, if it has one."""
    return next((gi.value for gi in graph.inputs if gi.kind == "rng"), None)


def _key_operand(node: Node, rng: Value | None) -> int | None:
    """Which operand of a random node is the step's RNG key."""
    hits = [j for j, v in enumerate(node.inputs) if v is rng]
    return hits[0] if len(hits) == 1 else None


def find_runs(graph: Graph, min_layers: int = MIN_LAYERS) -> list[_Run]:
    """Maximal runs of consecutive, identical, scannable blocks."""
    rng = step_key(graph)
    defined_at = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
    runs: list[_Run] = []
    current: _Run | None = None
    current_key = None
    for prefix, index, seg in _segments(graph):
        nodes = [graph.nodes[i] for i in seg]
        key, externals, _ = structure(nodes, ignore_salts=True) if index >= 0 else (0, 0, 0)
        if index >= 0 and not all(_key_operand(n, rng) is not None for n in _random(nodes)):
            index = -1  # a random op whose key is not the step's key: leave it alone
        if (
            current is not None
            and index >= 0
            and current.prefix == prefix
            and current.first_layer + len(current.segments) == index
            and key == current_key
        ):
            trial = _Run(
                prefix,
                current.first_layer,
                [*current.segments, seg],
                [*current.externals, externals],
            )
            if _classify(trial, graph, defined_at):
                current = trial
                continue
        if current is not None and len(current.segments) >= min_layers:
            runs.append(current)
        current, current_key = None, None
        if index >= 0:
            current, current_key = _Run(prefix, index, [seg], [externals]), key
    if current is not None and len(current.segments) >= min_layers:
        runs.append(current)
    return runs


# -- rewriting --------------------------------------------------------------------------
def _late_values(graph: Graph, runs: list[_Run]) -> set[Value]:
    """Values defined inside a run and used after it (later nodes, results, updates)."""
    run_of = {i: r for r, run in enumerate(runs) for seg in run.segments for i in seg}
    defined_in = {v: run_of[i] for i, n in enumerate(graph.nodes) if i in run_of for v in n.outputs}
    late = {v for v in graph.outputs if v in defined_in}
    late |= {v for _, v in graph.updates if v in defined_in}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v in defined_in and run_of.get(i) != defined_in[v]:
                late.add(v)
    return late


class _ScanBlocks(Rewriter):
    def __init__(self, graph: Graph, runs: list[_Run]):
        super().__init__(graph)
        self.run_at = {run.start: run for run in runs}
        self.inside = {i for run in runs for seg in run.segments for i in seg}
        self.position = {node: i for i, node in enumerate(graph.nodes)}
        self.late = _late_values(graph, runs)
        self.key = step_key(graph)

    def visit(self, node, inputs):
        i = self.position[node]
        if i in self.run_at:
            self._replace(self.run_at[i])
        if i in self.inside:  # replaced: later uses were rewired by _replace
            return node.outputs
        return super().visit(node, inputs)

    def _replace(self, run: _Run) -> None:
        nodes = self.graph.nodes
        first = nodes[run.start]
        self.current = first.replace(
            source=Source(run.prefix, first.source.file, first.source.line)
        )
        carry_at = {pos: j for j, (_, pos) in enumerate(run.carry)}
        last = len(run.segments) - 1
        ys: dict[tuple[int, int], int] = {}
        for k, seg in enumerate(run.segments):
            for p, i in enumerate(seg):
                for o, v in enumerate(nodes[i].outputs):
                    if v in self.late and not (k == last and (p, o) in carry_at):
                        ys.setdefault((p, o), len(ys))
        stacked = [
            self.emit("stack", [self.lookup(ext[s]) for ext in run.externals], {"dim": 0})[0]
            for s in run.stacked
        ]
        # each random node p of layer k draws from the step key folded with its own salt:
        # fold per layer outside, stack, and let the body's node use its slice as is
        for p, _ in _random_positions(nodes, run.segments[0]):
            folds = [
                self.emit("random_fold_in", [self.key], {"salt": nodes[seg[p]].attrs["salt"]})[0]
                for seg in run.segments
            ]
            stacked.append(self.emit("stack", folds, {"dim": 0})[0])
        first_ext = run.externals[0]
        operands = [
            *(self.lookup(first_ext[s]) for s, _ in run.carry),
            *stacked,
            *(self.lookup(first_ext[s]) for s in run.consts),
        ]
        attrs = {
            "num_carry": len(run.carry),
            "num_xs": len(stacked),
            "length": len(run.segments),
            "reverse": False,
        }
        body = _body(self.graph, run, list(ys))
        meta = {"scan_layers": f"{run.prefix}.{run.layers}"}
        outs = self.emit("scan", operands, attrs, subgraphs=(body,), meta=meta)
        finals, per_layer = outs[: len(run.carry)], outs[len(run.carry) :]
        for k, seg in enumerate(run.segments):
            for p, i in enumerate(seg):
                for o, v in enumerate(nodes[i].outputs):
                    if v not in self.late:
                        continue
                    if k == last and (p, o) in carry_at:
                        self.env[v] = finals[carry_at[(p, o)]]
                    else:
                        self.env[v] = self._layer(per_layer[ys[(p, o)]], k)

    def _layer(self, stacked: Value, k: int) -> Value:
        shape = stacked.type.shape
        (piece,) = self.emit(
            "slice",
            [stacked],
            {
                "starts": (k, *(0,) * (len(shape) - 1)),
                "stops": (k + 1, *shape[1:]),
                "steps": (1,) * len(shape),
            },
        )
        return self.emit("reshape", [piece], {"shape": shape[1:]})[0]


def _random_positions(nodes, segment: list[int]) -> list[tuple[int, int]]:
    return [(p, i) for p, i in enumerate(segment) if get_op(nodes[i].op).stochastic]


def _body(graph: Graph, run: _Run, ys: list[tuple[int, int]]) -> Graph:
    """The first block as a scan body: (*carry, *layer slices, *consts) -> (*carry, *ys)."""
    first_ext = run.externals[0]
    marker = f"{run.prefix}.{run.first_layer}."
    inputs = []
    for j, (s, _) in enumerate(run.carry):
        inputs.append((first_ext[s], GraphInput("data", f"carry{j}", Value(first_ext[s].type))))
    for j, s in enumerate(run.stacked):
        gi = body_input(graph, first_ext[s], f"layer_input{j}")
        if gi.name.startswith(marker):  # its torch name, for every layer of the run
            gi = gi.replace(name=gi.name.replace(marker, f"{run.prefix}.{run.layers}.", 1))
        else:
            gi = gi.replace(name=f"{gi.name}.{run.layers}")
        inputs.append((first_ext[s], gi))
    seg = [graph.nodes[i] for i in run.segments[0]]
    rng = step_key(graph)
    for p, _ in _random_positions(graph.nodes, run.segments[0]):
        key = Value(seg[p].inputs[_key_operand(seg[p], rng)].type)  # this layer's folded key
        keys = list(seg[p].inputs)
        keys[_key_operand(seg[p], rng)] = key
        seg[p] = seg[p].replace(inputs=tuple(keys), attrs={**seg[p].attrs, "salt": None})
        inputs.append((key, GraphInput("data", f"{run.prefix}.{run.layers}.key{p}", key)))
    for j, s in enumerate(run.consts):
        inputs.append((first_ext[s], body_input(graph, first_ext[s], f"shared{j}")))
    results = [seg[p].outputs[o] for _, (p, o) in run.carry]
    results += [seg[p].outputs[o] for p, o in ys]
    return region_body(seg, inputs, results, f"{run.prefix}.{run.layers}")


def scan_repeated_blocks(graph: Graph) -> Graph:
    """Rewrite every run of >= MIN_LAYERS identical consecutive blocks as one `scan`."""
    runs = find_runs(graph)
    if not runs:
        return graph
    return _ScanBlocks(graph, runs).run()
