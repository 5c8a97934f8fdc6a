"""The IR: golden text, print/parse and JSON round trips, verify, golden passes."""

import textwrap

import numpy as np
import pytest
from models import EmberMLP

import ember as em
from ember import nn
from ember.compiler import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    functionalize_buffers,
    run_passes,
    specialize_for_eval,
)
from ember.errors import GraphParseError, UnsupportedOpError, VerifyError
from ember.graphdef import Graph, Node, Value, verify
from ember.graphdef.types import TensorType

GOLDEN_MLP = textwrap.dedent(
    """\
    graph EmberMLP(
        data  %x: f32[64,1,28,28],
        param %fc1.weight: f32[128,784],
        param %fc1.bias: f32[128],
        param %fc2.weight: f32[10,128],
        param %fc2.bias: f32[10],
    ) {
      %0: f32[64,784] = reshape(%x) {shape=[64, 784]}  # <root> @ models.py:16
      %1: f32[64,128] = linear(%0, %fc1.weight, %fc1.bias)  # fc1 @ models.py:17
      %2: f32[64,128] = relu(%1)  # <root> @ models.py:18
      %3: f32[64,10] = linear(%2, %fc2.weight, %fc2.bias)  # fc2 @ models.py:19
      return (%3)
    }"""
)


def mlp_graph() -> Graph:
    return em.trace(EmberMLP(), em.TensorSpec((64, 1, 28, 28)))


def test_golden_ir_of_reference_model():
    assert str(mlp_graph()) == GOLDEN_MLP


def test_print_parse_print_is_identity():
    text = str(mlp_graph())
    assert str(Graph.parse(text)) == text
    verify(Graph.parse(text))


def test_json_round_trip():
    graph = mlp_graph()
    again = Graph.from_json(graph.to_json())
    assert str(again) == str(graph)
    assert [n.source for n in again.nodes] == [n.source for n in graph.nodes]  # full paths survive


def test_json_loading_never_resolves_unknown_ops():
    bad = mlp_graph().to_json().replace('"op": "relu"', '"op": "os.system"')
    with pytest.raises(UnsupportedOpError, match="os.system"):
        Graph.from_json(bad)
    with pytest.raises(GraphParseError, match="not an ember graph"):
        Graph.from_json('{"format": "pickle"}')


def test_parse_rejects_undefined_values():
    text = GOLDEN_MLP.replace("relu(%1)", "relu(%9)")
    with pytest.raises(GraphParseError, match="undefined value '%9'"):
        Graph.parse(text)


def test_verify_rejects_wrong_result_type_with_nearby_ir():
    graph = mlp_graph()
    node = graph.nodes[2]
    wrong = node.replace(outputs=(Value(TensorType((64, 127), "float32")),))
    corrupted = graph.replace(nodes=graph.nodes[:2] + (wrong,) + graph.nodes[3:])
    with pytest.raises(
        VerifyError, match=r"relu: result types f32\[64,127\] differ from inferred f32\[64,128\]"
    ):
        verify(corrupted)
    with pytest.raises(VerifyError, match=r"> +%2: f32\[64,127\] = relu"):
        verify(corrupted)


def test_verify_rejects_use_before_definition_and_bad_attrs():
    graph = mlp_graph()
    swapped = graph.replace(nodes=(graph.nodes[1], graph.nodes[0]) + graph.nodes[2:])
    with pytest.raises(VerifyError, match="used before it is defined"):
        verify(swapped)
    bad_attr = graph.nodes[0].replace(attrs={"shape": "64x784"})
    with pytest.raises(VerifyError, match="attr shape='64x784' is not a ints"):
        verify(graph.replace(nodes=(bad_attr,) + graph.nodes[1:]))
    unknown = Node("frobnicate", graph.nodes[0].inputs, {}, graph.nodes[0].outputs)
    with pytest.raises(VerifyError, match="unknown op 'frobnicate'"):
        verify(graph.replace(nodes=(unknown,) + graph.nodes[1:]))


class Redundant(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        a = em.relu(self.fc(x))
        b = em.relu(self.fc(x))  # same computation twice: CSE merges it
        unused = em.exp(x)  # noqa: F841  (dead: DCE removes it)
        return a + b


GOLDEN_REDUNDANT_OPTIMIZED = textwrap.dedent(
    """\
    graph Redundant(
        data  %x: f32[2,4],
        param %fc.weight: f32[4,4],
        param %fc.bias: f32[4],
    ) {
      %0: f32[2,4] = linear(%x, %fc.weight, %fc.bias)  # fc @ test_ir.py:{a}
      %1: f32[2,4] = relu(%0)  # <root> @ test_ir.py:{a}
      %2: f32[2,4] = add(%1, %1)  # <root> @ test_ir.py:{ret}
      return (%2)
    }"""
)


def test_golden_cse_and_dce():
    graph = em.trace(Redundant(), em.TensorSpec((2, 4)))
    assert len(graph.nodes) == 6
    optimized = eliminate_dead_code(eliminate_common_subexpressions(graph))
    import inspect

    lines, start = inspect.getsourcelines(Redundant.forward)
    line_of = {
        key: start + i for i, text in enumerate(lines) for key in ("a =", "return") if key in text
    }
    golden = GOLDEN_REDUNDANT_OPTIMIZED.replace("{a}", str(line_of["a ="]))
    golden = golden.replace("{ret}", str(line_of["return"]))
    assert str(optimized) == golden
    assert len(graph.nodes) == 6  # passes never mutate their input
    verify(optimized)


def test_pipeline_dumps_ir_after_each_pass(capsys):
    run_passes(em.trace(Redundant(), em.TensorSpec((2, 4))), dump=True, check=True)
    err = capsys.readouterr().err
    for name in ("functionalize_buffers", "eliminate_common_subexpressions", "eliminate_dead_code"):
        assert f"=== after {name} ===" in err


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", np.zeros(1, "float32"))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        self.count = self.count + 1.0
        return self.drop(x) * self.count


def test_buffer_writes_become_updates_and_eval_specialization_removes_dropout():
    graph = em.trace(Counter(), em.TensorSpec((3,)))
    assert [n.op for n in graph.nodes].count("buffer_write") == 1
    functional = functionalize_buffers(graph)
    assert "buffer_write" not in [n.op for n in functional.nodes]
    assert [name for name, _ in functional.updates] == ["count"]
    assert "update count <- %" in str(functional)
    verify(functional)
    evaluated = specialize_for_eval(functional)
    assert "dropout" not in [n.op for n in evaluated.nodes]
    assert not evaluated.inputs_of_kind("rng") and not evaluated.updates
    verify(evaluated)
    assert str(Graph.parse(str(functional))) == str(functional)
