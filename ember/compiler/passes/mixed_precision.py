"""Mixed precision: matmuls and convolutions computed in a low-precision dtype.

`em.compile(..., precision="bf16-mixed")` runs this pass on the train, eval and
predict graphs. Every `linear`, `matmul`, `einsum`, `conv` and `conv_transpose`
whose float operands are float32 gets `convert` nodes to bfloat16 (or float16)
before it and a `convert` back to float32 after it; everything else (softmax,
normalizations, losses, reductions, the optimizer update) stays in float32, and
parameters and optimizer state stay float32 master copies (their gradients flow
back through the converts). The inserted converts are ordinary IR nodes, so the
printed IR shows exactly where precision changes.
"""

from __future__ import annotations

from collections.abc import Callable

from ember.graphdef import Graph
from ember.graphdef.rewriter import Rewriter

LOW_PRECISION_OPS = frozenset({"linear", "matmul", "einsum", "conv", "conv_transpose"})


class _MixedPrecision(Rewriter):
    def __init__(self, graph: Graph, compute_dtype: str):
        super().__init__(graph)
        self.compute_dtype = compute_dtype

    def visit(self, node, inputs):
        floats = [v.type.dtype == "float32" for v in inputs]
        if node.subgraphs:  # control-flow bodies (an RNN's scan) get the same treatment
            bodies = tuple(_MixedPrecision(g, self.compute_dtype).run() for g in node.subgraphs)
            return self.emit(node.op, inputs, node.attrs, subgraphs=bodies, meta=node.meta)
        if node.op not in LOW_PRECISION_OPS or not any(floats):
            return super().visit(node, inputs)
        cast = [
            self.emit("convert", [v], {"dtype": self.compute_dtype})[0] if is_f32 else v
            for v, is_f32 in zip(inputs, floats, strict=True)
        ]
        outs = self.emit(node.op, cast, node.attrs, subgraphs=node.subgraphs, meta=node.meta)
        return tuple(
            self.emit("convert", [o], {"dtype": old.type.dtype})[0]
            if o.type.dtype != old.type.dtype
            else o
            for o, old in zip(outs, node.outputs, strict=True)
        )


def _mentions(graph: Graph) -> bool:
    return any(n.op in LOW_PRECISION_OPS or any(map(_mentions, n.subgraphs)) for n in graph.nodes)


def mixed_precision(compute_dtype: str = "bfloat16") -> Callable[[Graph], Graph]:
    """The pass for a compute dtype ("bfloat16" or "float16")."""
    if compute_dtype not in ("bfloat16", "float16"):
        raise ValueError(f"mixed precision computes in bfloat16 or float16, not {compute_dtype}")

    def run(graph: Graph) -> Graph:
        if not _mentions(graph):
            return graph
        return _MixedPrecision(graph, compute_dtype).run()

    run.__name__ = f"mixed_precision_{compute_dtype}"
    return run
