"""Loading graphs is safe: `Graph.parse` and `Graph.from_json` on any document either
return a graph that passes `verify` (and round-trips) or raise an `EmberError`.

Unit tests name each check and limit; the fuzz tests throw mutated documents, seeded
from traced models (an MLP, a conv + BatchNorm net before and after buffer
functionalization, a model with every control-flow op, a graph with meta), at both
loaders: character flips, deletions, duplications, line swaps, numbers changed to
huge/negative values, op names replaced, deep nesting, truncation and edits of the
parsed JSON structure. `EMBER_FUZZ_SCALE=10` multiplies the number of documents.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import re
import sys
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember as em
from ember import nn
from ember.compiler import functionalize_buffers
from ember.errors import EmberError, GraphParseError, UnsupportedOpError, VerifyError
from ember.frontend.trace import trace_function
from ember.graphdef import Graph, all_ops, verify
from ember.graphdef import parser as _parser  # noqa: F401  (see below)
from ember.graphdef import serialize as ser
from ember.graphdef.ir import GraphInput, Node, Value
from ember.graphdef.types import MAX_RANK, TensorType
from ember.graphdef.verify import MAX_SUBGRAPH_DEPTH

SCALE = int(os.environ.get("EMBER_FUZZ_SCALE", "1"))
# `Graph.parse` imports the parser lazily; it is imported above so that no project module
# is first imported in the middle of a fuzz run (Hypothesis adds constants found in project
# modules to what it draws, and a fixed pool keeps runs reproducible).


# -- seed graphs ----------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return em.log_softmax(self.fc2(em.relu(self.fc1(x))), dim=-1)


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(36, 2)

    def forward(self, x):
        x = self.pool(em.relu(self.bn(self.conv(x))))
        return self.fc(self.drop(em.flatten(x, 1)))


class Loops(nn.Module):
    """em.scan (with a fori_loop inside), em.cond and em.while_loop."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(4, 4)

    def forward(self, x):
        def step(h, xt):
            h = em.tanh(self.cell(h) + xt)
            return h, em.fori_loop(0, 2, lambda i, v: v * 0.5, h)

        h, ys = em.scan(step, x[0] * 0, x)
        h = em.cond(h.sum() > 0, lambda a: a * 2, lambda a: -a, h)
        h = em.while_loop(lambda v: v.abs().sum() < 50, lambda v: v * 2 + 0.1, h)
        return ys, h


def _with_meta(graph: Graph) -> Graph:
    """Annotations on an input and a node, as a sharding pass would add them."""
    first = graph.inputs[0].replace(meta={"sharding": ("data", None)})
    node = graph.nodes[0].replace(meta={"note": "fuzz", "devices": (0, 1)})
    return graph.replace(inputs=(first,) + graph.inputs[1:], nodes=(node,) + graph.nodes[1:])


@functools.cache
def seed_graphs() -> tuple[Graph, ...]:
    mlp = em.trace(MLP(), em.TensorSpec((2, 8)))
    convbn = em.trace(ConvBN(), em.TensorSpec((2, 3, 6, 6)))
    net = Loops()
    x = np.zeros((3, 2, 4), np.float32)
    loops, _ = trace_function(net, [x], modules=[("", net)], names=["x"], graph_name="Loops")
    graphs = (mlp, convbn, functionalize_buffers(convbn), loops, _with_meta(mlp))
    for g in graphs:
        verify(g)
    return graphs


@functools.cache
def seed_texts() -> tuple[str, ...]:
    return tuple(str(g) for g in seed_graphs())


@functools.cache
def seed_jsons() -> tuple[str, ...]:
    return tuple(g.to_json() for g in seed_graphs())


def test_seeds_round_trip_exactly():
    for graph in seed_graphs():
        text = str(graph)
        assert str(Graph.parse(text)) == text
        loaded = Graph.from_json(graph.to_json())
        assert loaded.to_json() == graph.to_json()
        assert str(loaded) == text
    text = seed_texts()[-1]
    assert 'meta{sharding=["data", null]}' in text and "meta{devices=[0, 1]" in text
    assert "update bn.running_mean <- %" in seed_texts()[2]
    assert "graph step(" in seed_texts()[3] and "graph fori_loop_body(" in seed_texts()[3]


# -- the specific cases ------------------------------------------------------------------------


