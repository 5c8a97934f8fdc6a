"""Autograd on lazy tensors: `backward()` and `grad()` record a `grad` node.

The slice of the lazy graph between the differentiated output and the tensors
it is differentiated with respect to becomes the node's body (a self-contained
sub-graph, interned by structure so a training loop reuses one body). Its
lowering is `jax.grad` of the body, so forward, backward and the optimizer
update of an iteration still compile into one XLA program at `optimizer.step()`.

PyTorch semantics kept: gradients accumulate into leaves' `.grad` until zeroed;
a graph is freed by `backward()` unless `retain_graph=True` (a second backward
then raises PyTorch's error); `.grad` of a non-leaf is None (with a warning);
non-scalar outputs need `gradient=`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ember.errors import TraceError
from ember.frontend import grad_hooks
from ember.frontend.lazy import (
    RECORDER,
    LazyValue,
    as_lazy,
    intern_graph,
    set_grad_enabled_flag,
)
from ember.frontend.lent_arrays import lend
from ember.frontend.tensor import Tensor
from ember.graphdef.ir import FrozenDict, Graph, GraphInput, Node, Value

_FREED: weakref.WeakSet = weakref.WeakSet()  # nodes whose graph backward() released


class FreedGraph:
    """Stands in for the producer of a computed value whose graph `backward()` freed: the
    value is still no leaf, `grad_fn` still names the op, a second backward still raises
    PyTorch's error, and the node itself is freed at once (no value <-> node reference
    cycle left for Python's garbage collector, which a training loop would pay for)."""

    __slots__ = ("op",)

    def __init__(self, op: str):
        self.op = op


def release_freed(values: Sequence[LazyValue]) -> None:
    """Computed values whose graph backward() freed drop their node (see `FreedGraph`)."""
    for v in values:
        node = v.node
        if node is not None and v.data is not None and type(node) is not FreedGraph:
            if node in _FREED:
                v.node = FreedGraph(node.op)


def _differentiable_slice(outputs: Sequence[LazyValue], stop: set[int]):
    """Nodes on requires-grad paths from the leaves (or `stop` values) to `outputs`,
    topologically sorted, and the requires-grad leaves reached."""
    order: list[Node] = []
    seen: set[int] = set()
    leaves: list[LazyValue] = []
    leaf_ids: set[int] = set()
    for out in outputs:
        work = [(out, False)]
        while work:
            v, expanded = work.pop()
            node = v.node
            if id(v) in stop or node is None:
                if v.requires_grad and id(v) not in leaf_ids:
                    leaf_ids.add(id(v))
                    leaves.append(v)
                continue
            if expanded:
                if id(node) not in seen:
                    seen.add(id(node))
                    order.append(node)
                continue
            if id(node) in seen:
                continue
            if type(node) is FreedGraph or node in _FREED:
                raise TraceError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed); fix: pass "
                    "retain_graph=True to the first backward() or grad() call"
                )
            work.append((v, True))
            used = _used_operands(node)
            for k in reversed(range(len(node.inputs))):
                x = node.inputs[k]
                if x.requires_grad and (used is None or used[k]):
                    work.append((x, False))
    return order, leaves


_USED: dict[int, tuple] = {}


def _used_operands(node: Node) -> tuple[bool, ...] | None:
    """For a module call, which operands its traced forward reads: a parameter it skipped
    (`for _ in range(random.randint(0, 3))`) gets no gradient, so `.grad` stays None as in
    PyTorch (and an optimizer leaves it and its state alone). None: every operand."""
    if node.op != "call" or not node.subgraphs:
        return None
    graph = node.subgraphs[0]
    got = _USED.get(id(graph))
    if got is None or got[0] is not graph:
        if len(_USED) > 4096:  # traces of a forward that draws are new graphs each call
            _USED.clear()
        read = {id(v) for n in graph.nodes for v in n.inputs}
        read |= {id(v) for v in graph.outputs} | {id(v) for _, v in graph.updates}
        got = _USED[id(graph)] = (graph, tuple(id(gi.value) in read for gi in graph.inputs))
    return got[1]


