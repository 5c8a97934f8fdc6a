"""F.scaled_dot_product_attention, nn.MultiheadAttention and the Transformer layers vs PyTorch.

Outputs, parameter gradients and input gradients are compared in float32 in eval
mode and in train mode with dropout=0, after loading torch's state_dict into the
ember module. PyTorch's MHA "fast path" (nested tensors, eval without grad) is
disabled except in the one test that checks it, since it zeroes padded positions.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
import torch
from attention_parity import WORST, copy_weights, report, run_both, set_mode
from jax.test_util import check_grads

import ember.nn.functional as F
from ember import nn
from ember.compiler import lower
from ember.errors import DTypeError, ShapeError
from ember.frontend.trace import trace_function

TF = torch.nn.functional
rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(autouse=True)
def _no_torch_fastpath():
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(old)


def padding_mask(n: int, s: int, lengths) -> np.ndarray:
    """Bool (n, s): True at padded key positions (PyTorch's key_padding_mask convention)."""
    return np.arange(s)[None, :] >= np.asarray(lengths)[:, None]


def causal_float(sz: int) -> np.ndarray:
    return np.triu(np.full((sz, sz), -np.inf, np.float32), 1)


# -- scaled_dot_product_attention --------------------------------------------------------


class _Stateless(torch.nn.Module):
    """A parameterless module so SDPA can go through run_both."""


class _EmberStateless(nn.Module):
    pass


SDPA_CASES = {
    "plain-4d": ((r(2, 3, 4, 8), r(2, 3, 6, 8), r(2, 3, 6, 5)), {}),
    "3d-no-heads": ((r(2, 4, 8), r(2, 6, 8), r(2, 6, 8)), {}),
    "bool-mask-broadcast": (
        (r(2, 3, 4, 8), r(2, 3, 6, 8), r(2, 3, 6, 8), rng.random((1, 3, 4, 6)) > 0.3),
        {},
    ),
    "float-mask": ((r(2, 2, 4, 8), r(2, 2, 6, 8), r(2, 2, 6, 8), r(4, 6)), {}),
    "causal-L<S": ((r(1, 2, 3, 8), r(1, 2, 5, 8), r(1, 2, 5, 8)), {"is_causal": True}),
    "causal-L>S": ((r(1, 2, 5, 8), r(1, 2, 3, 8), r(1, 2, 3, 8)), {"is_causal": True}),
    "scale": ((r(2, 2, 4, 8), r(2, 2, 4, 8), r(2, 2, 4, 8)), {"scale": 0.5}),
    "gqa": ((r(2, 6, 4, 8), r(2, 2, 5, 8), r(2, 2, 5, 8)), {"enable_gqa": True}),
    "size-1-seq": ((r(2, 2, 1, 8), r(2, 2, 1, 8), r(2, 2, 1, 8)), {}),
    "size-0-batch": ((r(0, 2, 3, 8), r(0, 2, 3, 8), r(0, 2, 3, 8)), {}),
    # a query row with every key masked: PyTorch's SDPA returns zeros there, not NaN
    "fully-masked-row": (
        (
            r(1, 2, 3, 4),
            r(1, 2, 5, 4),
            r(1, 2, 5, 4),
            np.array([[True] * 5, [False] * 5, [True, False] * 2 + [True]]),
        ),
        {},
    ),
    "permuted-inputs": ((r(2, 4, 3, 8), r(2, 6, 3, 8), r(2, 6, 3, 8)), {"_permute": True}),
}


@pytest.mark.parametrize("name", list(SDPA_CASES))
def test_sdpa_matches_torch(name):
    args, kw = SDPA_CASES[name]
    kw = dict(kw)
    permute = kw.pop("_permute", False)

    def fn(m, q, k, v, *mask):
        is_torch = isinstance(q, torch.Tensor)
        if permute:  # (N, L, H, E) -> (N, H, L, E): non-contiguous inputs in PyTorch
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        f = TF.scaled_dot_product_attention if is_torch else F.scaled_dot_product_attention
        return f(q, k, v, *mask, **kw)

    out = run_both("scaled_dot_product_attention", fn, _EmberStateless(), _Stateless(), args)
    assert np.isfinite(out[0]).all()


def test_sdpa_gradients_float64():
    """Finite differences through masks, causal masking and fully masked rows."""
    q, k, v = r(1, 2, 3, 4), r(1, 2, 5, 4), r(1, 2, 5, 4)
    mask = np.array([[False] * 5, [True] * 5, [True, False] * 2 + [True]])
    fmask = r(3, 5)
    cases = [
        (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v)),
        (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m), (q, k, v, fmask)),
        (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v)),
    ]
    with jax.enable_x64(True):
        for fn, args in cases:
            args = tuple(a.astype(np.float64) for a in args)
            graph, _ = trace_function(fn, args, names=[f"a{i}" for i in range(len(args))])
            lowered = lower(graph)

            def f(*xs, lowered=lowered):
                (out,), _ = lowered.fn([], [], list(xs), None)
                return (out * jax.numpy.cos(jax.numpy.arange(out.size).reshape(out.shape))).sum()

            check_grads(f, args, order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_sdpa_dropout_p_one_zeroes_output():
    q = r(1, 2, 3, 4)

    class Net(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)

    np.testing.assert_array_equal(Net()(q), np.zeros_like(q))


@pytest.mark.parametrize(
    "fn, args, error, match",
    [
        (
            lambda q, m: F.scaled_dot_product_attention(q, q, q, m, is_causal=True),
            (r(1, 3, 4), np.ones((3, 3), bool)),
            ValueError,
            "attn_mask should not be set",
        ),
        (
            lambda q, k: F.scaled_dot_product_attention(q, k, k),
            (r(1, 3, 4), r(1, 3, 5)),
            ShapeError,
            r"same last dim \(E=4 vs 5\)",
        ),
        (
            lambda q, m: F.scaled_dot_product_attention(q, q, q, m),
            (r(1, 3, 4), np.ones((3, 3), np.int32)),
            DTypeError,
            "must be bool or floating point",
        ),
        (
            lambda q, m: F.scaled_dot_product_attention(q, q, q, m),
            (r(1, 3, 4), np.ones((2, 3), bool)),
            ShapeError,
            r"mask of shape \(2, 3\) does not broadcast",
        ),
        (
            lambda q, k: F.scaled_dot_product_attention(q, k, k, enable_gqa=True),
            (r(1, 3, 2, 4), r(1, 2, 2, 4)),
            ShapeError,
            "multiple of the key",
        ),
    ],
)
def test_sdpa_errors(fn, args, error, match):
    with pytest.raises(error, match=match):
        trace_function(fn, args, names=[f"a{i}" for i in range(len(args))])


# -- MultiheadAttention -----------------------------------------------------------------------


def _mha_pair(**kw):
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(**kw)
    with torch.no_grad():  # non-zero biases so their gradients and use are checked
        for name, p in t.named_parameters():
            if "bias" in name:
                p.normal_()
    e = nn.MultiheadAttention(**kw)
    assert list(e.state_dict()) == list(t.state_dict())
    for (name, a), b in zip(e.state_dict().items(), t.state_dict().values(), strict=True):
        assert a.shape == tuple(b.shape), name
    copy_weights(e, t)
    return e, t


def _self_attn(batch_first, **call):
    def fn(m, x, *masks):
        kw = dict(call)
        names = [n for n in ("key_padding_mask", "attn_mask") if kw.pop(n, False)]
        kw.update(zip(names, masks, strict=True))
        return m(x, x, x, **kw)

    return fn


MHA_CASES = {
    # name: (constructor kwargs, call kwargs, extra inputs after x)
    "plain": ({}, {}, []),
    "per-head-weights": ({}, {"average_attn_weights": False}, []),
    "kpm-bool": ({}, {"key_padding_mask": True}, ["kpm"]),
    "kpm-float": ({}, {"key_padding_mask": True}, ["kpm-float"]),
    "attn-mask-bool-2d": ({}, {"attn_mask": True}, ["bool2d"]),
    "attn-mask-float-3d": ({}, {"attn_mask": True}, ["float3d"]),
    "causal+kpm": (
        {},
        {"key_padding_mask": True, "attn_mask": True, "is_causal": True},
        ["kpm", "causal"],
    ),
    "no-weights+masks": (
        {},
        {"need_weights": False, "key_padding_mask": True, "attn_mask": True},
        ["kpm", "bool2d"],
    ),
    "no-weights-causal": (
        {},
        {"need_weights": False, "attn_mask": True, "is_causal": True},
        ["causal"],
    ),
    "no-bias": ({"bias": False}, {}, []),
    "bias-kv+zero-attn+kpm": (
        {"add_bias_kv": True, "add_zero_attn": True},
        {"key_padding_mask": True, "attn_mask": True},
        ["kpm", "bool2d"],
    ),
}
N, L, E, H = 3, 5, 8, 2


def _extra(kind: str, batch_first: bool):
    return {
        "kpm": padding_mask(N, L, [5, 3, 1]),
        "kpm-float": np.where(padding_mask(N, L, [5, 3, 1]), -np.inf, r(N, L)).astype(np.float32),
        "bool2d": np.triu(np.ones((L, L), bool), 2),
        "float3d": r(N * H, L, L),
        "causal": causal_float(L),
    }[kind]


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_self_attention(case, batch_first, training):
    ctor, call, extra = MHA_CASES[case]
    e, t = _mha_pair(embed_dim=E, num_heads=H, batch_first=batch_first, **ctor)
    set_mode(training, e, t)
    x = r(N, L, E) if batch_first else r(L, N, E)
    outs = run_both(
        "MultiheadAttention",
        _self_attn(batch_first, **call),
        e,
        t,
        [x] + [_extra(k, batch_first) for k in extra],
        diff=(0,),
    )
    assert len(outs) == (1 if call.get("need_weights") is False else 2)


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_cross_attention_kdim_vdim(batch_first, need_weights):
    e, t = _mha_pair(embed_dim=E, num_heads=H, kdim=6, vdim=3, batch_first=batch_first)
    assert "q_proj_weight" in e.state_dict() and "in_proj_weight" not in e.state_dict()
    s = 7
    q = r(N, L, E) if batch_first else r(L, N, E)
    k = r(N, s, 6) if batch_first else r(s, N, 6)
    v = r(N, s, 3) if batch_first else r(s, N, 3)
    kpm = padding_mask(N, s, [7, 4, 2])

    def fn(m, q, k, v, kpm):
        return m(q, k, v, key_padding_mask=kpm, need_weights=need_weights)

    run_both("MultiheadAttention", fn, e, t, [q, k, v, kpm], diff=(0, 1, 2))


def test_multihead_cross_attention_shared_kv():
    """key is value (encoder-decoder attention) with the packed in_proj_weight."""
    e, t = _mha_pair(embed_dim=E, num_heads=H, batch_first=True)
    run_both("MultiheadAttention", lambda m, q, mem: m(q, mem, mem), e, t, [r(N, 4, E), r(N, 6, E)])


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_unbatched(need_weights):
    e, t = _mha_pair(embed_dim=E, num_heads=H, batch_first=True)
    kpm = np.array([False, False, False, True, True])

    def fn(m, x, kpm):
        return m(
            x, x, x, key_padding_mask=kpm, need_weights=need_weights, average_attn_weights=False
        )

    run_both("MultiheadAttention", fn, e, t, [r(L, E), kpm], diff=(0,))


def test_functional_mha_static_kv_matches_torch():
    """F.multi_head_attention_forward with precomputed per-head keys and values."""
    e, t = _mha_pair(embed_dim=E, num_heads=H)
    s = 6
    static_k, static_v = r(N * H, s, E // H), r(N * H, s, E // H)

    def fn(m, q, sk, sv, kpm):
        f = TF if isinstance(q, torch.Tensor) else F
        return f.multi_head_attention_forward(
            q,
            q,
            q,
            E,
            H,
            m.in_proj_weight,
            m.in_proj_bias,
            None,
            None,
            False,
            0.0,
            m.out_proj.weight,
            m.out_proj.bias,
            key_padding_mask=kpm,
            static_k=sk,
            static_v=sv,
        )

    run_both(
        "MultiheadAttention",
        fn,
        e,
        t,
        [r(L, N, E), static_k, static_v, padding_mask(N, s, [6, 2, 4])],
    )


def test_multihead_fully_padded_sequence_matches_torch():
    """need_weights=False (SDPA): a fully padded sequence gives zeros and finite gradients;
    need_weights=True gives NaN there, as in PyTorch."""
    e, t = _mha_pair(embed_dim=E, num_heads=H, batch_first=True)
    kpm = padding_mask(N, L, [5, 0, 2])
    x = r(N, L, E)
    out = run_both(
        "MultiheadAttention",
        lambda m, x, kpm: m(x, x, x, key_padding_mask=kpm, need_weights=False),
        e,
        t,
        [x, kpm],
    )
    np.testing.assert_array_equal(out[0][1], np.broadcast_to(e.out_proj.bias.data, (L, E)))
    out_w = run_both(
        "MultiheadAttention",
        lambda m, x, kpm: m(x, x, x, key_padding_mask=kpm),
        e,
        t,
        [x, kpm],
        grads=False,
    )
    assert np.isnan(out_w[1][1]).all() and np.isfinite(out_w[1][0]).all()


def test_multihead_default_init():
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    sd = m.state_dict()
    bound = math.sqrt(6.0 / (16 + 48))  # xavier_uniform on (3E, E)
    w = sd["in_proj_weight"]
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not sd["in_proj_bias"].any() and not sd["out_proj.bias"].any()
    assert np.abs(sd["out_proj.weight"]).max() <= 1 / math.sqrt(16)
    assert sd["bias_k"].shape == (1, 1, 16) and sd["bias_k"].std() > 0


@pytest.mark.parametrize(
    "call, args, error, match",
    [
        (
            lambda m, x, kpm: m(x, x, x, key_padding_mask=kpm),
            (r(2, 5, 8), np.zeros((2, 4), bool)),
            ShapeError,
            r"key_padding_mask of shape \(2, 5\)",
        ),
        (
            lambda m, x, am: m(x, x, x, attn_mask=am),
            (r(2, 5, 8), np.zeros((5, 4), bool)),
            ShapeError,
            r"2-D attn_mask is \(5, 4\), but should be \(5, 5\)",
        ),
        (lambda m, x: m(x, x, x, is_causal=True), (r(2, 5, 8),), ValueError, "Need attn_mask"),
        (lambda m, x: m(x, x, x), (r(2, 5, 6),), ShapeError, "expecting embedding dimension of 8"),
    ],
)
def test_multihead_errors(call, args, error, match):
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(error, match=match):
        trace_function(
            lambda *ts: call(m, *ts),
            args,
            modules=[("", m)],
            names=[f"a{i}" for i in range(len(args))],
        )
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(8, 3)


def test_report_worst_errors():
    # WORST holds what ran in this process (pytest-xdist splits files); print and bound it
    if not WORST:
        pytest.skip("no parity case ran in this worker")
    print("\n" + report())
    assert max(WORST.values()) < 1e-4, WORST