def _json_with(edit) -> str:
    obj = json.loads(seed_jsons()[0])
    edit(obj["graph"])
    return json.dumps(obj)


def test_wrong_declared_output_type_is_rejected_by_both_loaders():
    def edit(g):
        g["nodes"][1]["outputs"][0]["type"] = "f32[2,17]"

    with pytest.raises(VerifyError, match=r"node 1: relu: result types f32\[2,17\] differ"):
        Graph.from_json(_json_with(edit))
    text = seed_texts()[0].replace("%1: f32[2,16] = relu", "%1: f32[2,17] = relu")
    with pytest.raises(VerifyError, match=r"> +%1: f32\[2,17\] = relu"):
        Graph.parse(text)


def test_unknown_and_missing_attrs_are_rejected():
    def unknown(g):
        g["nodes"][1]["attrs"]["inplace"] = True

    with pytest.raises(VerifyError, match=r"node 1: relu: unknown attr 'inplace'"):
        Graph.from_json(_json_with(unknown))
    text = seed_texts()[0].replace("{dim=-1}", "{axis=-1}")
    with pytest.raises(VerifyError, match="log_softmax: unknown attr 'axis'"):
        Graph.parse(text)
    text = seed_texts()[0].replace(" {dim=-1}", "")
    with pytest.raises(VerifyError, match=r"log_softmax: missing attrs \['dim'\]"):
        Graph.parse(text)
    text = seed_texts()[0].replace("{dim=-1}", '{dim="-1"}')
    with pytest.raises(VerifyError, match="attr dim='-1' is not a int"):
        Graph.parse(text)


def test_attrs_an_infer_rule_cannot_digest_are_a_verify_error():
    text = seed_texts()[0].replace(
        "= relu(%0)", '= constant() {dtype="float32", shape=[-1], value=0.0}'
    )
    with pytest.raises(
        VerifyError, match=r"node 1: constant: type inference failed.*negative size"
    ):
        Graph.parse(text)
    conv = seed_texts()[1]
    assert "stride=[1, 1]" in conv
    with pytest.raises(VerifyError, match=r"node 0: conv: type inference failed"):
        Graph.parse(conv.replace("padding=[1, 1, 1, 1], stride=[1, 1]", "padding=[], stride=[]"))


def test_huge_and_malformed_shapes_are_rejected():
    def huge(g):
        g["inputs"][0]["type"] = "f32[1000000000000,1000000000000]"

    with pytest.raises(GraphParseError, match=r"graph.inputs\[0\].type: .*MAX_ELEMENTS=2\*\*40"):
        Graph.from_json(_json_with(huge))
    text = seed_texts()[0]
    big = "f32[" + ",".join(["1"] * (MAX_RANK + 1)) + "]"
    with pytest.raises(
        GraphParseError, match=f"line 2: .*rank 17 exceeds the limit MAX_RANK={MAX_RANK}"
    ):
        Graph.parse(text.replace("f32[2,8]", big, 1))
    for bad in ("f32[-2,8]", "f32[2, 8]", "f32[1_0,8]", "f33[2,8]", "f32[2,8", "f32[0x2,8]"):
        with pytest.raises(GraphParseError, match="line 2: "):
            Graph.parse(text.replace("f32[2,8]", bad, 1))
    # a dim past MAX_DIM even when another dim is 0 (0 elements)
    with pytest.raises(GraphParseError, match="MAX_DIM"):
        Graph.parse(text.replace("f32[2,8]", "f32[0,10000000000000]", 1))


def test_100000_deep_nesting_is_a_parse_error_not_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(GraphParseError, match="nested 100000 levels deep.*MAX_NESTING=296"):
        Graph.from_json(deep)
    with pytest.raises(GraphParseError, match="nested 10000[01] levels deep"):
        Graph.from_json('{"format": "ember.graph/1", "graph": ' + deep + "}")
    text = seed_texts()[0].replace("{dim=-1}", "{dim=" + "[" * 100_000 + "}")
    with pytest.raises(GraphParseError, match="attrs.dim: the value is nested too deeply"):
        Graph.parse(text)
    text = seed_texts()[0].replace("{dim=-1}", "{dim=" + "[" * 40 + "]" * 40 + "}")
    with pytest.raises(GraphParseError, match="MAX_ATTR_DEPTH=32"):
        Graph.parse(text)


