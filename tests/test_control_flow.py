"""Control-flow ops beyond the OpInfo samples: IR round trips, passes, captures, errors.

The OpInfo entries (tests/op_db/control_flow.py) check values, types and
gradients of each op; here: print -> parse -> print and JSON round trips of
graphs with (nested) sub-graphs, that the compiler passes keep sub-graph
nodes intact, that closed-over parameters become explicit operands, and the
messages of tracing mistakes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ember as em
import ember.nn as nn
from ember.compiler import lower, run_passes
from ember.compiler.passes import EVAL_PASSES
from ember.errors import ShapeError, TraceError
from ember.frontend.trace import trace_function
from ember.graphdef import Graph, verify

RNG = np.random.default_rng(0)


def r(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


class Loops(nn.Module):
    """Every control-flow op, nested, closing over parameters of several modules."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        def step(h, xt):
            h = em.tanh(self.cell(h) + xt)
            k = em.fori_loop(0, 2, lambda i, v: v * 0.5 + self.cell.bias, h)
            return h, self.head(k)

        h, ys = em.scan(step, x[0] * 0, x)
        h = em.cond(h.sum() > 0, lambda a: self.drop(a), lambda a: -a, h)
        h = em.while_loop(lambda v: v.abs().sum() < 50, lambda v: v * 2 + 0.1, h)
        return ys, h


def _trace(net, *args):
    graph, _ = trace_function(
        lambda *xs: net(*xs),
        list(args),
        modules=[("", net)],
        names=[f"x{k}" for k in range(len(args))],
    )
    return verify(graph)


def _run(graph, net, *args, rng=None):
    lo = lower(graph)
    params = dict(net.named_parameters())
    key = jax.random.key_data(jax.random.PRNGKey(0)) if lo.uses_rng else None
    outs, _ = jax.jit(lo.fn)(
        [np.asarray(params[n].data) for n in lo.param_names], [], list(args), key
    )
    return [np.asarray(o) for o in outs]


def _count_subgraph_nodes(graph: Graph) -> int:
    return sum(1 + sum(_count_subgraph_nodes(g) for g in n.subgraphs) for n in graph.nodes)


# -- IR round trips -----------------------------------------------------------------------


def test_print_parse_print_is_the_identity_with_nested_subgraphs():
    graph = _trace(Loops(), r(5, 3, 4))
    text = str(graph)
    # the model, the scan body, the fori body in it, two branches, while's cond and body
    assert text.count("graph ") == 7
    assert "graph step(" in text and "graph true_fn(" in text and "graph cond_fun(" in text
    parsed = verify(Graph.parse(text))
    assert str(parsed) == text


