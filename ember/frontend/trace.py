"""`trace()`: turn a Module (or a function of modules) plus input specs into a Graph.

>>> graph = trace(net, TensorSpec((64, 1, 28, 28)))
>>> print(graph)          # one line per op, with module path and file:line

Inputs and outputs are pytrees (`ember.graphdef.pytree`): tuples, lists, dicts
and namedtuples of tensors, with None and Python values allowed in inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ember.errors import EmberError, TraceError
from ember.frontend.python_random import watch_python_randomness
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import GraphBuilder
from ember.graphdef import dtypes
from ember.graphdef.ir import Graph
from ember.graphdef.pytree import TreeDef, describe, tree_flatten
from ember.graphdef.types import TensorType


def spec_of(x: Any) -> TensorType:
    """A TensorType from a spec or from anything with `.shape` and `.dtype`."""
    if isinstance(x, TensorType):
        return TensorType(x.shape, dtypes.effective(x.dtype))
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        dt = dtypes.canonical(getattr(x.dtype, "name", str(x.dtype)).replace("torch.", ""))
        return TensorType(tuple(x.shape), dtypes.effective(dt))
    if isinstance(x, (tuple, list)) and all(isinstance(d, int) for d in x):
        return TensorType(tuple(x), dtypes.DEFAULT_FLOAT)
    raise TraceError(
        f"cannot describe an input of type {type(x).__name__}; pass em.TensorSpec(shape, dtype) "
        "or an array"
    )


def flatten_outputs(out: Any) -> tuple[list[Tensor], TreeDef]:
    """The tensors of a (nested) result and its structure; anything else is an error."""
    leaves, treedef = tree_flatten(out)
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise TraceError(
                f"forward returned a {type(leaf).__name__} inside {describe(treedef)}; "
                "return tensors, or tuples/lists/dicts of tensors (None is allowed)"
            )
    return leaves, treedef


def input_names(fn: Callable, n: int) -> list[str]:
    """`fn`'s positional parameter names for `n` inputs (`input{i}` past the end)."""
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
    modules: Sequence[tuple[str, Any]] = (),
    names: Sequence[str] | None = None,
    graph_name: str = "graph",
) -> tuple[Graph, TreeDef]:
    """Trace `fn(*tensors)` where `modules` (pairs of name prefix and Module) own the
    parameters and buffers it uses. Returns the graph and the structure of its outputs."""
    types = [spec_of(s) for s in specs]
    names = list(names) if names is not None else input_names(fn, len(types))
    with GraphBuilder(graph_name) as builder, watch_python_randomness():
        tensors = [builder.add_input("data", name, t) for name, t in zip(names, types, strict=True)]
        for prefix, module in modules:
            builder.register_module_tree(module, prefix)
        try:
            out = fn(*tensors)
        except EmberError as e:  # a module's __call__ locates its own errors; a function's here
            located = builder.locate(e)
            if located is e:
                raise
            raise located from e.__cause__
        leaves, struct = flatten_outputs(out)
        return builder.build(leaves), struct


def trace(module: Any, *inputs: Any, name: str | None = None) -> Graph:
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