def _nested_scans(levels: int) -> Graph:
    """`levels` scans, each the body of the one outside it (no operands, no results)."""
    body = {"name": "b", "inputs": [], "nodes": [], "outputs": [], "updates": []}
    for _ in range(levels):
        node = {
            "op": "scan",
            "inputs": [],
            "attrs": {"length": 0, "num_carry": 0, "num_xs": 0, "reverse": False},
            "outputs": [],
            "source": ["", "", 0],
            "subgraphs": [body],
        }
        body = {"name": "b", "inputs": [], "nodes": [node], "outputs": [], "updates": []}
    return json.dumps({"format": ser.FORMAT, "graph": body})


def test_subgraph_nesting_limit():
    deepest = Graph.from_json(_nested_scans(MAX_SUBGRAPH_DEPTH))
    assert str(Graph.parse(str(deepest))) == str(deepest)
    with pytest.raises(GraphParseError, match=f"MAX_SUBGRAPH_DEPTH={MAX_SUBGRAPH_DEPTH}"):
        Graph.from_json(_nested_scans(MAX_SUBGRAPH_DEPTH + 1))
    text = str(deepest).replace(
        "graph b(",
        "graph c(\n) {\n  = scan() {length=0, num_carry=0, num_xs=0, reverse=false}  # <root>\n"
        "graph b(",
        1,
    )
    text += "\n  return ()\n}"
    with pytest.raises(GraphParseError, match=f"line .*MAX_SUBGRAPH_DEPTH={MAX_SUBGRAPH_DEPTH}"):
        Graph.parse(text)


def test_undefined_and_redefined_values_are_rejected():
    def undefined(g):
        g["nodes"][1]["inputs"][0] = 99

    with pytest.raises(
        GraphParseError, match=r"graph.nodes\[1\] \(op 'relu'\).inputs\[0\]: value id 99 is used"
    ):
        Graph.from_json(_json_with(undefined))

    def redefined(g):
        g["nodes"][1]["outputs"][0]["id"] = g["nodes"][0]["outputs"][0]["id"]

    with pytest.raises(GraphParseError, match=r"outputs\[0\].id: value id \d+ is defined twice"):
        Graph.from_json(_json_with(redefined))
    text = seed_texts()[0]
    with pytest.raises(GraphParseError, match=r"line 9 \(op 'relu'\): use of undefined value '%9'"):
        Graph.parse(text.replace("relu(%0)", "relu(%9)"))
    with pytest.raises(GraphParseError, match="undefined value '%1'"):  # no self-reference
        Graph.parse(text.replace("relu(%0)", "relu(%1)"))
    with pytest.raises(GraphParseError, match="'%0' is defined twice"):
        Graph.parse(text.replace("%1: f32[2,16] = relu", "%0: f32[2,16] = relu"))


@pytest.mark.parametrize(
    "op", ["os.system", "__import__", "eval", "builtins.exec", "relu.__class__", "Relu", ""]
)
def test_op_names_resolve_only_through_the_registry(op):
    def edit(g):
        g["nodes"][1]["op"] = op

    with pytest.raises(UnsupportedOpError, match=r"graph.nodes\[1\].op: unknown op"):
        Graph.from_json(_json_with(edit))
    text = seed_texts()[0].replace("= relu(", f"= {op}(")
    error = UnsupportedOpError if re.fullmatch(r"[\w.]+", op) else GraphParseError
    with pytest.raises(error, match="line 9"):
        Graph.parse(text)


