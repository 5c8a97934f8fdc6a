"""Structured control flow on traced values: `em.cond`, `em.scan`, `em.fori_loop`, `em.while_loop`.

Python `if`/`while` on a traced tensor cannot be compiled (its value is not
known while tracing); these functions trace each branch or loop body once
into a sub-graph and choose or repeat at run time, like `jax.lax`. Bodies
take and return pytrees (tuples, lists, dicts, namedtuples) of tensors and
may read any tensor or parameter of the enclosing forward.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ember.errors import TraceError
from ember.frontend.control_flow import (
    join_captures,
    parent_builder,
    same_structure,
    sequence_length,
    trace_body,
    tree_flatten,
    tree_unflatten,
)
from ember.frontend.tensor import Tensor
from ember.graphdef.types import TensorType
from ember.nn.functional._core import as_tensor

__all__ = ["cond", "scan", "fori_loop", "while_loop"]


def _tensors(builder, tree: Any) -> tuple[list, Any]:
    leaves, structure = tree_flatten(tree)
    return [as_tensor(x, builder) for x in leaves], structure


def cond(pred, true_fn: Callable, false_fn: Callable, *operands) -> Any:
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)`, chosen at run time.

    Both branches are traced and must return the same structure and types.
    A Python bool `pred` simply calls one branch.

    >>> y = em.cond(x.sum() > 0, lambda a: a * 2, lambda a: -a, x)
    """
    if isinstance(pred, (bool, np.bool_)):
        return true_fn(*operands) if pred else false_fn(*operands)
    parent = parent_builder()
    pred = as_tensor(pred, parent)
    if pred.ndim == 0 and pred.dtype != "bool":
        pred = pred != 0
    args, in_structure = _tensors(parent, operands)
    specs = [(f"operand{k}", t.value.type) for k, t in enumerate(args)]

    def branch(fn, role, dtypes=None):
        return trace_body(
            parent,
            "cond",
            fn,
            specs,
            lambda xs: fn(*tree_unflatten(in_structure, xs)),
            loop=False,
            result_dtypes=dtypes,
            default_name=role,
        )

    true_body = branch(true_fn, "true_fn")
    false_body = branch(false_fn, "false_fn", [t.dtype for t in true_body.results])
    same_structure(parent, "cond", "false_fn's result", true_body.structure, false_body.structure)
    captures = join_captures([true_body, false_body])
    outs = parent.emit(
        "cond",
        [pred, *args, *captures],
        {},
        subgraphs=(true_body.graph(captures), false_body.graph(captures)),
    )
    return tree_unflatten(true_body.structure, outs)


def scan(
    f: Callable, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False
) -> tuple[Any, Any]:
    """Loop `f(carry, x) -> (carry, y)` over the leading dim of `xs`; return (carry, stacked ys).

    Like `jax.lax.scan`: `xs` and the results are pytrees, `reverse=True` runs
    from the last step to the first (ys keep their positions). Differentiable.

    >>> h, hs = em.scan(lambda h, x: (em.tanh(x + h @ w), h), h0, xs)
    """
    parent = parent_builder()
    carry, carry_structure = _tensors(parent, init)
    seqs, xs_structure = _tensors(parent, xs)
    n = sequence_length(parent, seqs, length)
    specs = [(f"carry{k}", t.value.type) for k, t in enumerate(carry)]
    specs += [(f"x{k}", TensorType(t.shape[1:], t.dtype)) for k, t in enumerate(seqs)]
    nc = len(carry)
    pair = {}

    def call(args):
        out = f(
            tree_unflatten(carry_structure, args[:nc]),
            tree_unflatten(xs_structure, args[nc:]) if xs is not None else None,
        )
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise parent.error(
                TraceError(
                    f"scan: f must return a pair (carry, y), got "
                    f"{type(out).__name__}; fix: return (new_carry, y) "
                    "(y may be None)"
                )
            )
        new_carry, y = out
        c_leaves, pair["carry"] = tree_flatten(new_carry)
        y_leaves, pair["y"] = tree_flatten(y)
        return (c_leaves, y_leaves)

    body = trace_body(
        parent, "scan", f, specs, call, loop=True, result_dtypes=[t.dtype for t in carry]
    )
    same_structure(parent, "scan", "the carry returned by f", carry_structure, pair["carry"])
    captures = join_captures([body])
    attrs = {"num_carry": nc, "num_xs": len(seqs), "length": n, "reverse": bool(reverse)}
    outs = parent.emit("scan", [*carry, *seqs, *captures], attrs, subgraphs=(body.graph(captures),))
    return tree_unflatten(carry_structure, outs[:nc]), tree_unflatten(pair["y"], outs[nc:])


