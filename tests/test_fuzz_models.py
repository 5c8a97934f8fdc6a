"""Fuzzed models: random small stacks of ember layers and tensor ops either run or fail
with ember's own error.

Each model is a `Plan`: an input spec (shape, dtype) and one to six steps, each an ember
layer built from random constructor arguments (Linear, Conv1d/2d, BatchNorm1d/2d,
LayerNorm, activations, Dropout, Max/AvgPool2d, Flatten, Embedding, LSTM/GRU,
MultiheadAttention) or a tensor op of the custom forward (reshape, transpose, permute,
cat and add with an earlier result, sum, mean, softmax, unsqueeze, casts, and now and then
an `if` on a traced value). The generator tracks the shape it expects and mostly picks
arguments that fit it; with probability P_BAD a choice ignores it, so many models are
wrong in shape, dtype or argument.
Every model must end in one of three ways:

* ran: it traces, every node's inferred type equals `jax.eval_shape` of its lowering,
  and the jitted forward runs after the compiler passes;
* ember error: tracing raised an `EmberError` whose message says where, naming the
  failing layer's module path (`layers.<k>`) or the top-level module for ops in forward;
* constructor reject: a layer constructor raised ValueError on its arguments, as
  PyTorch's constructors do.

Anything else (a raw IndexError/TypeError/ZeroDivisionError, an XLA error, a type that
differs from eval_shape) fails the test and prints the plan that reproduces it. The
default test fuzzes 100 models, the slow one 2,000; `EMBER_FUZZ_SCALE=10` multiplies both.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pytest
from opinfo import check_types_against_jax, run_graph

import ember as em
from ember import nn
from ember.compiler import run_passes
from ember.compiler.passes.pipeline import DEFAULT_PASSES, EVAL_PASSES
from ember.errors import EmberError

SCALE = int(os.environ.get("EMBER_FUZZ_SCALE", "1"))
SEED = 14  # the issue number; model i draws from default_rng([SEED, i])
P_BAD = 0.1  # chance that one choice ignores the expected shape (makes most errors)
FLOATS = ("float32", "float16", "bfloat16", "float64")
# Compiling dominates the run time; XLA's backend optimizations do not change what is checked
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@dataclass
class Plan:
    index: int
    shape: tuple[int, ...]
    dtype: str
    steps: list  # ("layer", class name, kwargs, call) or ("op", name, args)
    train: bool

    def __str__(self) -> str:
        steps = "\n".join(f"    {s}" for s in self.steps)
        mode = "train" if self.train else "eval"
        return f"model {self.index} ({mode}) on {self.dtype}{list(self.shape)}:\n{steps}"


class Draw:
    """Random choices for one plan, from a numpy Generator (so runs are deterministic)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def bad(self) -> bool:
        return self.coin(P_BAD)

    def fit(self, good, lo: int, hi: int) -> int:
        """`good` (a value that fits the expected shape), or any value in [lo, hi]."""
        return self.int(lo, hi) if good is None or self.bad() else good

    def dim(self, ndim: int) -> int:
        """A dim index for a tensor of rank `ndim`, now and then out of range."""
        return (
            self.int(-ndim - 2, ndim + 1) if self.bad() or ndim == 0 else self.int(-ndim, ndim - 1)
        )

    def layer_dtype(self) -> dict:
        return {"dtype": self.pick(FLOATS[1:])} if self.coin(0.05) else {}


# -- generators: (draw, expected shape or None, dtype) -> (step, expected output shape) -------
# The expected shape (None: unknown, or the step should fail) only steers later choices; what
# happens is decided by ember's own inference.


def _layer(name: str, kwargs: dict, call: str = "plain") -> tuple:
    return ("layer", name, kwargs, call)