def test_structure_errors_name_the_field():
    cases = [
        (lambda g: g["nodes"][0].pop("source"), r"graph.nodes\[0\]: missing field\(s\) source"),
        (lambda g: g["nodes"][0].update(extra=1), r"graph.nodes\[0\]: unknown field 'extra'"),
        (lambda g: g["inputs"][0].update(kind="weight"), r"inputs\[0\].kind: 'weight' is not one"),
        (lambda g: g["inputs"][0].update(name="a b"), r"inputs\[0\].name: invalid name 'a b'"),
        (lambda g: g["inputs"][0].update(name="0"), r"inputs\[0\].name: invalid name '0'"),
        (lambda g: g.update(name="my net"), r"graph.name: invalid graph name 'my net'"),
        (lambda g: g["nodes"][0].update(inputs=[True]), r"inputs\[0\]: a value id must be"),
        (lambda g: g["nodes"][0]["attrs"].update(x={"a": 1}), r"attrs.x: a dict value is not"),
        (lambda g: g["nodes"][0]["attrs"].update(x=2**64), r"attrs.x: integer .* 64 bits"),
        (lambda g: g["nodes"][0]["attrs"].update(x="s" * 70_000), "MAX_STRING_LENGTH"),
        (lambda g: g["nodes"][0].update(source=["a", "f.py", -1]), r"source: the source line"),
        (lambda g: g["nodes"][0].update(source=["a\nb", "f.py", 1]), r"invalid module path"),
        (lambda g: g["nodes"][0].update(meta={"not id": 1}), r"meta: 'not id' is not a valid"),
        (lambda g: g.update(updates=[["fc1.weight", 0]]), r"update of 'fc1.weight', which is not"),
        (lambda g: g.update(outputs=[7, 1000]), r"graph.outputs\[1\]: value id 1000"),
        (lambda g: g.update(nodes={}), r"graph.nodes: expected a list, got an object"),
    ]
    for edit, message in cases:
        with pytest.raises(EmberError, match=message):
            Graph.from_json(_json_with(edit))
    with pytest.raises(GraphParseError, match="key 'op' twice"):
        Graph.from_json(seed_jsons()[0].replace('"op": "relu"', '"op": "relu", "op": "relu"'))
    with pytest.raises(GraphParseError, match="not valid JSON"):
        Graph.from_json(seed_jsons()[0][:-3])
    with pytest.raises(GraphParseError, match="must be a str"):
        Graph.parse(b"graph g(")