def _body(nodes: list[Node], wrt: list[LazyValue], output: LazyValue, cotangent: bool):
    """The sub-graph computing `output` from (wrt..., externals...[, cotangent]).

    Returns the interned body graph and the external values (operands after `wrt`)."""
    index: dict[int, Any] = {id(v): ("w", i) for i, v in enumerate(wrt)}
    externals: list[LazyValue] = []
    parts = []
    for node in nodes:
        args = []
        for x in node.inputs:
            r = index.get(id(x))
            if r is None:
                r = index[id(x)] = ("x", len(externals))
                externals.append(x)
            args.append(r)
        parts.append((node.op, node.attrs, tuple(args), node.subgraphs))
        for j, o in enumerate(node.outputs):
            index[id(o)] = (len(parts) - 1, j)
    out_ref = index[id(output)]
    key = (
        "grad_body",
        tuple(parts),
        tuple(v.type for v in wrt),
        tuple(v.type for v in externals),
        out_ref,
        cotangent,
    )

    def build() -> Graph:
        fresh: dict[int, Value] = {}
        inputs = []
        for i, v in enumerate(wrt):
            fresh[id(v)] = Value(v.type, f"wrt{i}")
            inputs.append(GraphInput("data", f"wrt{i}", fresh[id(v)]))
        for i, v in enumerate(externals):
            fresh[id(v)] = Value(v.type, f"x{i}")
            inputs.append(GraphInput("data", f"x{i}", fresh[id(v)]))
        body_nodes = []
        for node in nodes:
            outs = tuple(Value(o.type) for o in node.outputs)
            for o, new in zip(node.outputs, outs, strict=True):
                fresh[id(o)] = new
            body_nodes.append(
                node.replace(inputs=tuple(fresh[id(x)] for x in node.inputs), outputs=outs)
            )
        result = fresh[id(output)]
        if cotangent:  # a vector-Jacobian product: differentiate sum(output * gradient)
            from ember.graphdef.registry import get_op

            g = Value(output.type, "cotangent")
            inputs.append(GraphInput("data", "cotangent", g))
            prod = Value(get_op("mul").infer([output.type, output.type])[0])
            body_nodes.append(Node("mul", (result, g), {}, (prod,), nodes[-1].source))
            axes = tuple(range(len(output.type.shape)))
            total = Value(get_op("sum").infer([prod.type], dims=axes, keepdim=False)[0])
            body_nodes.append(
                Node("sum", (prod,), {"dims": axes, "keepdim": False}, (total,), nodes[-1].source)
            )
            result = total
        return Graph(tuple(inputs), tuple(body_nodes), (result,), (), "grad_body")

    return intern_graph(key, build), externals


def gradients(
    output: LazyValue,
    wrt: Sequence[LazyValue],
    gradient: LazyValue | None,
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
    nodes: list[Node] | None = None,
    hooks: bool = True,
) -> list[LazyValue | None]:
    """Record d(output)/d(wrt) as lazy values (None for unused ones when allowed).
    `nodes`: the differentiable slice from `wrt` to `output`, when the caller has it.
    With tensor hooks registered, `grad_hooks` splits the differentiation at them."""
    if hooks and nodes is None and _nested(wrt):  # (the hook path's own calls cut at stops)
        # `grad(loss, [h, y])` with y computed from h: each gradient is a total derivative,
        # so differentiate once per target, each stopping only at its own
        last = len(wrt) - 1
        return [
            gradients(
                output,
                [v],
                gradient,
                retain_graph or k < last,
                create_graph,
                allow_unused,
                hooks=hooks,
            )[0]
            for k, v in enumerate(wrt)
        ]
    if hooks and grad_hooks.has_hooks():
        return grad_hooks.gradients_with_hooks(
            output, wrt, gradient, retain_graph, create_graph, allow_unused, nodes
        )
    if nodes is None:
        nodes, _ = _differentiable_slice([output], {id(v) for v in wrt})
    used = check_used(nodes, output, wrt, allow_unused)
    if not nodes or not used:
        return [None] * len(wrt)
    body, externals = _body(nodes, used, output, gradient is not None)
    operands = [*used, *externals] + ([gradient] if gradient is not None else [])
    tensors = [Tensor(v, RECORDER) for v in operands]
    # with the loss's value too: a loop that reads it (`loss.item()` after `step()`) gets it
    # from this forward, not from a second one XLA may not merge with it
    op = "grad" if create_graph or gradient is not None else "value_and_grad"
    with _grad_mode(create_graph):
        outs = RECORDER.emit(op, tensors, _grad_attrs(len(used)), subgraphs=(body,))
    if op == "value_and_grad":
        RECORDER.alias(output, outs.pop().value)
    if not retain_graph:
        free(nodes)
    by_id = {id(v): t.value for v, t in zip(used, outs, strict=True)}
    return [by_id.get(id(v)) for v in wrt]


