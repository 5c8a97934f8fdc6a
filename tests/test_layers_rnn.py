"""nn.RNN / LSTM / GRU and their Cell layers against PyTorch.

Both sides get the same state_dict; outputs (output, h_n[, c_n]) are compared
in train and eval mode, and gradients of a fixed weighted sum of all outputs
w.r.t. every parameter, the input and the initial states (float32, rtol 1e-5,
atol 1e-6). Configurations with dropout > 0 are compared in eval mode; in
train mode we check that dropout is applied between layers only. The worst
normwise relative error per family (max|ember - torch| / max|torch|) is
collected in WORST and printed by the last test.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import ember as em
import ember.nn as nn
from ember.compiler import lower, run_passes
from ember.errors import ShapeError
from ember.frontend.trace import trace_function

# torch's CPU LSTM falls back from oneDNN for proj_size > 0 and says so; that is expected
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

L, N, IN, HID = 7, 3, 5, 6
RTOL, ATOL = 1e-5, 1e-6
WORST: dict[str, float] = {}


def _record(family: str, got, want) -> None:
    want = np.asarray(want)
    scale = max(float(np.abs(want).max()) if want.size else 0.0, 1e-12)
    err = float(np.abs(np.asarray(got) - want).max()) / scale if want.size else 0.0
    WORST[family] = max(WORST.get(family, 0.0), err)


def _close(family: str, got, want, what: str) -> None:
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    assert np.shape(got) == want.shape, f"{what}: shape {np.shape(got)} != torch {want.shape}"
    _record(family, got, want)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def _pair(cls_name: str, *args, **kwargs):
    """The torch module and an ember module holding the very same weights."""
    torch.manual_seed(0)
    tnet = getattr(torch.nn, cls_name)(*args, **kwargs)
    enet = getattr(nn, cls_name)(*args, **kwargs)
    enet.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    return tnet, enet


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _flat(item)]
    return [out]


def _call(net, args: list, has_cell: bool):
    """Call a layer on positional arrays/tensors; the states, if any, follow the input."""
    if len(args) == 1:
        return net(args[0])
    return net(args[0], tuple(args[1:]) if has_cell else args[1])


def ember_run(enet, args: list, has_cell: bool, weights: list):
    """Outputs and gradients (params by state-dict name, inputs) through the compiler."""
    graph, _ = trace_function(
        lambda *xs: _call(enet, list(xs), has_cell),
        args,
        modules=[("", enet)],
        names=[f"a{k}" for k in range(len(args))],
    )
    lo = lower(run_passes(graph))
    named = dict(enet.named_parameters())
    params = [jnp.asarray(np.asarray(named[n].data)) for n in lo.param_names]

    def loss(ps, xs):
        outs, _ = lo.fn(ps, [], xs, None)
        return sum(jnp.sum(o * w) for o, w in zip(outs, weights, strict=True)), outs

    (_, outs), (g_params, g_inputs) = jax.jit(
        jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    )(params, [jnp.asarray(a) for a in args])
    return (
        [np.asarray(o) for o in outs],
        dict(zip(lo.param_names, g_params, strict=True)),
        [np.asarray(g) for g in g_inputs],
        graph,
    )


def torch_run(tnet, args: list, has_cell: bool, weights: list):
    targs = [torch.tensor(a, requires_grad=True) for a in args]
    tnet.zero_grad()
    outs = _flat(_call(tnet, targs, has_cell))
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, weights, strict=True)).backward()
    grads = {k: p.grad for k, p in tnet.named_parameters()}
    return outs, grads, [a.grad for a in targs]


def compare(family: str, tnet, enet, args: list, has_cell: bool, training: bool):
    tnet.train(training)
    enet.train(training)
    with torch.no_grad():
        shapes = [
            o.shape for o in _flat(_call(tnet, [torch.from_numpy(a) for a in args], has_cell))
        ]
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(tuple(s)).astype(np.float32) for s in shapes]
    t_outs, t_grads, t_in = torch_run(tnet, args, has_cell, weights)
    e_outs, e_grads, e_in, graph = ember_run(enet, args, has_cell, weights)
    mode = "train" if training else "eval"
    for k, (e, t) in enumerate(zip(e_outs, t_outs, strict=True)):
        _close(family, e, t, f"{mode} output {k}")
    assert set(e_grads) == set(t_grads)
    for name, g in e_grads.items():
        _close(family, g, t_grads[name], f"{mode} grad of {name}")
    for k, (e, t) in enumerate(zip(e_in, t_in, strict=True)):
        _close(family, e, t, f"{mode} grad of input {k}")
    return graph


def _states(cls_name: str, kw: dict, batched: bool) -> list:
    rng = np.random.default_rng(2)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    sizes = [kw.get("proj_size") or HID] + ([HID] if cls_name == "LSTM" else [])
    return [
        rng.standard_normal((layers, N, s) if batched else (layers, s)).astype(np.float32)
        for s in sizes
    ]


# (class, constructor kwargs, pass initial states, batched input)
CONFIGS = [
    ("RNN", {}, False, True),
    ("RNN", {"num_layers": 2, "bidirectional": True, "nonlinearity": "relu"}, True, True),
    ("RNN", {"batch_first": True, "bias": False}, True, True),
    ("RNN", {"num_layers": 2}, True, False),
    ("RNN", {"num_layers": 2, "dropout": 0.3}, False, True),
    ("LSTM", {}, False, True),
    ("LSTM", {"num_layers": 2, "bidirectional": True}, False, True),
    (
        "LSTM",
        {"num_layers": 2, "bidirectional": True, "batch_first": True, "proj_size": 3},
        True,
        True,
    ),
    ("LSTM", {"bias": False, "proj_size": 4}, True, True),
    ("LSTM", {"bidirectional": True, "proj_size": 2}, True, False),
    ("LSTM", {"num_layers": 3, "dropout": 0.5, "batch_first": True}, True, True),
    ("GRU", {}, False, True),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}, True, True),
    ("GRU", {"bias": False}, True, True),
    ("GRU", {"num_layers": 2, "bidirectional": True}, False, False),
    ("GRU", {"num_layers": 2, "bidirectional": True, "dropout": 0.25}, True, True),
]


def _config_id(c) -> str:
    cls_name, kw, states, batched = c
    opts = ",".join(f"{k}={v}" for k, v in kw.items())
    return f"{cls_name}({opts})" + ("-h0" if states else "") + ("" if batched else "-unbatched")


@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_recurrent_layer_matches_torch(config):
    cls_name, kw, with_states, batched = config
    tnet, enet = _pair(cls_name, IN, HID, **kw)
    rng = np.random.default_rng(3)
    shape = ((N, L, IN) if kw.get("batch_first") else (L, N, IN)) if batched else (L, IN)
    args = [rng.standard_normal(shape).astype(np.float32)]
    if with_states:
        args += _states(cls_name, kw, batched)
    modes = (True, False) if not kw.get("dropout") else (False,)
    for training in modes:
        graph = compare(cls_name, tnet, enet, args, cls_name == "LSTM", training)
    directions = 2 if kw.get("bidirectional") else 1
    scans = [n for n in graph.nodes if n.op == "scan"]
    assert len(scans) == kw.get("num_layers", 1) * directions
    assert [n.attrs["reverse"] for n in scans] == [bool(d) for d in range(directions)] * (
        len(scans) // directions
    )


@pytest.mark.parametrize("cls_name", ["RNN", "LSTM", "GRU"])
def test_dropout_applies_between_layers_in_train_mode(cls_name):
    tnet, enet = _pair(cls_name, IN, HID, num_layers=3, dropout=0.5)
    x = np.random.default_rng(4).standard_normal((L, N, IN)).astype(np.float32)
    graph, _ = trace_function(lambda a: enet(a), [x], modules=[("", enet)], names=["x"])
    assert [n.op for n in graph.nodes].count("dropout") == 2  # after layers 0 and 1
    enet.train()
    out_train = _flat(enet(x))
    tnet.eval()
    with torch.no_grad():
        t_eval = [o.numpy() for o in _flat(tnet(torch.from_numpy(x)))]
    # layer 0 sees no dropout, so its final state matches eval mode exactly
    np.testing.assert_allclose(out_train[1][0], t_eval[1][0], rtol=RTOL, atol=ATOL)
    assert not np.allclose(out_train[0], t_eval[0], atol=1e-3)
    enet.eval()
    np.testing.assert_allclose(_flat(enet(x))[0], t_eval[0], rtol=RTOL, atol=ATOL)


CELL_CONFIGS = [
    ("RNNCell", {}, True, True),
    ("RNNCell", {"nonlinearity": "relu", "bias": False}, True, False),
    ("RNNCell", {}, False, True),
    ("LSTMCell", {}, True, True),
    ("LSTMCell", {"bias": False}, False, True),
    ("LSTMCell", {}, True, False),
    ("GRUCell", {}, True, True),
    ("GRUCell", {"bias": False}, True, True),
    ("GRUCell", {}, False, False),
]


@pytest.mark.parametrize("config", CELL_CONFIGS, ids=[_config_id(c) for c in CELL_CONFIGS])
def test_cell_matches_torch(config):
    cls_name, kw, with_states, batched = config
    tnet, enet = _pair(cls_name, IN, HID, **kw)
    rng = np.random.default_rng(5)
    args = [rng.standard_normal((N, IN) if batched else (IN,)).astype(np.float32)]
    if with_states:
        count = 2 if cls_name == "LSTMCell" else 1
        args += [
            rng.standard_normal((N, HID) if batched else (HID,)).astype(np.float32)
            for _ in range(count)
        ]
    family = cls_name.replace("Cell", "") + "Cell"
    for training in (True, False):
        compare(family, tnet, enet, args, cls_name == "LSTMCell", training)


def test_eager_call_returns_torch_structure():
    tnet, enet = _pair("LSTM", IN, HID, num_layers=2, batch_first=True)
    x = np.random.default_rng(6).standard_normal((N, L, IN)).astype(np.float32)
    output, (h_n, c_n) = enet(x)
    t_out, (t_h, t_c) = tnet(torch.from_numpy(x))
    for got, want, what in ((output, t_out, "output"), (h_n, t_h, "h_n"), (c_n, t_c, "c_n")):
        _close("LSTM", got, want, what)


@pytest.mark.parametrize(
    "cls_name,kw",
    [
        ("RNN", {"num_layers": 2, "bidirectional": True}),
        ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 3, "bias": False}),
        ("GRU", {"num_layers": 3}),
        ("LSTMCell", {}),
        ("GRUCell", {"bias": False}),
        ("RNNCell", {"nonlinearity": "relu"}),
    ],
)
def test_parameter_names_shapes_order_init_and_repr(cls_name, kw):
    tnet, _ = _pair(cls_name, IN, HID, **kw)
    em.manual_seed(0)
    enet = getattr(nn, cls_name)(IN, HID, **kw)
    t_state, e_state = tnet.state_dict(), enet.state_dict()
    assert list(e_state) == list(t_state)
    assert [v.shape for v in e_state.values()] == [tuple(v.shape) for v in t_state.values()]
    values = np.concatenate([v.ravel() for v in e_state.values()])
    bound = 1 / np.sqrt(HID)
    assert np.abs(values).max() <= bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.1 * bound  # U(-b, b) has std b/sqrt(3)
    assert repr(enet) == repr(tnet)


def test_ir_shows_a_readable_scan_body():
    lstm = nn.LSTM(IN, HID)
    graph = em.trace(lstm, em.TensorSpec((L, N, IN)))
    (scan,) = [n for n in graph.nodes if n.op == "scan"]
    body = scan.subgraphs[0]
    assert body.name == "lstm_cell"
    assert [gi.name for gi in body.inputs] == [
        "carry0",
        "carry1",
        "x0",
        "weight_hh_l0",
        "bias_hh_l0",
    ]
    assert {"sigmoid", "tanh", "linear"} <= {n.op for n in body.nodes}
    # the input projection runs once for the whole sequence, outside the loop
    assert any(n.op == "linear" and n.inputs[1].name == "weight_ih_l0" for n in graph.nodes)


def test_bad_inputs_raise_torch_like_errors():
    with pytest.raises(
        ShapeError,
        match=r"input.size\(-1\) must be equal to input_size. "
        r"Expected 5, got 4",
    ):
        em.trace(nn.GRU(IN, HID), em.TensorSpec((L, N, 4)))
    with pytest.raises(ShapeError, match=r"Expected input to be 2D or 3D, got 4D"):
        em.trace(nn.RNN(IN, HID), em.TensorSpec((1, L, N, IN)))
    with pytest.raises(ShapeError, match=r"Expected hidden\[0\] size \(2, 3, 6\), got \[1, 3, 6\]"):
        trace_function(
            lambda x, h, c: nn.LSTM(IN, HID, bidirectional=True)(x, (h, c)),
            [
                np.zeros((L, N, IN), np.float32),
                np.zeros((1, N, HID), np.float32),
                np.zeros((2, N, HID), np.float32),
            ],
            names=["x", "h", "c"],
            modules=[],
        )
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(IN, HID, proj_size=HID)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(IN, HID, nonlinearity="gelu")
    with pytest.raises(ShapeError, match="Expected input to be 1D or 2D, got 3D"):
        em.trace(nn.GRUCell(IN, HID), em.TensorSpec((2, N, IN)))


@pytest.mark.parametrize(
    "cls_name, kw",
    [
        ("LSTM", {"num_layers": 2, "bidirectional": True}),
        ("GRU", {"bidirectional": True}),
        ("RNN", {}),
    ],
)
def test_packed_sequences_match_torch(cls_name, kw):
    """pack_padded_sequence (unsorted lengths) -> layer -> pad_packed_sequence: outputs,
    final states and parameter gradients as PyTorch's."""
    from torch.nn.utils import rnn as trnn

    from ember.nn.utils import rnn as ernn

    x = np.random.default_rng(0).standard_normal((4, 7, 3)).astype(np.float32)
    lengths = [3, 6, 1, 4]  # the longest is shorter than the padding: outputs trimmed to 6
    em.manual_seed(0)
    ours = getattr(nn, cls_name)(3, 5, batch_first=True, **kw)
    ref = getattr(torch.nn, cls_name)(3, 5, batch_first=True, **kw)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    out, h = ours(ernn.pack_padded_sequence(em.tensor(x), lengths, True, enforce_sorted=False))
    want, want_h = ref(
        trnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths), True, False)
    )
    out, out_lengths = ernn.pad_packed_sequence(out, batch_first=True)
    want, _ = trnn.pad_packed_sequence(want, batch_first=True)
    h, want_h = (h[0], want_h[0]) if cls_name == "LSTM" else (h, want_h)
    assert tuple(out.shape) == tuple(want.shape) == (4, 6, 5 * (2 if kw else 1))
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), want_h.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert np.asarray(out_lengths.numpy()).tolist() == lengths
    (out.sum() + (h * h).sum()).backward()
    (want.sum() + (want_h * want_h).sum()).backward()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(
            p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )


