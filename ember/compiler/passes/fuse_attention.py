"""Rewrite `softmax(q kᵀ · scale [mask]) v` subgraphs into one `dot_product_attention`.

Matches the forms attention is written in: scale on the scores (`(q @ k.transpose(-2,
-1)) * s`, nanoGPT) or on q (`(q * s) @ kᵀ`, ember's SDPA); an optional mask applied as
`where(allowed, scores, -inf)`, `where(masked, -inf, scores)` (`masked_fill`) or
`scores + mask`; softmax over the last dim; then `@ v`. Every intermediate must have no
other use (attention weights that are also returned stay unfused). Runs on GPU only
(`fuse_attention_for`), where the node lowers to `jax.nn.dot_product_attention` (cuDNN);
elsewhere XLA fuses the unfused form as well. Control-flow bodies (a scan over layers)
are visited too.

>>> graph = fuse_attention(graph)    # %7 = dot_product_attention(%q, %k, %v, %mask) {...}
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ember.graphdef import Graph, Node, Value, dtypes
from ember.graphdef.rewriter import Rewriter


def _constant(node: Node | None) -> float | None:
    """The value of a 0-d float `constant` node, rounded to its dtype as its lowering does."""
    if node is None or node.op != "constant" or tuple(node.attrs["shape"]) != ():
        return None
    value, dtype = node.attrs["value"], node.attrs["dtype"]
    if not isinstance(value, (int, float)) or not dtypes.is_floating(dtype):
        return None
    return float(np.asarray(value, jnp.dtype(dtype)))


def _swaps_last_two(node: Node | None) -> bool:
    if node is None or node.op != "transpose":
        return False
    perm = tuple(node.attrs["perm"])
    n = len(perm)
    return n >= 2 and perm == (*range(n - 2), n - 1, n - 2)


class _Fuse(Rewriter):
    def __init__(self, graph: Graph):
        super().__init__(graph)
        self.producer: dict[Value, Node] = {v: n for n in graph.nodes for v in n.outputs}
        self.uses: dict[Value, int] = {}
        for n in graph.nodes:
            for v in n.inputs:
                self.uses[v] = self.uses.get(v, 0) + 1
        for v in (*graph.outputs, *(v for _, v in graph.updates)):
            self.uses[v] = self.uses.get(v, 0) + 1

    def _only_use(self, v: Value) -> Node | None:
        """The producer of `v` if the pattern is its only user."""
        return self.producer.get(v) if self.uses.get(v, 0) == 1 else None

    def visit(self, node, inputs):
        if node.subgraphs:
            bodies = tuple(fuse_attention(g) for g in node.subgraphs)
            return self.emit(
                node.op, inputs, node.attrs, subgraphs=bodies, source=node.source, meta=node.meta
            )
        match = self._match(node) if node.op == "matmul" else None
        if match is None:
            return super().visit(node, inputs)
        operands, attrs = match
        return self.emit("dot_product_attention", [self.lookup(v) for v in operands], attrs)

    def _match(self, out: Node):
        weights, v = out.inputs
        soft = self._only_use(weights)
        if soft is None or soft.op != "softmax" or soft.attrs["dim"] not in (-1, v.type.ndim - 1):
            return None
        masked, mask, kind = soft.inputs[0], None, "none"
        scores = masked
        producer = self._only_use(masked)
        if producer is not None and producer.op == "where":
            cond, a, b = producer.inputs
            if _constant(self.producer.get(b)) == -math.inf:
                scores, mask, kind = a, cond, "allowed"
            elif _constant(self.producer.get(a)) == -math.inf:
                scores, mask, kind = b, cond, "disallowed"
        elif producer is not None and producer.op == "add":
            a, b = producer.inputs
            left = self._only_use(a)
            if left is not None and left.op in ("mul", "matmul"):
                scores, mask, kind = a, b, "additive"
        scale, scale_query = 1.0, False
        product = self._only_use(scores)
        if product is not None and product.op == "mul":
            x, c = product.inputs
            scale = _constant(self.producer.get(c))
            product = self._only_use(x)
        if product is None or product.op != "matmul" or scale is None:
            return None
        q, kt = product.inputs
        scaled_q = self._only_use(q)
        if scale == 1.0 and scaled_q is not None and scaled_q.op == "mul":
            factor = _constant(self.producer.get(scaled_q.inputs[1]))
            if factor is not None:
                q, scale, scale_query = scaled_q.inputs[0], factor, True
        transpose = self._only_use(kt)
        if not _swaps_last_two(transpose):
            return None
        k = transpose.inputs[0]
        types = (q.type, k.type, v.type)
        if len({t.ndim for t in types}) != 1 or len({t.dtype for t in types}) != 1:
            return None
        if not q.type.shape[:-2] == k.type.shape[:-2] == v.type.shape[:-2]:
            return None
        if mask is not None and kind == "additive" and mask.type.dtype != q.type.dtype:
            return None
        operands = [q, k, v] + ([mask] if mask is not None else [])
        return operands, {"scale": scale, "mask_kind": kind, "scale_query": scale_query}


def fuse_attention(graph: Graph) -> Graph:
    """`graph` with each attention pattern as one `dot_product_attention` node."""
    if not any(n.op == "softmax" or n.subgraphs for n in graph.nodes):
        return graph
    return _Fuse(graph).run()


def fuse_attention_for(backend: str | None = None) -> Callable[[Graph], Graph]:
    """The pass for `backend` (None: JAX's default): fuses on GPU, else does nothing."""

    def fuse_attention_on_gpu(graph: Graph) -> Graph:
        return fuse_attention(graph) if (backend or jax.default_backend()) == "gpu" else graph

    return fuse_attention_on_gpu