def fori_loop(lower: int, upper: int, body_fun: Callable, init_val: Any) -> Any:
    """`val = body_fun(i, val)` for i in range(lower, upper); `i` is an int32 tensor.

    The bounds are Python ints (the trip count is static, so it is
    differentiable); for a data-dependent count use `em.while_loop`.

    >>> x = em.fori_loop(0, 3, lambda i, x: x * 2 + i, x)
    """
    parent = parent_builder()
    try:
        if isinstance(lower, Tensor) or isinstance(upper, Tensor):
            raise TypeError
        lo, hi = operator.index(lower), operator.index(upper)
    except TypeError:
        raise parent.error(
            TraceError(
                f"fori_loop: lower and upper must be Python ints, got {type(lower).__name__} and "
                f"{type(upper).__name__}; fix: for a trip count known only at run time use "
                "em.while_loop(lambda c: c[0] < n, ..., (i0, val))"
            )
        ) from None
    carry, structure = _tensors(parent, init_val)
    specs = [("i", TensorType((), "int32"))] + [
        (f"carry{k}", t.value.type) for k, t in enumerate(carry)
    ]
    result = {}

    def call(args):
        leaves, result["s"] = tree_flatten(body_fun(args[0], tree_unflatten(structure, args[1:])))
        return leaves

    body = trace_body(
        parent,
        "fori_loop",
        body_fun,
        specs,
        call,
        loop=True,
        result_dtypes=[t.dtype for t in carry],
    )
    same_structure(parent, "fori_loop", "body_fun's result", structure, result["s"])
    captures = join_captures([body])
    attrs = {"lower": lo, "upper": hi, "num_carry": len(carry)}
    outs = parent.emit("fori_loop", [*carry, *captures], attrs, subgraphs=(body.graph(captures),))
    return tree_unflatten(structure, outs)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """`while cond_fun(val): val = body_fun(val)`, decided at run time.

    Forward only: JAX (and so ember) cannot differentiate it in reverse mode;
    use `em.fori_loop` or `em.scan` when the trip count is static.

    >>> n = em.while_loop(lambda x: x.sum() < 100, lambda x: x * 2, x)
    """
    parent = parent_builder()
    carry, structure = _tensors(parent, init_val)
    specs = [(f"carry{k}", t.value.type) for k, t in enumerate(carry)]
    result = {}

    def call_cond(args):
        pred = as_tensor(cond_fun(tree_unflatten(structure, args)))
        return pred != 0 if pred.ndim == 0 and pred.dtype != "bool" else pred

    def call_body(args):
        leaves, result["s"] = tree_flatten(body_fun(tree_unflatten(structure, args)))
        return leaves

    cond_body = trace_body(
        parent, "while_loop", cond_fun, specs, call_cond, loop=True, default_name="cond_fun"
    )
    loop_body = trace_body(
        parent,
        "while_loop",
        body_fun,
        specs,
        call_body,
        loop=True,
        result_dtypes=[t.dtype for t in carry],
        default_name="body_fun",
    )
    same_structure(parent, "while_loop", "body_fun's result", structure, result["s"])
    captures = join_captures([cond_body, loop_body])
    outs = parent.emit(
        "while_loop",
        [*carry, *captures],
        {"num_carry": len(carry)},
        subgraphs=(cond_body.graph(captures), loop_body.graph(captures)),
    )
    return tree_unflatten(structure, outs)
