"""Specialize a graph for evaluation: no dropout, no buffer updates."""

from __future__ import annotations

from ember.compiler.passes.rewrite import substitute
from ember.graphdef import Graph


def specialize_for_eval(graph: Graph) -> Graph:
    """Remove dropout (identity in eval) and buffer writes/updates.

    Modules already trace differently under `.eval()` (BatchNorm uses running
    statistics); this pass makes any graph, e.g. one loaded from disk, safe to
    evaluate, and drops the RNG input when nothing uses it any more.
    """
    mapping = {}
    kept = []
    for n in graph.nodes:
        if n.op in ("dropout", "buffer_write"):
            mapping[n.outputs[0]] = n.inputs[0]
        else:
            kept.append(n)
    out = substitute(graph.replace(updates=()), kept, mapping)
    uses_rng = any(
        v is gi.value for gi in out.inputs if gi.kind == "rng" for n in out.nodes for v in n.inputs
    )
    if not uses_rng:
        out = out.replace(inputs=tuple(gi for gi in out.inputs if gi.kind != "rng"))
    return out