def test_pad_and_pack_sequence_helpers_match_torch():
    from torch.nn.utils import rnn as trnn

    from ember.nn.utils import rnn as ernn

    seqs = [np.arange(n * 2, dtype=np.float32).reshape(n, 2) for n in (3, 1, 2)]
    for kw in ({}, {"batch_first": True, "padding_value": -1.0}, {"padding_side": "left"}):
        ours = ernn.pad_sequence([em.tensor(s) for s in seqs], **kw)
        want = trnn.pad_sequence([torch.from_numpy(s) for s in seqs], **kw)
        np.testing.assert_array_equal(ours.numpy(), want.numpy())
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        ernn.pack_sequence([em.tensor(s) for s in seqs])
    packed = ernn.pack_sequence([em.tensor(s) for s in seqs], enforce_sorted=False)
    padded, lengths = ernn.pad_packed_sequence(packed, padding_value=9.0, total_length=5)
    want, _ = trnn.pad_packed_sequence(
        trnn.pack_sequence([torch.from_numpy(s) for s in seqs], enforce_sorted=False),
        padding_value=9.0,
        total_length=5,
    )
    np.testing.assert_array_equal(padded.numpy(), want.numpy())


def test_zz_report_worst_relative_error():
    # WORST holds what ran in this process (pytest-xdist splits files); print and bound it
    if not WORST:
        pytest.skip("no parity case ran in this worker")
    print("\nworst normwise relative error vs torch (outputs and gradients):")
    for family, err in sorted(WORST.items()):
        print(f"  {family:10s} {err:.2e}")
    assert max(WORST.values()) < 1e-5, WORST
