"""Transformer encoder/decoder layers, stacks and nn.Transformer vs PyTorch.

Same state_dict in both; outputs and gradients compared in eval mode and in
train mode with dropout=0, for norm_first and batch_first both ways, with
padding and causal masks. PyTorch's fast path is disabled (it returns zeros at
padded positions) except in the test that checks it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attention_parity import WORST, copy_weights, report, run_both, set_mode

from ember import nn
from ember.compiler import run_passes
from ember.errors import ShapeError
from ember.frontend.trace import trace_function

rng = np.random.default_rng(0)
D, NHEAD, FF = 8, 2, 16


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(autouse=True)
def _no_torch_fastpath():
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(old)


def pair(name: str, *args, torch_kwargs=None, ember_kwargs=None, **kwargs):
    """The same layer in torch and ember, torch's (randomized) weights copied into ember."""
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(*args, **kwargs, **(torch_kwargs or {}))
    with torch.no_grad():  # non-zero biases and non-trivial norms
        for p in t.parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.5)
    e = getattr(nn, name)(*args, **kwargs, **(ember_kwargs or {}))
    assert list(e.state_dict()) == list(t.state_dict())
    copy_weights(e, t)
    return e, t


def padding(n: int, s: int, lengths) -> np.ndarray:
    return np.arange(s)[None, :] >= np.asarray(lengths)[:, None]


def causal(sz: int) -> np.ndarray:
    return np.triu(np.full((sz, sz), -np.inf, np.float32), 1)


def seq(batch_first: bool, n: int, s: int) -> np.ndarray:
    return r(n, s, D) if batch_first else r(s, n, D)


MODES = pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
BATCH_FIRST = pytest.mark.parametrize(
    "batch_first", [True, False], ids=["batch_first", "seq_first"]
)
NORM_FIRST = pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])


@MODES
@BATCH_FIRST
@NORM_FIRST
def test_encoder_layer(norm_first, batch_first, training):
    e, t = pair(
        "TransformerEncoderLayer", D, NHEAD, FF, 0.0, norm_first=norm_first, batch_first=batch_first
    )
    set_mode(training, e, t)

    def fn(m, x, mask, kpm):
        return m(x, src_mask=mask, src_key_padding_mask=kpm, is_causal=True)

    run_both(
        "TransformerEncoderLayer",
        fn,
        e,
        t,
        [seq(batch_first, 3, 5), causal(5), padding(3, 5, [5, 3, 2])],
        diff=(0,),
    )


@pytest.mark.parametrize("variant", ["gelu", "module-activation", "no-bias", "bool-mask-only"])
def test_encoder_layer_variants(variant):
    kwargs = {"gelu": dict(activation="gelu"), "no-bias": dict(bias=False)}.get(variant, {})
    ek, tk = (
        ({"activation": nn.GELU(approximate="tanh")}, {"activation": torch.nn.GELU("tanh")})
        if variant == "module-activation"
        else ({}, {})
    )
    e, t = pair(
        "TransformerEncoderLayer",
        D,
        NHEAD,
        FF,
        0.0,
        batch_first=True,
        ember_kwargs=ek,
        torch_kwargs=tk,
        **kwargs,
    )
    set_mode(True, e, t)
    mask = np.triu(np.ones((5, 5), bool), 3)
    run_both(
        "TransformerEncoderLayer",
        lambda m, x, mask: m(x, src_mask=mask),
        e,
        t,
        [r(2, 5, D), mask],
        diff=(0,),
    )


@MODES
def test_encoder_stack_with_norm(training):
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D, NHEAD, FF, 0.0, batch_first=True),
        num_layers=2,
        norm=torch.nn.LayerNorm(D),
    )
    e = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, NHEAD, FF, 0.0, batch_first=True),
        num_layers=2,
        norm=nn.LayerNorm(D),
    )
    assert list(e.state_dict()) == list(t.state_dict())
    copy_weights(e, t)
    set_mode(training, e, t)
    run_both(
        "TransformerEncoder",
        lambda m, x, kpm: m(x, src_key_padding_mask=kpm),
        e,
        t,
        [r(3, 6, D), padding(3, 6, [6, 4, 1])],
        diff=(0,),
    )


@MODES
@BATCH_FIRST
@NORM_FIRST
def test_decoder_layer(norm_first, batch_first, training):
    e, t = pair(
        "TransformerDecoderLayer", D, NHEAD, FF, 0.0, norm_first=norm_first, batch_first=batch_first
    )
    set_mode(training, e, t)

    def fn(m, tgt, mem, tgt_mask, tgt_kpm, mem_kpm):
        return m(
            tgt,
            mem,
            tgt_mask=tgt_mask,
            tgt_key_padding_mask=tgt_kpm,
            memory_key_padding_mask=mem_kpm,
            tgt_is_causal=True,
        )

    run_both(
        "TransformerDecoderLayer",
        fn,
        e,
        t,
        [
            seq(batch_first, 3, 4),
            seq(batch_first, 3, 6),
            causal(4),
            padding(3, 4, [4, 4, 2]),
            padding(3, 6, [6, 2, 5]),
        ],
        diff=(0, 1),
    )