def _window_out(size: int, k: int, s: int, p: int, dil: int = 1, ceil: bool = False) -> int:
    out = (size + 2 * p - dil * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    return out - 1 if ceil and (out - 1) * s >= size + p else out


def _spatial(shape, d: int, outs):
    if shape is None or any(o < 1 for o in outs):
        return None
    return shape[: len(shape) - d] + tuple(outs)


def gen_linear(g: Draw, shape, dtype):
    fin = g.fit(shape[-1] if shape else None, 1, 8)
    kw = dict(in_features=fin, out_features=g.int(1, 8), bias=g.coin(0.8), **g.layer_dtype())
    ok = bool(shape) and shape[-1] == fin
    return _layer("Linear", kw), shape[:-1] + (kw["out_features"],) if ok else None


def gen_conv(g: Draw, shape, dtype, d: int):
    ok = shape is not None and len(shape) in (d + 1, d + 2)
    cin = g.fit(shape[-d - 1] if ok else None, 1, 6)
    groups = g.pick((1, 1, 1, 2, cin)) if not g.bad() else g.int(0, 3)
    cout = max(groups, 1) * g.int(1, 3) if not g.bad() else g.int(1, 6)
    k, s, dil = g.int(1, 3), g.int(1, 2), g.pick((1, 1, 2))
    padding = g.pick((0, 0, 1, 2, "same", "valid"))
    mode = g.pick(("zeros",) * 6 + ("reflect", "replicate", "circular"))
    kw = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=s, padding=padding)
    kw.update(dilation=dil, groups=groups, bias=g.coin(0.8), padding_mode=mode, **g.layer_dtype())
    p = {"same": None, "valid": 0}.get(padding, padding)
    spatial = shape[-d:] if ok else ()
    outs = [n if p is None else _window_out(n, k, s, p, dil) for n in spatial]
    fits = ok and cin == shape[-d - 1]
    out = _spatial(shape[: -d - 1] + (cout,) + spatial, d, outs) if fits else None
    return _layer(f"Conv{d}d", kw), out


def gen_batchnorm(g: Draw, shape, dtype, d: int):
    ok = shape is not None and len(shape) in ((2, 3) if d == 1 else (4,))
    c = g.fit(shape[1] if ok else None, 1, 6)
    kw = dict(num_features=c, eps=g.pick((1e-5, 1e-3)), momentum=g.pick((0.1, 0.5, None)))
    kw.update(affine=g.coin(0.8), track_running_stats=g.coin(0.8), **g.layer_dtype())
    return _layer(f"BatchNorm{d}d", kw), shape if ok and shape[1] == c else None


def gen_layernorm(g: Draw, shape, dtype):
    n = g.int(1, 2)
    good = tuple(shape[-n:]) if shape and len(shape) >= n else None
    norm = tuple(g.int(1, 6) for _ in range(n)) if good is None or g.bad() else good
    kw = dict(normalized_shape=norm, elementwise_affine=g.coin(0.8), bias=g.coin(0.8))
    return _layer("LayerNorm", {**kw, **g.layer_dtype()}), shape if norm == good else None