def test_text_structure_errors_name_the_line():
    text = seed_texts()[2]  # functionalized ConvBN: has update lines
    lines = text.splitlines()
    ret = next(k for k, ln in enumerate(lines) if ln.strip().startswith("return ("))
    cases = [
        (text[: len(text) // 2], "the text ends inside graph 'ConvBN'|cannot parse|expected"),
        (text + "\nextra", "trailing text after the graph"),
        (seed_texts()[0].replace("  return (%3)\n", ""), "graph 'MLP' has no return line"),
        ("\n".join(lines[:ret] + [lines[ret + 1], lines[ret]] + lines[ret + 2 :]), "after the"),
        (text.replace("update bn.running_var", "update bn.running_mean"), "updated twice"),
        (text.replace("update bn.running_var", "update fc.bias"), "not a buffer input"),
        (text.replace("buffer %bn.running_var", "weight %bn.running_var"), "kind 'weight'"),
        (text.replace("  # conv @", "  # conv with spaces @"), "cannot parse the source"),
        (text.replace("  # conv @", " # conv @"), "expected '  # module.path"),
        (text.replace("groups=1, ", "groups=1,"), "attrs: expected ', ' or"),
        (text.replace("groups=1", "groups=1, groups=1"), "'groups' is given twice"),
    ]
    for doc, message in cases:
        with pytest.raises(EmberError, match=message):
            Graph.parse(doc)


def test_node_count_limit(monkeypatch):
    monkeypatch.setattr(ser, "MAX_NODES", 3)
    with pytest.raises(GraphParseError, match=r"graph.nodes\[3\]: .*MAX_NODES=3"):
        Graph.from_json(seed_jsons()[0])
    with pytest.raises(GraphParseError, match="line 11: .*MAX_NODES=3"):
        Graph.parse(seed_texts()[0])
    monkeypatch.setattr(ser, "MAX_DOCUMENT_CHARS", 100)
    with pytest.raises(GraphParseError, match="MAX_DOCUMENT_CHARS=100"):
        Graph.parse(seed_texts()[0])


def test_subgraphs_only_on_control_flow_ops_and_checked_recursively():
    loops = seed_graphs()[3]
    scan = next(n for n in loops.nodes if n.op == "scan")
    relu = seed_graphs()[0].nodes[1]
    bad = relu.replace(subgraphs=scan.subgraphs)
    graph = seed_graphs()[0]
    graph = graph.replace(nodes=graph.nodes[:1] + (bad,) + graph.nodes[2:])
    with pytest.raises(VerifyError, match="node 1: relu: the op takes no sub-graphs, got 1"):
        Graph.from_json(graph.to_json())
    text = str(loops).replace("f32[2,4] = linear(%carry0", "f32[2,5] = linear(%carry0")
    with pytest.raises(VerifyError, match=r"node \d+ \(scan\), sub-graph 0 'step': node 0: linear"):
        Graph.parse(text)


def test_verify_points_at_the_failing_line_after_subgraphs():
    loops = seed_graphs()[3]
    k = next(i for i, n in enumerate(loops.nodes) if n.op == "while_loop")
    node = loops.nodes[k]
    wrong = node.replace(outputs=(Value(TensorType((2, 5), "float32")),))
    bad = loops.replace(nodes=loops.nodes[:k] + (wrong,) + loops.nodes[k + 1 :])
    with pytest.raises(VerifyError, match=r"\n> +%\d+: f32\[2,5\] = while_loop\("):
        verify(bad)


def test_nesting_prescan_is_linear_in_quotes_and_backslashes():
    n = 20_000
    docs = [
        '"' + '\\"' * n,
        '\\"' * n,
        '"\\' * n,
        "[" + '"[' * n,
        '{"a": "b"' + '\\"' * n + "\\\n}",  # a backslash before a newline at the end
    ]
    for doc in docs:
        start = time.perf_counter()
        with pytest.raises(GraphParseError):
            Graph.from_json(doc)
        assert time.perf_counter() - start < 1.0  # quadratic scans took 30 s here


def test_verify_never_raises_a_foreign_exception_on_malformed_graphs():
    graph = seed_graphs()[0]
    node = graph.nodes[1]
    bad_graphs = [
        graph.replace(nodes=(node.replace(op=["relu"]),) + graph.nodes[1:]),
        graph.replace(nodes=(node.replace(inputs=(3,)),) + graph.nodes[1:]),
        graph.replace(nodes=(node.replace(outputs=(Value("f32[2]"),)),) + graph.nodes[1:]),
        graph.replace(nodes=(node.replace(subgraphs=[graph]),) + graph.nodes[1:]),
        graph.replace(nodes=("relu",) + graph.nodes[1:]),
        graph.replace(outputs=([1],)),
        graph.replace(updates=(("x",),)),
        graph.replace(inputs=graph.inputs + (GraphInput("data", "y", Value((2,))),)),
        graph.replace(inputs=list(graph.inputs)),
        graph.replace(name=None),
        "not a graph",
    ]
    scan = {"length": 0, "num_carry": 0, "num_xs": 0, "reverse": False}
    cyclic_node = Node("scan", (), scan, (), subgraphs=())
    cyclic = graph.replace(nodes=(cyclic_node,))
    object.__setattr__(cyclic_node, "subgraphs", (cyclic,))
    bad_graphs.append(cyclic)
    for bad in bad_graphs:
        with pytest.raises(VerifyError):
            verify(bad)
    with pytest.raises(VerifyError, match="MAX_SUBGRAPH_DEPTH"):
        verify(cyclic)


def test_loaders_accept_valid_edge_cases():
    text = seed_texts()[0]
    assert str(Graph.parse(text.replace("\n", "\r\n"))) == text  # CRLF line ends
    assert str(Graph.parse("\n\n" + text + "\n\n")) == text
    assert str(Graph.from_json(seed_jsons()[0].encode())) == text
    g = Graph.parse("graph g(\n    data %x: f32[0,3],\n) {\n  return (%x)\n}")
    assert g.inputs[0].value.type == TensorType((0, 3), "float32")
    for kind in ("bool", "u8", "i64", "bf16", "f64"):
        Graph.parse(f"graph g(\n    data %x: {kind}[2],\n) {{\n  return (%x)\n}}")


# -- fuzzing --------------------------------------------------------------------------------
# Hypothesis draws the seed document, a `random.Random` (one draw, so thousands of
# documents fit the time budget) that picks edit kinds and positions, and for JSON
# structure edits the replacement values (`json_values`).

OPS = sorted(all_ops())
BAD_OPS = ["os.system", "__import__", "eval", "exec", "builtins.open", "subprocess.run", "RELU"]
INTERESTING_INTS = [0, 1, -1, 2, 7, 255, 2**31, 2**40 + 1, 10**12, 2**63, -(2**63) - 1, 10**30]
TOKENS = [
    "%999", "%x", "%0", "-1", "1e999", "NaN", "-Infinity", "null", "true", '"', "\\", "'",
    "[", "]", "{", "}", "(", ")", ", ", ",", "=", ": ", "  # ", " @ ", "\n", "\t", "\r",
    "graph g(\n) {\n  return ()\n}", "meta{a=1}", " {k=1}", "\u2028", "\x00", "\u00e9", "%",
    "f32[1000000000000,1000000000000]", "f32[" + ",".join(["1"] * 17) + "]", "f32[-1]",
    "<root>", "update ", "return (", "data %z: f32[1],", "buffer", '"op": ', '"id": 0',
    "[" * 300, "{" * 300, "[" * 100_000, '"' * 3, "9" * 5000, '\\"' * 20_000, '"\\' * 20_000,
]  # fmt: skip
CHARS = "%[]{}(),=:#\"'\\-. 0159aZ_\n\t\x00\u00e9\u2028"
JSON_KEYS = [
    "format", "graph", "name", "inputs", "nodes", "outputs", "updates", "op", "attrs",
    "source", "subgraphs", "meta", "id", "type", "kind", "extra",
]  # fmt: skip
JSON_SPECIAL = [
    "f32[1000000000000,1000000000000]", "f32[2,3]", "i32[]", "os.system", "__import__",
    "relu", "scan", "cond", "buffer", "param", "rng", "data", "ember.graph/1", "", "a b",
    "0", "\u2028", float("nan"), float("inf"), 1e308, -0.0, [[[[[[0]]]]]],
    [1] * 40, 2**64, -(2**63), 10**12, [0, 1, 2], {"a": 1}, {},
]  # fmt: skip

ALPHABET = "abz09_.-%[]{}(),=:#\"'\\ \n\t\x00\u00e9\u2028\ud800"  # no charmap to build

_INFER_FAILED = re.compile(r"type inference failed with attrs .*?: (\w+): ")
_NUMBER = re.compile(r"-?\d+")
_TYPE_TEXT = re.compile(r"[a-z]+[0-9]*\[[0-9,]*\]")
_OP_TEXT = re.compile(r"= ([\w.]+)\(")
_OP_JSON = re.compile(r'"op": "([^"]*)"')


def text_mutation(doc: str, rnd: random.Random) -> str:
    """One edit of the document's characters, lines, numbers or op names."""
    kind = rnd.choice(["flip", "delete", "duplicate", "insert", "lines", "number", "op", "cut"])
    n = len(doc)
    i = rnd.randint(0, n)
    if kind == "flip" and n:
        i = min(i, n - 1)
        return doc[:i] + rnd.choice(CHARS) + doc[i + 1 :]
    if kind == "delete":
        return doc[:i] + doc[i + rnd.randint(1, 40) :]
    if kind == "duplicate":
        return doc[:i] + doc[i : i + rnd.randint(1, 200)] + doc[i:]
    if kind == "insert":
        return doc[:i] + rnd.choice(TOKENS) + doc[i:]
    if kind == "lines":
        lines = doc.split("\n")
        a, b = rnd.randrange(len(lines)), rnd.randrange(len(lines))
        how = rnd.choice(["swap", "delete", "duplicate"])
        if how == "swap":
            lines[a], lines[b] = lines[b], lines[a]
        elif how == "delete":
            del lines[a]
        else:
            lines.insert(b, lines[a])
        return "\n".join(lines)
    if kind == "number":
        spans = [m.span() for m in _NUMBER.finditer(doc)]
        if spans:
            lo, hi = rnd.choice(spans)
            new = rnd.choice(INTERESTING_INTS) if rnd.random() < 0.5 else rnd.randint(-3, 100)
            return doc[:lo] + str(new) + doc[hi:]
    if kind == "op":
        spans = [m.span(1) for m in _OP_TEXT.finditer(doc)]
        spans += [m.span(1) for m in _OP_JSON.finditer(doc)]
        if spans:
            lo, hi = rnd.choice(spans)
            return doc[:lo] + rnd.choice(OPS + BAD_OPS) + doc[hi:]
    return doc[:i]  # truncate (and the fallback of kinds that found nothing)


def mutate_text(doc: str, rnd: random.Random) -> str:
    for _ in range(rnd.randint(1, 3)):
        doc = text_mutation(doc, rnd)
    return doc


def _json_containers(children):
    keys = st.sampled_from(JSON_KEYS) | st.text(ALPHABET, max_size=4)
    return st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(ALPHABET, max_size=6)
    | st.sampled_from(JSON_SPECIAL).map(copy.deepcopy),  # edits mutate values in place
    _json_containers,
    max_leaves=6,
)


def _pick(obj, rnd: random.Random):
    """A random (container, key) of a parsed JSON document: descend from the root, stopping
    at each level with probability 0.15 (or at a scalar). None when there is no slot."""
    c = obj
    while isinstance(c, (dict, list)) and c:
        k = rnd.choice(list(c)) if isinstance(c, dict) else rnd.randrange(len(c))
        if not isinstance(c[k], (dict, list)) or not c[k] or rnd.random() < 0.15:
            return c, k
        c = c[k]
    return None


def _nodes(obj) -> list[dict]:
    """Every node object of a parsed document (sub-graphs included), without recursion."""
    out, stack = [], [obj.get("graph") if isinstance(obj, dict) else None]
    while stack:
        g = stack.pop()
        nodes = g.get("nodes") if isinstance(g, dict) else None
        for n in nodes if isinstance(nodes, list) else ():
            if isinstance(n, dict):
                out.append(n)
                subs = n.get("subgraphs")
                stack.extend(subs if isinstance(subs, list) else ())
    return out


def _nudge(v, rnd: random.Random):
    """A value of the same JSON kind that may no longer fit (attrs, ids, types)."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return rnd.choice([v - 1, v + 1, -v, 0, -1, 2 * v + 3, 10**12, 2**63])
    if isinstance(v, float):
        return rnd.choice([-v, 0.0, float("nan"), float("inf"), 2.0 * v + 1.5])
    if isinstance(v, list):
        v = list(v)
        how = rnd.randrange(3)
        if how == 0 and v:
            del v[rnd.randrange(len(v))]
        elif how == 1:
            v.insert(rnd.randint(0, len(v)), rnd.choice([0, 1, 3, -1, 10**12]))
        elif v:
            i = rnd.randrange(len(v))
            v[i] = _nudge(v[i], rnd)
        return v
    if isinstance(v, str) and _TYPE_TEXT.fullmatch(v):  # a tensor type: dtype or dims
        head, body = v[:-1].split("[", 1)
        dims = [int(d) for d in body.split(",")] if body else []
        if rnd.random() < 0.3:
            head = rnd.choice(["f32", "i32", "bool", "f16", "i64", "u8"])
        else:
            dims = _nudge(dims, rnd)
        return f"{head}[{','.join(map(str, dims))}]"
    if isinstance(v, str):
        return rnd.choice(["", "bogus", "mean", "sum", "constant", "float32", "ij,jk->ik", v * 2])
    return v


def node_edit(obj, rnd: random.Random) -> None:
    """Change one attr, operand id, result type or op of a random node (well-formed JSON
    that should reach the registry's checks and type inference)."""
    nodes = _nodes(obj)
    if not nodes:
        return
    node = rnd.choice(nodes)
    field = rnd.choice(["attrs", "attrs", "inputs", "outputs", "op"])
    value = node.get(field)
    if field == "op":
        node["op"] = rnd.choice(OPS)
    elif field == "attrs" and isinstance(value, dict) and value:
        key = rnd.choice(list(value))
        value[key] = _nudge(value[key], rnd)
    elif field == "inputs" and isinstance(value, list):
        node["inputs"] = _nudge(value, rnd)
    elif field == "outputs" and isinstance(value, list) and value and isinstance(value[0], dict):
        out = rnd.choice(value)
        key = rnd.choice(["type", "type", "id"])
        if key in out:
            out[key] = _nudge(out[key], rnd)


def json_edit(obj, rnd: random.Random, value) -> None:
    """One edit of the parsed document, in place; `value()` draws a JSON value."""
    if rnd.random() < 0.4:
        return node_edit(obj, rnd)
    slot = _pick(obj, rnd)
    if slot is None:
        return
    c, k = slot
    kind = rnd.choice(["replace", "special", "delete", "copy", "add", "wrap", "shift"])
    if kind == "replace":
        c[k] = value()
    elif kind == "special":
        c[k] = copy.deepcopy(rnd.choice(JSON_SPECIAL + INTERESTING_INTS))
    elif kind == "delete":
        del c[k]
    elif kind == "copy":  # another slot's value here (a node into another graph, an id, ...)
        c2, k2 = _pick(obj, rnd)
        c[k] = json.loads(json.dumps(c2[k2]))
    elif kind == "add" and isinstance(c[k], dict):
        c[k][rnd.choice(JSON_KEYS)] = copy.deepcopy(rnd.choice(JSON_SPECIAL + INTERESTING_INTS))
    elif kind == "add" and isinstance(c[k], list):
        c[k].insert(
            rnd.randint(0, len(c[k])), copy.deepcopy(rnd.choice(JSON_SPECIAL + INTERESTING_INTS))
        )
    elif kind == "wrap":
        c[k] = [c[k]]
    elif type(c[k]) is int:  # shift a number: value ids, dims, attrs
        c[k] += rnd.choice([-1, 1, 2, 100, -(10**6)])


def load_and_check(load, doc, stats: Counter) -> None:
    """The property: a verified graph that round-trips, or an EmberError; quickly."""
    start = time.perf_counter()
    try:
        graph = load(doc)
    except EmberError as e:
        foreign = _INFER_FAILED.search(str(e))  # an infer rule raised a non-ember error
        stats[type(e).__name__ + (f"[infer: {foreign.group(1)}]" if foreign else "")] += 1
        assert str(e).strip()
    except Exception as e:
        raise AssertionError(f"{load.__name__} raised {type(e).__name__} on {doc[:3000]!r}") from e
    else:
        stats["accepted"] += 1
        verify(graph)
        text = str(graph)
        assert str(Graph.parse(text)) == text, doc
        assert str(Graph.from_json(graph.to_json())) == text, doc
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"loading took {elapsed:.1f}s: {doc[:3000]!r}"


FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
RANDOM = st.randoms(use_true_random=True)


def _report(name: str, stats: Counter, expected: int) -> None:
    total = sum(stats.values())
    print(f"\n{name}: {total} documents: {dict(sorted(stats.items()))}", file=sys.stderr)
    assert total >= expected
    assert stats["accepted"] < total / 2  # the mutations do reach the checks


# The full document counts (10,500 in all) run in the slow tier; the default run a quarter.
TIER = pytest.mark.parametrize(
    "share", [pytest.param(4, id="default"), pytest.param(1, marks=pytest.mark.slow, id="full")]
)


@TIER
def test_fuzz_ir_text(share):
    stats: Counter = Counter()
    n = 3000 * SCALE // share

    @settings(max_examples=n, **FUZZ)
    @given(st.sampled_from(seed_texts()), RANDOM)
    def run(doc, rnd):
        load_and_check(Graph.parse, mutate_text(doc, rnd), stats)

    run()
    _report("Graph.parse on mutated IR text", stats, n)


@TIER
def test_fuzz_json_text(share):
    stats: Counter = Counter()
    n = 2500 * SCALE // share

    @settings(max_examples=n, **FUZZ)
    @given(st.sampled_from(seed_jsons()), RANDOM)
    def run(doc, rnd):
        load_and_check(Graph.from_json, mutate_text(doc, rnd), stats)

    run()
    _report("Graph.from_json on mutated JSON text", stats, n)


@TIER
def test_fuzz_json_structure(share):
    stats: Counter = Counter()
    n = 3000 * SCALE // share

    @settings(max_examples=n, **FUZZ)
    @given(st.sampled_from(seed_jsons()), RANDOM, st.data())
    def run(doc, rnd, data):
        obj = json.loads(doc)
        for _ in range(rnd.randint(1, 3)):
            json_edit(obj, rnd, lambda: data.draw(json_values))
        load_and_check(Graph.from_json, json.dumps(obj), stats)

    run()
    _report("Graph.from_json on edited JSON structure", stats, n)


@TIER
def test_fuzz_arbitrary_documents(share):
    """Small arbitrary documents and JSON values, and each format fed to the other loader."""
    stats: Counter = Counter()
    n = 1000 * SCALE // share
    docs = st.text(ALPHABET, max_size=40) | json_values.map(json.dumps)

    @settings(max_examples=n, **FUZZ)
    @given(docs | st.sampled_from(seed_texts() + seed_jsons()))
    def run(doc):
        load_and_check(Graph.parse, doc, stats)
        load_and_check(Graph.from_json, doc, stats)

    run()
    _report("both loaders on arbitrary documents", stats, 2 * n)