@MODES
@BATCH_FIRST
def test_transformer(batch_first, training):
    e, t = pair("Transformer", D, NHEAD, 2, 2, FF, 0.0, batch_first=batch_first, norm_first=False)

    def fn(m, src, tgt, tgt_mask, src_kpm, tgt_kpm):
        return m(
            src,
            tgt,
            tgt_mask=tgt_mask,
            src_key_padding_mask=src_kpm,
            tgt_key_padding_mask=tgt_kpm,
            memory_key_padding_mask=src_kpm,
        )

    set_mode(training, e, t)
    run_both(
        "Transformer",
        fn,
        e,
        t,
        [
            seq(batch_first, 2, 6),
            seq(batch_first, 2, 4),
            causal(4),
            padding(2, 6, [6, 3]),
            padding(2, 4, [4, 2]),
        ],
        diff=(0, 1),
    )


def test_transformer_decoder_stack_memory_mask():
    torch.manual_seed(0)
    t = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(D, NHEAD, FF, 0.0, norm_first=True), 2
    )
    e = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, NHEAD, FF, 0.0, norm_first=True), 2)
    copy_weights(e, t)
    mem_mask = np.triu(np.ones((4, 5), bool), 2)
    run_both(
        "TransformerDecoder",
        lambda m, tgt, mem, mm: m(tgt, mem, memory_mask=mm),
        e,
        t,
        [r(4, 2, D), r(5, 2, D), mem_mask],
        diff=(0, 1),
    )


def test_generate_square_subsequent_mask():
    want = torch.nn.Transformer.generate_square_subsequent_mask(6).numpy()
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(6), want)

    class Causal(nn.Module):  # inside forward the mask is built from iota: no literal limit
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(D, NHEAD, FF, 0.0, batch_first=True)

        def forward(self, x):
            mask = nn.Transformer.generate_square_subsequent_mask(x.size(1))
            return self.layer(x, src_mask=mask, is_causal=True)

    net = Causal().eval()
    x = r(1, 80, D)  # 80 * 80 > 4096: would not fit as an IR literal
    t = torch.nn.TransformerEncoderLayer(D, NHEAD, FF, 0.0, batch_first=True).eval()
    copy_weights(net.layer, t)
    want = (
        t(
            torch.from_numpy(x),
            src_mask=torch.nn.Transformer.generate_square_subsequent_mask(80),
            is_causal=True,
        )
        .detach()
        .numpy()
    )
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-5)


def test_torch_fast_path_agrees_on_unpadded_positions():
    """PyTorch's inference fast path (nested tensors) zeroes padded outputs; the rest agree."""
    torch.backends.mha.set_fastpath_enabled(True)
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D, NHEAD, FF, batch_first=True), num_layers=2
    ).eval()
    e = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, NHEAD, FF, batch_first=True), 2).eval()
    copy_weights(e, t)
    x, kpm = r(3, 6, D), padding(3, 6, [6, 4, 1])
    with torch.no_grad():
        want = t(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm)).numpy()

    class Wrap(nn.Module):
        def __init__(self, enc):
            super().__init__()
            self.enc = enc

        def forward(self, x, kpm):
            return self.enc(x, src_key_padding_mask=kpm)

    got = Wrap(e)(x, kpm)
    np.testing.assert_allclose(got[~kpm], want[~kpm], rtol=1e-5, atol=1e-5)


def test_dropout_is_active_in_train_mode_only():
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.5, batch_first=True)

    def graph(training):
        layer.train(training)
        g, _ = trace_function(lambda x: layer(x), [r(2, 5, D)], modules=[("", layer)], names=["x"])
        return run_passes(g)

    # attention weights, feedforward hidden, and the two residual branches
    assert sum(n.op == "dropout" for n in graph(True).nodes) == 4
    assert not any(n.op == "dropout" for n in graph(False).nodes)
    x = r(2, 5, D)
    assert not np.allclose(layer.train()(x), layer.eval()(x))


def test_transformer_init_follows_torch():
    """xavier_uniform on every matrix (different per layer); cloned layers share 1-D params."""
    m = nn.Transformer(
        d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=32
    )
    sd = m.state_dict()
    assert list(sd) == list(torch.nn.Transformer(16, 4, 2, 1, 32).state_dict())
    w0, w1 = sd["encoder.layers.0.linear1.weight"], sd["encoder.layers.1.linear1.weight"]
    assert not np.allclose(w0, w1) and np.abs(w0).max() <= np.sqrt(6 / (16 + 32))
    np.testing.assert_array_equal(
        sd["encoder.layers.0.linear1.bias"], sd["encoder.layers.1.linear1.bias"]
    )
    assert not sd["decoder.layers.0.multihead_attn.in_proj_bias"].any()


def test_transformer_shape_errors():
    m = nn.Transformer(D, NHEAD, 1, 1, FF, batch_first=True)
    for src, tgt, match in [
        (r(2, 5, D), r(3, 4, D), "batch number"),
        (r(2, 5, D), r(2, 4, D + 1), "d_model=8"),
    ]:
        with pytest.raises(ShapeError, match=match):
            trace_function(lambda s, t: m(s, t), [src, tgt], modules=[("", m)], names=["s", "t"])
    with pytest.raises(ValueError, match="relu/gelu"):
        nn.TransformerEncoderLayer(D, NHEAD, activation="tanh")


def test_report_worst_errors():
    # WORST holds what ran in this process (pytest-xdist splits files); print and bound it
    if not WORST:
        pytest.skip("no parity case ran in this worker")
    print("\n" + report())
    assert max(WORST.values()) < 1e-4, WORST