def test_json_round_trip_keeps_subgraphs_and_results():
    net, x = Loops(), r(5, 3, 4)
    graph = _trace(net, x)
    loaded = verify(Graph.from_json(graph.to_json()))
    assert str(loaded) == str(graph)
    assert _count_subgraph_nodes(loaded) == _count_subgraph_nodes(graph)
    for a, b in zip(_run(graph, net, x), _run(loaded, net, x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_zero_result_node_round_trips():
    graph, _ = trace_function(
        lambda a: (em.cond(a.sum() > 0, lambda: (), lambda: ()), a)[1], [r(3)], names=["a"]
    )
    text = str(verify(graph))
    assert "= cond(" in text
    assert str(Graph.parse(text)) == text


# -- passes ---------------------------------------------------------------------------------


def test_passes_keep_subgraph_nodes_intact():
    net, x = Loops(), r(5, 3, 4)
    graph = _trace(net, x)
    optimized = run_passes(graph, check=True)
    ops = [n.op for n in optimized.nodes]
    assert {"scan", "cond", "while_loop"} <= set(ops)
    for before, after in zip(
        [n for n in graph.nodes if n.subgraphs],
        [n for n in optimized.nodes if n.subgraphs],
        strict=True,
    ):
        assert after.subgraphs == before.subgraphs  # the very same sub-graph objects
    for a, b in zip(_run(graph, net, x), _run(optimized, net, x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    run_passes(graph, EVAL_PASSES, check=True)


def test_cse_does_not_merge_and_dce_removes_only_dead_control_flow():
    def fn(a):
        f = lambda c, x: (c + x, c)  # noqa: E731
        used = em.scan(f, a[0], a)[0]
        em.scan(f, a[0], a)  # dead: its results are never used
        twin = em.scan(f, a[0], a)[0]
        return used + twin

    graph, _ = trace_function(fn, [r(4, 3)], names=["a"])
    out = run_passes(graph, check=True)
    assert [n.op for n in out.nodes].count("scan") == 2


# -- captures ---------------------------------------------------------------------------------


def test_closed_over_parameters_become_operands_and_get_gradients():
    """em.scan vs the same recurrence unrolled in Python: values and parameter gradients."""

    class Unrollable(nn.Module):
        def __init__(self, unrolled: bool):
            super().__init__()
            self.fc, self.unrolled = nn.Linear(3, 3), unrolled

        def forward(self, x):
            step = lambda h, xt: (em.tanh(self.fc(h) * xt), h.sum(-1))  # noqa: E731
            if not self.unrolled:
                return em.scan(step, x[0], x)
            h, ys = x[0], []
            for t in range(x.shape[0]):
                h, y = step(h, x[t])
                ys.append(y)
            return h, em.stack(ys)

    em.manual_seed(0)
    scanned = Unrollable(False)
    unrolled = Unrollable(True)
    unrolled.load_state_dict(scanned.state_dict())
    x = r(6, 2, 3)
    g_scan, g_loop = _trace(scanned, x), _trace(unrolled, x)
    scan_node = next(n for n in g_scan.nodes if n.op == "scan")
    body_inputs = [gi.name for gi in scan_node.subgraphs[0].inputs]
    assert body_inputs == ["carry0", "x0", "fc.weight", "fc.bias"]

    def loss_and_grads(graph):
        lo = lower(run_passes(graph))
        params = [np.asarray(p.data) for p in scanned.parameters()]

        def loss(ps):
            outs, _ = lo.fn(ps, [], [x], None)
            return sum(jnp.sum(o * jnp.cos(jnp.arange(o.size).reshape(o.shape))) for o in outs)

        return jax.value_and_grad(loss)(params)

    (v1, g1), (v2, g2) = loss_and_grads(g_scan), loss_and_grads(g_loop)
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_body_nodes_carry_module_paths_and_user_lines():
    graph = _trace(Loops(), r(5, 3, 4))
    body = next(n for n in graph.nodes if n.op == "scan").subgraphs[0]
    paths = {n.source.module_path for n in body.nodes}
    assert {"cell", "head"} <= paths
    assert all(n.source.file.endswith("test_control_flow.py") for n in body.nodes)


def test_compiled_train_step_through_scan():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.out = nn.Linear(4, 1)

        def forward(self, x):  # x: (N, L, 4)
            h, _ = em.scan(
                lambda h, xt: (em.tanh(self.fc(h) + xt), None), x[:, 0] * 0, x.transpose(0, 1)
            )
            return self.out(h)

    net = Net()
    model = em.compile(net, loss=nn.MSELoss(), optimizer=em.optim.SGD(net.parameters(), lr=0.1))
    x, y = r(8, 5, 4), r(8, 1)
    losses = [float(model.train_step(x, y)["loss"]) for _ in range(20)]
    assert losses[-1] < losses[0]


# -- errors ---------------------------------------------------------------------------------


def test_python_if_on_traced_value_names_the_line_and_suggests_cond():
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # the line the error must name
                return x
            return -x

    line = Branchy.forward.__code__.co_firstlineno + 1
    with pytest.raises(TraceError) as info:
        em.trace(Branchy(), em.TensorSpec((3,)))
    msg = str(info.value)
    assert f"test_control_flow.py:{line}" in msg
    assert "em.cond" in msg and "em.while_loop" in msg


def test_carry_mismatch_names_both_types_and_the_call_line():
    def fn(a):
        return em.scan(lambda c, x: (c[:2], x), a[0], a)  # drops part of the carry

    with pytest.raises(
        ShapeError,
        match=r"enters the body as f32\[3\] but the body returns "
        r"f32\[2\][\s\S]*test_control_flow\.py:\d+",
    ):
        trace_function(fn, [r(4, 3)], names=["a"])


def test_body_tensor_used_after_the_loop_is_rejected():
    leaked = []

    def fn(a):
        def body(c, x):
            leaked.append(c * 2)
            return c + x, None

        h, _ = em.scan(body, a[0], a)
        return h + leaked[0]

    with pytest.raises(TraceError, match="not a tensor of this trace"):
        trace_function(fn, [r(4, 3)], names=["a"])


def test_buffer_write_inside_a_body_is_rejected():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("total", np.zeros(3, np.float32))

        def forward(self, x):
            def body(c, xt):
                self.total = self.total + xt
                return c, None

            return em.scan(body, x[0], x)[0]

    with pytest.raises(TraceError, match="buffer 'total' is assigned inside an em.scan body"):
        em.trace(Counter(), em.TensorSpec((4, 3)))


def test_python_bool_predicate_calls_one_branch():
    graph, _ = trace_function(
        lambda a: em.cond(True, lambda v: v * 2, lambda v: v, a), [r(3)], names=["a"]
    )
    assert [n.op for n in graph.nodes] != [] and "cond" not in [n.op for n in graph.nodes]


def test_control_flow_outside_a_trace_runs_lazily():
    carry, ys = em.scan(
        lambda c, x: (c + x, c * 2), np.zeros(3, "float32"), np.ones((2, 3), "float32")
    )
    np.testing.assert_array_equal(carry.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(ys.numpy(), [[0.0] * 3, [2.0] * 3])
    y = em.cond(em.tensor(1.0) > 0, lambda a: a + 1, lambda a: a - 1, em.tensor([1.0]))
    np.testing.assert_array_equal(y.numpy(), [2.0])
