"""The attention fusion pass and its lowerings: each written form of attention becomes one
`dot_product_attention` node whose unfused rule and GPU rule (`jax.nn.dot_product_attention`,
run here through XLA on CPU) give the values and gradients of the original graph.

Referee: the unfused graph as traced (its ops are checked against PyTorch elsewhere),
lowered by the default rules, in float64 and float32."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ember as em
import ember.nn.functional as F
from ember.compiler import eliminate_dead_code, lower
from ember.compiler.passes.choose_lowering_rules import lowering_rules_for
from ember.compiler.passes.fuse_attention import fuse_attention, fuse_attention_for
from ember.frontend.trace import trace_function

B, H, L, E = 2, 3, 5, 4
rng = np.random.default_rng(0)


def _qkv():
    return [rng.normal(size=(B, H, L, E)).astype(np.float32) for _ in range(3)]


def nanogpt(q, k, v, tril):
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    att = att.masked_fill(tril[:, :, :L, :L] == 0, float("-inf"))
    return F.softmax(att, dim=-1) @ v


def plain(q, k, v):
    return em.softmax(q @ k.transpose(-2, -1), -1) @ v


def additive(q, k, v, bias):
    return em.softmax((q @ k.transpose(-1, -2)) * 0.5 + bias, -1) @ v


def sdpa_causal(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def sdpa_unmasked(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, scale=0.3)


TRIL = np.tril(np.ones((L, L), np.float32)).reshape(1, 1, L, L)
BIAS = rng.normal(size=(1, H, L, L)).astype(np.float32)
CASES = {
    "nanogpt-masked-fill": (nanogpt, [TRIL], "disallowed", False),
    "plain": (plain, [], "none", False),
    "additive-mask": (additive, [BIAS], "additive", False),
    "sdpa-causal": (sdpa_causal, [], "allowed", True),
    "sdpa-scale": (sdpa_unmasked, [], "none", True),
}


def _trace(fn, args):
    graph, _ = trace_function(fn, args, names=[f"a{i}" for i in range(len(args))])
    return graph


def _values_and_grads(graph, args, dtype):
    run = lower(graph).run
    args = [jnp.asarray(a, dtype if a.dtype.kind == "f" else a.dtype) for a in args]

    def loss(q, k, v):
        out = run(q, k, v, *args[3:])[0]
        return jnp.sum(out * jnp.cos(jnp.arange(out.size, dtype=dtype).reshape(out.shape)))

    value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2))(*args[:3])
    return run(*args)[0], value, grads


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rule", ["unfused", "gpu-fused"])
def test_each_form_fuses_and_keeps_values_and_gradients(case, rule):
    fn, extra, kind, scale_query = CASES[case]
    args = [*_qkv(), *extra]
    graph = _trace(fn, args)
    fused = eliminate_dead_code(fuse_attention(graph))
    nodes = [n for n in fused.nodes if n.op == "dot_product_attention"]
    assert len(nodes) == 1, fused
    assert nodes[0].attrs["mask_kind"] == kind and nodes[0].attrs["scale_query"] == scale_query
    assert not any(n.op == "softmax" for n in fused.nodes)
    if rule == "gpu-fused":
        fused = lowering_rules_for("gpu")(fused)
        assert 'rule="fused_attention"' in str(fused)
    # jax.nn.dot_product_attention takes its softmax in float32 even for float64 operands
    tol64 = 1e-10 if rule == "unfused" else 2e-6
    with jax.enable_x64(True):
        want = _values_and_grads(graph, args, jnp.float64)
        got = _values_and_grads(fused, args, jnp.float64)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=tol64, atol=tol64)
    want = _values_and_grads(graph, args, jnp.float32)
    got = _values_and_grads(fused, args, jnp.float32)
    tol = 0 if rule == "unfused" else 2e-6  # the unfused rule repeats the source's ops
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_attention_weights_used_elsewhere_stay_unfused():
    def returns_weights(q, k, v):
        w = em.softmax(q @ k.transpose(-2, -1), -1)
        return w @ v, w

    graph = _trace(returns_weights, _qkv())
    assert fuse_attention(graph).nodes == graph.nodes or not any(
        n.op == "dot_product_attention" for n in fuse_attention(graph).nodes
    )


def test_the_pipeline_fuses_on_gpu_only():
    graph = _trace(plain, _qkv())
    assert fuse_attention_for("cpu")(graph) is graph
    assert any(n.op == "dot_product_attention" for n in fuse_attention_for("gpu")(graph).nodes)


def test_fusion_reaches_into_scan_over_layers_bodies():
    from ember.compiler import scan_repeated_blocks

    class Attn(em.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = em.nn.Linear(E, E)

        def forward(self, x):
            return x + plain(x, self.proj(x), x)

    net = em.nn.Sequential(*[Attn() for _ in range(3)])
    graph, _ = trace_function(net, [em.TensorSpec((B, H, L, E))], modules=[("", net)])
    text = str(eliminate_dead_code(fuse_attention(scan_repeated_blocks(graph))))
    assert text.count(" = scan(") == 1 and text.count(" = dot_product_attention(") == 1