def _nested(wrt: Sequence[LazyValue]) -> bool:
    """Whether a computed `wrt` value depends on another `wrt` value."""
    if len(wrt) < 2:
        return False
    targets = {id(v) for v in wrt}
    for v in wrt:
        if v.node is None:
            continue
        work, seen = list(v.node.inputs), set()
        while work:
            x = work.pop()
            if id(x) in targets:
                return True
            if id(x) in seen or x.node is None or not x.requires_grad:
                continue
            seen.add(id(x))
            work.extend(x.node.inputs)
    return False


def check_used(
    nodes: list[Node], output: LazyValue, wrt: Sequence[LazyValue], allow_unused: bool
) -> list[LazyValue]:
    """The `wrt` values the slice reaches; PyTorch's error for others unless allowed."""
    reached = _reachable(nodes, output)
    used = [v for v in wrt if id(v) in reached]
    if len(used) < len(wrt) and not allow_unused:
        raise TraceError(
            "One of the differentiated Tensors appears to not have been used in the graph. "
            "Set allow_unused=True if this is the desired behavior."
        )
    return used


def free(nodes: Sequence[Node]) -> None:
    """backward() without retain_graph: a later backward through `nodes` raises."""
    for node in nodes:
        _FREED.add(node)


def _grad_attrs(num_wrt: int, _cache: dict = {}) -> FrozenDict:  # noqa: B006
    attrs = _cache.get(num_wrt)
    if attrs is None:
        attrs = _cache[num_wrt] = FrozenDict({"num_wrt": num_wrt})
    return attrs


def _reachable(nodes: list[Node], output: LazyValue) -> set[int]:
    ids = {id(output)}
    for node in nodes:
        ids.update(id(x) for x in node.inputs)
    return ids


class _grad_mode:
    """Grad outputs require grad only with create_graph=True (higher-order gradients)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.old = set_grad_enabled_flag(self.enabled)

    def __exit__(self, *exc):
        set_grad_enabled_flag(self.old)


def backward(tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """`tensor.backward()`: accumulate d(tensor)/d(leaf) into every requires-grad leaf's `.grad`."""

    value = tensor.value
    if not value.requires_grad:
        raise TraceError(
            "element 0 of tensors does not require grad and does not have a grad_fn; fix: "
            "create the inputs with requires_grad=True (or use parameters of a module), and do "
            "not compute the loss under em.no_grad()"
        )
    if gradient is None and value.type.shape != () and value.type.size != 1:
        raise TraceError(
            f"grad can be implicitly created only for scalar outputs, but backward() was called "
            f"on a tensor of shape {value.type.shape}; fix: reduce it (loss.mean()) or pass "
            "gradient= a tensor of the same shape"
        )
    if gradient is None and value.type.shape != ():
        tensor = tensor.reshape(())
        value = tensor.value
    cot = as_lazy(gradient, value.type).value if gradient is not None else None
    nodes = None
    if inputs is not None:
        targets = [t.value for t in inputs]
        owners = list(inputs)
    else:  # the walk that finds the leaves is also the slice to differentiate
        nodes, leaves = _differentiable_slice([value], set())
        targets = leaves
        owners = [v.owner() if v.owner is not None else None for v in leaves]
    retain = create_graph if retain_graph is None else retain_graph
    grads = gradients(value, targets, cot, retain, create_graph, allow_unused=True, nodes=nodes)
    if retain:  # the kept graph reads these leaves' arrays again at the next backward, after
        for v in targets:  # an optimizer step may have donated them (GAN loops): keep copies
            if v.data is not None:
                lend(v)
    for owner, g in zip(owners, grads, strict=True):
        if owner is None or g is None:
            continue
        new = Tensor(g, RECORDER)
        if owner.grad is None:
            RECORDER.track(new)
            owner.grad = new
        else:  # accumulated: another optimizer's step needs only `g` computed (see `stand_in`)
            owner.grad = owner.grad + new
            RECORDER.stand_in(owner.grad.value, g)
