"""Calling a Module on concrete arrays: trace once per input types, jit, cache.

`net(x_numpy)` returns numpy. In train mode, buffer updates (BatchNorm
statistics) are written back to the module, as PyTorch would do.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np

from ember.compiler import DEFAULT_PASSES, EVAL_PASSES, lower, run_passes
from ember.compiler.steps import step_key
from ember.graphdef import Module, TraceError
from ember.graphdef import module as module_lib
from ember.graphdef.parameter import initial_seed, to_numpy
from ember.graphdef.trace import input_names, spec_of, trace_function, unflatten_outputs

from .data import is_array
from .stats import COMPILES, note_compile

_eager_steps = itertools.count()


def _canonical_input(x):
    """Host arrays in JAX's default precision (float64 -> float32, int64 -> int32)."""
    arr = to_numpy(x) if not isinstance(x, jax.Array) else x
    if not jax.config.jax_enable_x64:
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64:
            arr = arr.astype(np.int32)
    return arr


def _flatten_args(args) -> tuple[list, object]:
    """Arrays (possibly in nested tuples/lists, or None) -> flat arrays + structure."""
    if args is None:
        return [], None
    if isinstance(args, (bool, int, float, str)) or (
        isinstance(args, tuple) and args and all(isinstance(a, (bool, int, float)) for a in args)
    ):
        return [], ("static", args)  # Python options (need_weights=False, sizes) stay static
    if isinstance(args, (tuple, list)) and not (
        args and all(isinstance(a, (int, float)) for a in args)
    ):
        leaves, subs = [], []
        for a in args:
            sub_leaves, st = _flatten_args(a)
            leaves += sub_leaves
            subs.append(st)
        return leaves, (type(args), tuple(subs))
    if not is_array(args) and not isinstance(args, (list, tuple)):
        raise TraceError(
            f"modules take arrays (or tuples of arrays) when called outside a trace, "
            f"got {type(args).__name__}"
        )
    return [_canonical_input(np.asarray(args) if isinstance(args, (list, tuple)) else args)], "*"


def _rebuild_args(leaves, struct):
    it = iter(leaves)

    def build(st):
        if st is None:
            return None
        if st == "*":
            return next(it)
        kind, subs = st
        if kind == "static":
            return subs
        return kind(build(s) for s in subs)

    return build(struct)


def eager_call(module: Module, args: tuple, kwargs: dict):
    names_kw = tuple(sorted(kwargs))
    inputs, arg_struct = _flatten_args((tuple(args), tuple(kwargs[k] for k in names_kw)))
    if not inputs:
        raise TraceError(f"{type(module).__name__} was called without array inputs")
    types = tuple(spec_of(a) for a in inputs)
    flags = tuple(m.training for m in module.modules())
    key = (types, arg_struct, names_kw, flags)
    entry = module._compiled_cache.get(key)
    if entry is None:
        positional = arg_struct[1][0][1]
        simple = not names_kw and all(s == "*" for s in positional)
        names = (
            input_names(module.forward, len(types))
            if simple
            else [f"input{i}" for i in range(len(types))]
        )

        def call(*flat):
            pos, kw = _rebuild_args(flat, arg_struct)
            return module(*pos, **dict(zip(names_kw, kw, strict=True)))

        graph, struct = trace_function(
            call,
            types,
            modules=[("", module)],
            names=names,
            graph_name=type(module).__name__,
        )
        graph = run_passes(graph, DEFAULT_PASSES if module.training else EVAL_PASSES)
        lowered = lower(graph)
        entry = (jax.jit(lowered.fn), lowered, struct)
        module._compiled_cache[key] = entry
        note_compile(f"{type(module).__name__}.__call__", types)
    fn, lowered, struct = entry
    named = dict(module.named_parameters())
    params = [named[n].data for n in lowered.param_names]
    buffers_by_name = dict(module.named_buffers())
    buffers = [buffers_by_name[n] for n in lowered.buffer_names]
    rng = None
    if lowered.uses_rng:
        base = np.asarray(jax.random.key_data(jax.random.PRNGKey(initial_seed())))
        rng = step_key(base, next(_eager_steps))
    outputs, new_buffers = fn(params, buffers, inputs, rng)
    if module.training and lowered.buffer_names:
        owners = {}
        for path, m in module.named_modules():
            for b in m._buffers:
                owners[f"{path}.{b}" if path else b] = (m, b)
        for name, value in zip(lowered.buffer_names, new_buffers, strict=True):
            m, b = owners[name]
            m._set_buffer(b, np.asarray(value))
    return unflatten_outputs([np.asarray(o) for o in outputs], struct)


module_lib.EAGER_CALL[0] = eager_call
__all__ = ["eager_call", "COMPILES"]
