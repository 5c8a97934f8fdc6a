"""The OpInfo harness: every registered op has samples checked four ways.

An `OpInfo` names one registry op and gives `Sample`s: an ember function of
traced tensors that exercises the op, concrete numpy inputs, and an
independent reference (PyTorch or NumPy) on the same inputs. For each sample
the tests check (1) forward values against the reference, (2) every node's
inferred type against `jax.eval_shape` of its lowering, (3) gradients in
float64 with `jax.test_util.check_grads`, and for each `ErrorSample` that bad
input raises the documented error. Families live in `tests/op_db/*.py`, each
exporting `OP_DB: list[OpInfo]`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import numpy as np

from ember.compiler import lower
from ember.compiler.lower import LoweringContext
from ember.compiler.lowering import LOWERING
from ember.frontend.trace import trace_function


@dataclass
class Sample:
    fn: Callable  # ember: fn(*tensors) -> Tensor or tuple of Tensors
    args: tuple  # numpy arrays (the traced inputs)
    ref: Callable | None  # reference on the same numpy arrays -> array(s)
    name: str = ""
    grad: bool = True  # check gradients w.r.t. the float inputs
    rtol: float = 1e-5
    atol: float = 1e-6
    grad_args: tuple[int, ...] | None = None  # which args to differentiate (default: float ones)


@dataclass
class ErrorSample:
    fn: Callable
    args: tuple
    error: type
    match: str


@dataclass
class OpInfo:
    op: str
    samples: list[Sample]
    errors: list[ErrorSample] = field(default_factory=list)
    differentiable: bool = True


def raw_op(x, op: str, inputs=None, **attrs):
    """Emit `op` on `inputs` (default `[x]`) with exactly these attrs in x's trace, bypassing
    the functional API's argument checks: what a loaded or hand-built graph may hold. The
    infer rule must still answer with ShapeError/DTypeError. Returns the first result."""
    return x.builder.emit(op, [x] if inputs is None else inputs, attrs)[0]


def load_op_db() -> list[OpInfo]:
    import op_db

    entries = []
    for info in sorted(pkgutil.iter_modules(op_db.__path__), key=lambda m: m.name):
        entries += importlib.import_module(f"op_db.{info.name}").OP_DB
    return entries


def trace_sample(fn: Callable, args: tuple):
    graph, _ = trace_function(fn, args, names=[f"a{i}" for i in range(len(args))])
    return graph


def run_graph(graph, args: tuple, rng_seed: int = 0, params=(), buffers=(), compiler_options=None):
    """Jit and run `graph`; `params` and `buffers` follow the order of its inputs of that
    kind (empty for function graphs, the module's arrays for traced modules).
    `compiler_options` go to XLA (the model fuzzer lowers the optimization level: it
    compiles thousands of small graphs once each)."""
    lowered = lower(graph)
    key = jax.random.key_data(jax.random.PRNGKey(rng_seed)) if lowered.uses_rng else None
    inputs = (list(params), list(buffers), list(args), key)
    fn = jax.jit(lowered.fn)
    if compiler_options:
        fn = fn.lower(*inputs).compile(compiler_options)
    outs, _ = fn(*inputs)
    return [np.asarray(o) for o in outs]


def check_types_against_jax(graph) -> None:
    """Each node's stored result types must equal jax.eval_shape of its lowering."""
    types = {
        id(gi.value): jax.ShapeDtypeStruct(gi.value.type.shape, gi.value.type.dtype)
        for gi in graph.inputs
    }
    for node in graph.nodes:
        ctx = LoweringContext()
        ctx.node = node
        rule = LOWERING[node.op]
        structs = [types[id(v)] for v in node.inputs]
        out = jax.eval_shape(
            lambda *xs, rule=rule, node=node, ctx=ctx: rule(ctx, *xs, **node.attrs), *structs
        )
        outs = out if isinstance(out, tuple) else (out,)
        for value, got in zip(node.outputs, outs, strict=True):
            want = value.type
            assert tuple(got.shape) == want.shape and str(got.dtype) == want.dtype, (
                f"{node.op}: inferred {want} but the lowering gives {got.dtype}{list(got.shape)}"
            )
            types[id(value)] = got