def gen_activation(g: Draw, shape, dtype):
    name, kw = g.pick((("ReLU", {}), ("Tanh", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"})))
    return _layer(name, kw), shape


def gen_dropout(g: Draw, shape, dtype):
    p = g.pick((0.0, 0.1, 0.5, 1.0)) if not g.bad() else g.pick((-0.1, 1.5))
    return _layer("Dropout", {"p": p}), shape


def gen_pool(g: Draw, shape, dtype):
    ok = shape is not None and len(shape) in (3, 4)
    k = g.int(1, 3) if g.coin(0.7) else (g.int(1, 3), g.int(1, 3))
    ks = k if isinstance(k, tuple) else (k, k)
    s = g.pick((None, 1, 2))
    pad = g.int(0, min(ks) // 2) if not g.bad() else g.int(0, 3)
    kw = dict(kernel_size=k, stride=s, padding=pad, ceil_mode=g.coin(0.3))
    if g.coin():
        kw["dilation"] = dil = g.pick((1, 1, 2))
        name = "MaxPool2d"
    else:
        kw.update(count_include_pad=g.coin(), divisor_override=g.pick((None, None, 1, 3)))
        dil, name = 1, "AvgPool2d"
    steps = ks if s is None else (s, s)
    windows = zip(shape[-2:] if ok else (), ks, steps, strict=False)
    outs = [_window_out(n, kk, st, pad, dil, kw["ceil_mode"]) for n, kk, st in windows]
    return _layer(name, kw), _spatial(shape, 2, outs) if ok and pad <= min(ks) // 2 else None


def gen_flatten(g: Draw, shape, dtype):
    n = len(shape) if shape is not None else 3
    start, end = g.dim(n), g.dim(n)
    out = None
    if shape is not None and -n <= start < n and -n <= end < n and start % n <= end % n:
        a, b = start % n, end % n
        out = shape[:a] + (int(np.prod(shape[a : b + 1])),) + shape[b + 1 :]
    return _layer("Flatten", dict(start_dim=start, end_dim=end)), out


def gen_embedding(g: Draw, shape, dtype):
    num, dim = g.int(1, 10), g.int(1, 8)
    kw = dict(num_embeddings=num, embedding_dim=dim, **g.layer_dtype())
    if g.coin(0.3):
        kw["padding_idx"] = g.int(-num, num - 1) if not g.bad() else num + 1
    ok = shape is not None and dtype.startswith(("int", "uint"))
    return _layer("Embedding", kw), shape + (dim,) if ok else None


def gen_rnn(g: Draw, shape, dtype):
    name = g.pick(("LSTM", "GRU"))
    ok = shape is not None and len(shape) in (2, 3)
    fin = g.fit(shape[-1] if ok else None, 1, 6)
    layers = g.int(1, 2)
    kw = dict(input_size=fin, hidden_size=g.int(1, 6), num_layers=layers)
    kw.update(batch_first=g.coin(), bidirectional=g.coin(0.3), bias=g.coin(0.8))
    if layers > 1 and g.coin(0.3):
        kw["dropout"] = 0.2
    if name == "LSTM" and g.coin(0.2):  # proj_size must be below hidden_size
        kw["proj_size"] = g.int(1, kw["hidden_size"]) if not g.bad() else kw["hidden_size"] + 1
    width = (kw.get("proj_size") or kw["hidden_size"]) * (2 if kw["bidirectional"] else 1)
    out = shape[:-1] + (width,) if ok and fin == shape[-1] else None
    return _layer(name, {**kw, **g.layer_dtype()}, "first"), out


def gen_attention(g: Draw, shape, dtype):
    ok = shape is not None and len(shape) in (2, 3) and shape[-1] > 0
    e = g.fit(shape[-1] if ok else None, 1, 8)
    heads = g.pick([h for h in range(1, e + 1) if e % h == 0]) if not g.bad() else g.int(1, 4)
    kw = dict(embed_dim=e, num_heads=heads, batch_first=g.coin(), bias=g.coin(0.8))
    kw.update(dropout=g.pick((0.0, 0.0, 0.1)), add_bias_kv=g.coin(0.2), add_zero_attn=g.coin(0.2))
    call = g.pick(("attn", "attn_no_weights"))
    out = shape if ok and e == shape[-1] else None
    return _layer("MultiheadAttention", {**kw, **g.layer_dtype()}, call), out


# reshape often: it is how a plan reaches the ranks that conv, pooling and RNNs take
OPS = ("reshape", "reshape", "transpose", "permute", "cat", "add", "sum", "mean", "softmax")
OPS += ("unsqueeze", "to", "to", "branch")


def gen_op(g: Draw, shape, dtype):
    """A tensor op of the custom forward; cat and add take an earlier result (0: the input)."""
    n = len(shape) if shape is not None else 2
    name = g.pick(OPS)
    if name == "reshape":
        return _reshape(g, shape)
    if name == "transpose":
        a, b = g.dim(n), g.dim(n)
        out = None
        if shape is not None and max(a, b) < n and min(a, b) >= -n:
            s = list(shape)
            s[a], s[b] = s[b], s[a]
            out = tuple(s)
        return ("op", name, (a, b)), out
    if name == "permute":
        perm = tuple(int(p) for p in g.rng.permutation(n + (g.int(-1, 1) if g.bad() else 0)))
        ok = shape is not None and len(perm) == n
        return ("op", name, perm), tuple(shape[p] for p in perm) if ok else None
    if name in ("cat", "add"):  # the previous result or the input: mostly the same shape
        return ("op", name, (g.pick((-1, -1, 0)), g.dim(n))), None if name == "cat" else shape
    if name in ("sum", "mean"):
        dim, keep = (g.dim(n) if g.coin(0.8) else None), g.coin(0.3)
        out = None
        if shape is not None and dim is not None and -n <= dim < n:
            out = shape if keep else shape[: dim % n] + shape[dim % n + 1 :]
        return ("op", name, (dim, keep)), out if dim is not None else ()
    if name == "softmax":
        return ("op", name, (g.dim(n),)), shape
    if name == "unsqueeze":
        d = g.int(-n - 1, n) if not g.bad() else g.int(n + 1, n + 2)
        if shape is None or d > n:
            return ("op", name, (d,)), None
        return ("op", name, (d,)), shape[: d % (n + 1)] + (1,) + shape[d % (n + 1) :]
    if name == "branch":  # Python control flow on a traced value: ember's TraceError
        return ("op", name, ()), None
    return ("op", "to", (g.pick(("float32", "float16", "int32", "bool")),)), shape


def _factors(g: Draw, numel: int) -> tuple[int, ...]:
    dims = []
    for _ in range(g.int(1, 3)):
        divisors = [d for d in range(1, numel + 1) if numel % d == 0]
        dims.append(g.pick(divisors) if divisors else 0)
        numel = numel // dims[-1] if dims[-1] else 0
    return tuple(dims) + (numel,)


def _reshape(g: Draw, shape):
    if shape is None or g.bad():
        new = tuple(g.pick((-1, 0, 1, 2, 3, 4, 6)) for _ in range(g.int(1, 4)))
        return ("op", "reshape", new), None
    new = _factors(g, int(np.prod(shape)))
    out = new
    if g.coin(0.4) and 0 not in new:
        i = g.int(0, len(new) - 1)
        new = new[:i] + (-1,) + new[i + 1 :]
    return ("op", "reshape", new), out


LAYERS = {
    "linear": (gen_linear, lambda r: r >= 1),
    "conv1d": (lambda g, s, t: gen_conv(g, s, t, 1), lambda r: r in (2, 3)),
    "conv2d": (lambda g, s, t: gen_conv(g, s, t, 2), lambda r: r in (3, 4)),
    "bn1d": (lambda g, s, t: gen_batchnorm(g, s, t, 1), lambda r: r in (2, 3)),
    "bn2d": (lambda g, s, t: gen_batchnorm(g, s, t, 2), lambda r: r == 4),
    "layernorm": (gen_layernorm, lambda r: r >= 1),
    "activation": (gen_activation, lambda r: True),
    "dropout": (gen_dropout, lambda r: True),
    "pool": (gen_pool, lambda r: r in (3, 4)),
    "flatten": (gen_flatten, lambda r: r >= 2),
    "rnn": (gen_rnn, lambda r: r in (2, 3)),
    "attention": (gen_attention, lambda r: r in (2, 3)),
    "op": (gen_op, lambda r: True),
}


def make_plan(index: int) -> Plan:
    g = Draw(np.random.default_rng([SEED, index]))
    rank = g.int(1, 4)
    shape = tuple(g.int(1, 5) if not g.coin(0.03) else 0 for _ in range(rank))
    dtype = "float32"
    if g.coin(0.15):
        dtype = g.pick(("int32", "int64", "bool", "float16", "bfloat16", "float64"))
    steps, believed, believed_dtype = [], shape, dtype
    if dtype.startswith("int") and g.coin(0.8):  # token ids: most such plans start embedding
        step, believed = gen_embedding(g, shape, dtype)
        steps.append(step)
        believed_dtype = "float32"
    while len(steps) < g.int(1, 6):
        rank = len(believed) if believed is not None else -1
        fits = [k for k, (_, ok) in LAYERS.items() if ok(rank)]
        kind = g.pick(list(LAYERS) if g.bad() or not fits else fits + ["op"])
        step, believed = LAYERS[kind][0](g, believed, believed_dtype)
        steps.append(step)
    return Plan(index, shape, dtype, steps, train=g.coin(0.7))


# -- the model and one fuzz case --------------------------------------------------------------


class FuzzNet(nn.Module):
    """Runs a plan's steps; `at` names the module path of the step being traced."""

    def __init__(self, plan: Plan):
        super().__init__()
        self.steps = plan.steps
        self.layers = nn.ModuleList()
        for step in plan.steps:
            if step[0] == "layer":
                self.layers.append(getattr(nn, step[1])(**step[2]))
        self.at = ""

    def forward(self, x):
        results, k = [x], 0
        for step in self.steps:
            if step[0] == "layer":
                self.at, layer, call = f"layers.{k}", self.layers[k], step[3]
                k += 1
                if call == "plain":
                    x = layer(x)
                elif call == "first":
                    x = layer(x)[0]
                else:
                    x = layer(x, x, x, need_weights=call == "attn")[0]
            else:
                self.at = ""
                x = apply_op(step[1], step[2], x, results)
            results.append(x)
        return x


def apply_op(name: str, args: tuple, x, results):
    if name == "reshape":
        return x.reshape(args)
    if name == "transpose":
        return x.transpose(*args)
    if name == "permute":
        return x.permute(*args)
    if name == "cat":
        return em.cat([x, results[args[0]]], dim=args[1])
    if name == "add":
        return x + results[args[0]]
    if name == "sum":
        return x.sum() if args[0] is None else x.sum(args[0], keepdim=args[1])
    if name == "mean":
        return x.mean() if args[0] is None else x.mean(args[0], keepdim=args[1])
    if name == "softmax":
        return em.softmax(x, dim=args[0])
    if name == "unsqueeze":
        return x.unsqueeze(args[0])
    if name == "branch":
        return x * 2 if x.sum() > 0 else x
    return x.to(getattr(em, args[0].replace("bool", "bool_")))


def example_input(t, rng: np.random.Generator):
    """Concrete data of IR type `t`: small ints (valid embedding rows), normal floats."""
    if t.dtype == "bool":
        return rng.random(t.shape) < 0.5
    if t.dtype.startswith(("int", "uint")):
        return rng.integers(0, 2, t.shape).astype(t.dtype)
    return np.asarray(jnp.asarray(rng.standard_normal(t.shape), dtype=t.dtype))


def fuzz_one(plan: Plan) -> str:
    """The outcome of one plan; raises (AssertionError or the raw error) on a bug."""
    em.manual_seed(plan.index)
    try:
        net = FuzzNet(plan)
    except ValueError as e:  # the constructor rejected its arguments (PyTorch's behaviour)
        return f"constructor {type(e).__name__}"
    net.train(plan.train)
    try:
        graph = em.trace(net, em.TensorSpec(plan.shape, plan.dtype))
    except EmberError as e:
        where = f"module '{net.at}" if net.at else "the top-level module"
        assert "where: " in str(e) and where in str(e), f"message does not name {where!r}: {e}"
        return f"ember {type(e).__name__}"
    check_types_against_jax(graph)
    graph_out = graph.outputs[0].type
    compiled = run_passes(graph, DEFAULT_PASSES if plan.train else EVAL_PASSES)
    named = {**dict(net.named_parameters()), **dict(net.named_buffers())}
    state = {kind: [] for kind in ("param", "buffer")}
    for gi in compiled.inputs:
        if gi.kind in state:
            state[gi.kind].append(np.asarray(named[gi.name].data))
    rng = np.random.default_rng(plan.index)
    data = [example_input(gi.value.type, rng) for gi in compiled.inputs if gi.kind == "data"]
    (out,) = run_graph(
        compiled,
        data,
        params=state["param"],
        buffers=state["buffer"],
        compiler_options=FAST_COMPILE,
    )
    assert out.shape == graph_out.shape and str(out.dtype) == graph_out.dtype, (
        f"ran to {out.dtype}{list(out.shape)}, the graph says {graph_out}"
    )
    return "ran"


def fuzz(count: int) -> Counter:
    """Outcome counts of plans 0 .. count-1; fails listing the plans that escaped."""
    stats: Counter = Counter()
    failures = []
    began = time.perf_counter()
    for index in range(count):
        plan = make_plan(index)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # layers warn about odd but legal arguments
                stats[fuzz_one(plan)] += 1
        except Exception as e:  # every other escape is a finding, reported with its plan
            failures.append(f"{plan}\n  -> {type(e).__name__}: {str(e)[:600]}")
    took = time.perf_counter() - began
    print(f"\nfuzzed {count} models in {took:.1f}s: {dict(sorted(stats.items()))}", file=sys.stderr)
    assert not failures, f"{len(failures)} models failed:\n" + "\n\n".join(failures[:8])
    assert sum(stats.values()) == count
    return stats


def _check_mix(stats: Counter, count: int) -> None:
    errors = sum(v for k, v in stats.items() if k.startswith("ember "))
    assert stats["ran"] >= count // 5, stats  # most of the stacks that fit do run
    assert errors >= count // 10, stats  # and the misfits reach ember's checks
    assert len([k for k in stats if k.startswith("ember ")]) >= 2, stats


def test_fuzzed_models_run_or_raise_ember_errors():
    count = 100 * SCALE
    _check_mix(fuzz(count), count)


@pytest.mark.slow
def test_fuzzed_models_run_or_raise_ember_errors_many():
    count = 2000 * SCALE
    _check_mix(fuzz(count), count)


# JAX warns that it truncates the float64 parameter when the eager call moves it to the device
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")
def test_float64_state_is_traced_in_the_dtype_jax_computes():
    """Found by the fuzzer: without x64 a float64 parameter is float32 on the device, and the
    IR must say so (an Embedding(dtype=float64) lookup was typed f64, JAX computed f32)."""
    net = nn.Embedding(4, 3, dtype="float64")
    graph = em.trace(net, em.TensorSpec((2,), "int32"))
    check_types_against_jax(graph)
    assert [gi.value.type.dtype for gi in graph.inputs if gi.kind == "param"] == ["float32"]
    assert str(net(np.array([1, 2], np.int32)).dtype) == "float32"  # the eager call agrees
