"""`trace()`: turn a Module (or a function of modules) plus input specs into a Graph.

>>> graph = trace(net, TensorSpec((64, 1, 28, 28)))
>>> print(graph)          # one line per op, with module path and file:line
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from . import dtypes
from .errors import TraceError
from .ir import Graph
from .module import Module
from .tensor import Tensor
from .tracer import GraphBuilder
from .types import TensorType


def spec_of(x: Any) -> TensorType:
    """A TensorType from a spec or from anything with `.shape` and `.dtype`."""
    if isinstance(x, TensorType):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        dt = dtypes.canonical(getattr(x.dtype, "name", str(x.dtype)).replace("torch.", ""))
        return TensorType(tuple(x.shape), dt)
    if isinstance(x, (tuple, list)) and all(isinstance(d, int) for d in x):
        return TensorType(tuple(x), dtypes.DEFAULT_FLOAT)
    raise TraceError(
        f"cannot describe an input of type {type(x).__name__}; pass em.TensorSpec(shape, dtype) "
        "or an array"
    )


def flatten_outputs(out: Any) -> tuple[list[Tensor], Any]:
    """Flatten (nested) tuples/lists/dicts of Tensors; return leaves and a structure."""
    if isinstance(out, Tensor):
        return [out], "*"
    if out is None:
        return [], None
    if isinstance(out, dict):
        leaves, struct = [], {}
        for k, v in out.items():
            sub, s = flatten_outputs(v)
            leaves += sub
            struct[k] = s
        return leaves, ("dict", struct)
    if isinstance(out, (tuple, list)):
        leaves, structs = [], []
        for v in out:
            sub, s = flatten_outputs(v)
            leaves += sub
            structs.append(s)
        kind = type(out) if hasattr(out, "_fields") else type(out).__name__
        return leaves, (kind, structs)
    raise TraceError(
        f"forward returned a {type(out).__name__}; return tensors, or tuples/lists/dicts of tensors"
    )


def unflatten_outputs(leaves: Sequence, struct: Any):
    it = iter(leaves)

    def build(s):
        if s is None:
            return None
        if s == "*":
            return next(it)
        kind, body = s
        if kind == "dict":
            return {k: build(v) for k, v in body.items()}
        items = [build(v) for v in body]
        if kind == "tuple":
            return tuple(items)
        if kind == "list":
            return items
        return kind(*items)  # a namedtuple class

    return build(struct)


def input_names(fn: Callable, n: int) -> list[str]:
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        names = [p.name for p in params[:n]]
    except (TypeError, ValueError):
        names = []
    names += [f"input{i}" for i in range(len(names), n)]
    return names


def trace_function(
    fn: Callable,
    specs: Sequence[Any],
    *,
    modules: Sequence[tuple[str, Module]] = (),
    names: Sequence[str] | None = None,
    graph_name: str = "graph",
) -> tuple[Graph, Any]:
    """Trace `fn(*tensors)` where `modules` own the parameters it uses.

    Returns the graph and the structure of its outputs.
    """
    types = [spec_of(s) for s in specs]
    names = list(names) if names is not None else input_names(fn, len(types))
    with GraphBuilder(graph_name) as builder:
        tensors = [builder.add_input("data", name, t) for name, t in zip(names, types, strict=True)]
        for prefix, module in modules:
            builder.register_module_tree(module, prefix)
        out = fn(*tensors)
        leaves, struct = flatten_outputs(out)
        return builder.build(leaves), struct


def trace(module: Module, *inputs: Any, name: str | None = None) -> Graph:
    """Trace `module.forward` on input specs (or example arrays) into an IR Graph.

    Buffer writes (e.g. BatchNorm statistics) appear as `buffer_write` nodes;
    the compiler's `functionalize_buffers` pass turns them into graph updates.
    """
    graph, _ = trace_function(
        module,
        inputs,
        modules=[("", module)],
        names=input_names(module.forward, len(inputs)),
        graph_name=name or type(module).__name__,
    )
    return graph
