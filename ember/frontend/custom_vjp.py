"""Recording a `custom_vjp` node: a forward and a hand-written backward, traced as sub-graphs.

Used by `em.autograd.Function` and `Tensor.register_hook`. Both bodies are
traced once per call, inside a model's trace or on lazy tensors alike:

- the forward body takes one input per operand; tensors it closes over
  (parameters, other tensors) become extra operands, which get no gradient
  (PyTorch runs `Function.forward` without recording gradients);
- the backward body is nested in the forward body, so every forward tensor it
  reads (saved tensors, the inputs) is captured as a *residual*: an extra
  output of the forward sub-graph, passed to the backward by the lowering
  (`jax.custom_vjp`: fwd returns them, bwd receives them).

Outside a trace the bodies are traced by `LazyBody`, whose enclosing graph is
the lazy recorder: lazy tensors and parameters read in the bodies are captured
as operands. Equal bodies are interned by their printed form, so a training
loop records the same sub-graphs every iteration and compiles once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ember.errors import EmberError, TraceError
from ember.frontend.control_flow import SubgraphBuilder
from ember.frontend.lazy import RECORDER, intern_graph, is_grad_enabled
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.graphdef.ir import Graph, GraphInput, Value
from ember.graphdef.printer import print_graph

OP = "custom_vjp"


class BodyBuilder(SubgraphBuilder):
    """Traces the forward or backward of a custom function; errors name that function."""

    def __init__(self, parent, name: str, what: str):
        super().__init__(parent, name, "autograd.Function", loop=False)
        self.what = what

    def error(self, error: EmberError) -> EmberError:
        message = error.args[0] if error.args else str(error)
        note = (
            f"\n  in: {self.what}, which ember traces into the graph (also on lazy "
            "tensors): its code runs on symbolic tensors, not on values"
        )
        return super().error(type(error)(message + note))


class LazyBody(BodyBuilder):
    """The forward body of a custom function called on lazy tensors: the lazy recorder is
    its enclosing graph, so lazy tensors it reads are captured (`as_tensor` captures lazy
    operands in bodies the recorder encloses), and so are parameters (by identity: their
    value is read when the node is recorded)."""

    def __init__(self, name: str, what: str):
        super().__init__(RECORDER, name, what)
        self._salt_counts = {}  # per call: equal calls record equal bodies (random keys differ)
        self.param_inputs: dict[int, Tensor] = {}
        self.params_of: dict[Value, Tensor] = {}  # body input -> the Parameter it stands for

    def param_tensor(self, param):
        inner = self.param_inputs.get(id(param))
        if inner is None:
            from ember.frontend.trace import spec_of

            name = self.unique_name("param")
            inner = self.add_input("data", name, spec_of(param))
            self.param_inputs[id(param)] = inner
            self.params_of[inner.value] = param
        return inner


def record_custom_vjp(
    name: str,
    operands: Sequence[Tensor],
    forward: Callable[[list[Tensor]], list[Tensor]],
    backward: Callable[[list[Tensor]], list[Tensor | None]] | None,
    what: str,
) -> list[Tensor]:
    """Record `forward(operands)` with `backward(cotangents)` as its gradient rule.

    `forward` gets one body tensor per operand and returns the result tensors;
    `backward` (None: no gradient is needed) gets one cotangent per result and returns
    one gradient per operand (None for none), each of its operand's type. Returns
    the node's results in the active trace (or as lazy tensors).

    >>> (y,) = record_custom_vjp("neg_grad", [x], lambda a: [a[0]],
    ...                          lambda g: [-g[0]], "neg_grad")
    """
    from ember.nn.functional._core import active_builder, as_tensor

    parent = active_builder()
    operands = [as_tensor(t, parent) for t in operands]
    lazy = parent is RECORDER
    if lazy:
        fwd = LazyBody(f"{name}.forward", f"{what}.forward")
    else:
        fwd = BodyBuilder(parent, f"{name}.forward", f"{what}.forward")
    with fwd:
        args = [fwd.arg(f"input{k}", t.value.type) for k, t in enumerate(operands)]
        results = [fwd.to_tensor(r) for r in forward(args)]
    differentiable = [dtypes.is_floating(t.dtype) and _needs_grad(t, lazy) for t in operands]
    wanted = backward is not None and is_grad_enabled() and any(differentiable)
    bwd = BodyBuilder(fwd, f"{name}.backward", f"{what}.backward")
    grad_inputs: list[int] = []
    grads: list[Tensor] = []
    with bwd:
        cotangents = [bwd.arg(f"grad{k}", r.value.type) for k, r in enumerate(results)]
        if wanted:
            for i, g in enumerate(backward(cotangents)):
                if g is None or not differentiable[i]:
                    continue
                g = bwd.to_tensor(g)
                if g.value.type != operands[i].value.type:
                    raise TraceError(
                        f"internal: {what}.backward gave {g.value.type} for an operand of type "
                        f"{operands[i].value.type}"
                    )
                grad_inputs.append(i)
                grads.append(g)
    residuals = [outer for outer, _ in bwd.captures.values()]
    n_cot = len(cotangents)
    saved_inputs = []
    for k, gi in enumerate(bwd.inputs[n_cot:]):
        gi.value.name = f"saved{k}"  # the body's own input: naming it changes nothing else
        saved_inputs.append(GraphInput("data", f"saved{k}", gi.value))
    backward_graph = Graph(
        (*bwd.inputs[:n_cot], *saved_inputs),
        tuple(bwd.nodes),
        tuple(g.value for g in grads),
        (),
        bwd.name,
    )
    saved = _saved(fwd, results, residuals)  # may add nodes to the forward body
    forward_graph = Graph(
        tuple(fwd.inputs),
        tuple(fwd.nodes),
        tuple(r.value for r in results) + saved,
        (),
        fwd.name,
    )
    outer = _captured_operands(fwd)
    captured = [outer[gi.value] for gi in fwd.inputs[len(args) :]]
    if lazy:  # no gradient flows to what forward closed over: backward() leaves it alone
        captured = [t.detach() if t.requires_grad else t for t in captured]
    all_operands = [*operands, *captured]
    if lazy:  # a loop records equal bodies every iteration: one Graph object each
        forward_graph = _interned(forward_graph)
        backward_graph = _interned(backward_graph)
    attrs = {"name": name, "num_residuals": len(residuals), "grad_inputs": tuple(grad_inputs)}
    return parent.emit(OP, all_operands, attrs, subgraphs=(forward_graph, backward_graph))


def _saved(fwd: BodyBuilder, results: list[Tensor], residuals: list[Tensor]) -> tuple:
    """The residual values. Forward intermediates are cut from the gradient (PyTorch runs
    forward without recording): a higher-order gradient sees them as constants, while
    saved inputs and results keep their dependence on the inputs."""
    kept = {gi.value for gi in fwd.inputs} | {r.value for r in results}
    source = fwd.nodes[-1].source if fwd.nodes else fwd.source()
    return tuple(
        t.value if t.value in kept else fwd._stop_gradient(t.value, source) for t in residuals
    )


def _needs_grad(t: Tensor, lazy: bool) -> bool:
    return bool(getattr(t.value, "requires_grad", False)) if lazy else True


def _captured_operands(fwd: BodyBuilder) -> dict[Value, Tensor]:
    """Body input -> the enclosing tensor (or parameter) it was captured from."""
    outer = {gi.value: t for t, gi in fwd.captures.values()}
    if isinstance(fwd, LazyBody):
        outer.update(fwd.params_of)
    return outer


def _interned(graph: Graph) -> Graph:
    return intern_graph((OP, print_graph(graph)), lambda: graph)
