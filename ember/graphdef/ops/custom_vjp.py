"""`custom_vjp`: a computation whose backward pass is given, not derived.

`em.autograd.Function` and `Tensor.register_hook` record one `custom_vjp` node
with two self-contained sub-graphs:

- `forward`: (*operands) -> (*results, *residuals)
- `backward`: (*cotangents of the results, *residuals) -> one gradient per operand
  listed in `grad_inputs` (every other operand gets no gradient)

The node's results are the forward's first `len(outputs) - num_residuals`
outputs; residuals are what the backward reads from the forward (saved tensors).
Lowered to `jax.custom_vjp`, so `jax.grad` of any enclosing program uses the
given backward.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.errors import DTypeError, ShapeError
from ember.graphdef import dtypes
from ember.graphdef.ir import Graph
from ember.graphdef.registry import register_op
from ember.graphdef.types import TensorType


def _show(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(map(str, types)) + ")"


def _custom_vjp(
    types: Sequence[TensorType],
    *,
    name: str,
    num_residuals: int,
    grad_inputs: tuple[int, ...],
    subgraphs: Sequence[Graph] = (),
):
    where = f"custom_vjp {name}"
    if len(subgraphs) != 2:
        raise ShapeError(
            f"{where}: expects two sub-graphs (forward, backward), got {len(subgraphs)}"
        )
    forward, backward = subgraphs
    takes = [gi.value.type for gi in forward.inputs]
    if takes != list(types):
        raise ShapeError(
            f"{where}: the forward takes {_show(takes)} but the node passes {_show(types)}"
        )
    produced = [v.type for v in forward.outputs]
    if not 0 <= num_residuals <= len(produced):
        raise ShapeError(
            f"{where}: num_residuals={num_residuals} for a forward with {len(produced)} outputs"
        )
    n_out = len(produced) - num_residuals
    results, residuals = produced[:n_out], produced[n_out:]
    wants = [gi.value.type for gi in backward.inputs]
    if wants != results + residuals:
        raise ShapeError(
            f"{where}: the backward takes {_show(wants)} but gets the cotangents of the "
            f"results and the residuals {_show(results + residuals)}"
        )
    if len(set(grad_inputs)) != len(grad_inputs) or any(
        not 0 <= i < len(types) for i in grad_inputs
    ):
        raise ShapeError(f"{where}: grad_inputs={grad_inputs} for {len(types)} operands")
    for i in grad_inputs:
        if not dtypes.is_floating(types[i].dtype):
            raise DTypeError(f"{where}: operand {i} of type {types[i]} cannot have a gradient")
    gives = [v.type for v in backward.outputs]
    expected = [types[i] for i in grad_inputs]
    if gives != expected:
        raise ShapeError(
            f"{where}: the backward returns {_show(gives)} but the gradients of operands "
            f"{list(grad_inputs)} have types {_show(expected)}"
        )
    return results


register_op(
    "custom_vjp",
    _custom_vjp,
    attrs={"name": "str", "num_residuals": "int", "grad_inputs": "ints"},
    num_inputs=(0, None),
    doc="forward sub-graph with a given backward sub-graph (autograd.Function, tensor hooks)",
)
