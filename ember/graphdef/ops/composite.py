"""Ops whose meaning is a sub-graph: `call` (a module's forward), `grad` and
`value_and_grad` (autograd).

Lazy tensors record a module call as ONE `call` node whose body is the module's
traced forward (cached per input types and modes), so a training loop records a
handful of nodes per iteration instead of the whole model. `backward()` records
a `grad` node whose body maps (wrt..., externals...[, cotangent]) to a scalar;
its results are the gradients with respect to the first `num_wrt` operands.
`value_and_grad` adds the body's scalar after them: `loss.backward()` records it, so a
loop that reads the loss gets it from the gradient's own forward instead of computing
the forward a second time.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import DTypeError, ShapeError
from ember.graphdef.ir import Graph
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _one_body(op: str, subgraphs: Sequence[Graph]) -> Graph:
    if len(subgraphs) != 1:
        raise ShapeError(f"{op}: expects one sub-graph, got {len(subgraphs)}")
    return subgraphs[0]


def _check_operands(op: str, body: Graph, types: Sequence[TensorType]) -> None:
    want = [gi.value.type for gi in body.inputs]
    if list(types) != want:
        raise ShapeError(
            f"{op}: operands ({', '.join(map(str, types))}) do not match the body's inputs "
            f"({', '.join(map(str, want))})"
        )


def _call(types: Sequence[TensorType], *, name: str, subgraphs: Sequence[Graph] = ()):
    body = _one_body("call", subgraphs)
    _check_operands("call", body, types)
    return [v.type for v in body.outputs] + [v.type for _, v in body.updates]


register_op(
    "call",
    _call,
    attrs={"name": "str"},
    num_inputs=(0, None),
    doc="run the body (a module's traced forward); results are its outputs, then its "
    "buffer updates",
)


def _grad(types: Sequence[TensorType], *, num_wrt: int, subgraphs: Sequence[Graph] = ()):
    body = _one_body("grad", subgraphs)
    _check_operands("grad", body, types)
    if not 0 < num_wrt <= len(types):
        raise ShapeError(f"grad: num_wrt={num_wrt} for {len(types)} operands")
    if len(body.outputs) != 1 or body.outputs[0].type.shape != ():
        shown = ", ".join(str(v.type) for v in body.outputs)
        raise ShapeError(f"grad: the body must return one scalar, got ({shown})")
    if body.outputs[0].type.dtype in ("complex64", "complex128"):
        raise DTypeError(
            f"grad: the loss is complex ({body.outputs[0].type}); as in PyTorch, only a real "
            "scalar can be differentiated; fix: take its .real, .abs() or a norm"
        )
    for t in types[:num_wrt]:
        if t.dtype not in ("float16", "bfloat16", "float32", "float64", "complex64", "complex128"):
            raise DTypeError(f"grad: can only differentiate floating or complex tensors, got {t}")
    return list(types[:num_wrt])


register_op(
    "grad",
    _grad,
    attrs={"num_wrt": "int"},
    num_inputs=(1, None),
    doc="gradients of the body's scalar result with respect to the first num_wrt operands",
)


def _value_and_grad(types: Sequence[TensorType], *, num_wrt: int, subgraphs: Sequence[Graph] = ()):
    grads = _grad(types, num_wrt=num_wrt, subgraphs=subgraphs)
    return [*grads, subgraphs[0].outputs[0].type]


register_op(
    "value_and_grad",
    _value_and_grad,
    attrs={"num_wrt": "int"},
    num_inputs=(1, None),
    doc="grad's results, then the body's scalar result",
)
