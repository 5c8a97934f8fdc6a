"""OpInfo tests: forward vs reference, types vs jax.eval_shape, float64 grads, errors."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.test_util import check_grads
from opinfo import check_types_against_jax, load_op_db, run_graph, trace_sample

from ember.compiler import lower
from ember.compiler.lowering import LOWERING
from ember.graphdef import all_ops, verify

OP_DB = load_op_db()
SAMPLES = [(info, s) for info in OP_DB for s in info.samples]
ERRORS = [(info, e) for info in OP_DB for e in info.errors]


def _id(pair):
    info, s = pair
    return f"{info.op}-{getattr(s, 'name', '') or 'sample'}"


def test_every_op_has_an_opinfo_entry_and_a_lowering():
    registered = set(all_ops())
    covered = {info.op for info in OP_DB}
    assert not registered - set(LOWERING), (
        f"ops without lowering: {sorted(registered - set(LOWERING))}"
    )
    assert not set(LOWERING) - registered, (
        f"lowerings of unknown ops: {sorted(set(LOWERING) - registered)}"
    )
    assert not registered - covered, f"ops without OpInfo entries: {sorted(registered - covered)}"


@pytest.mark.parametrize("pair", SAMPLES, ids=[_id(p) for p in SAMPLES])
def test_forward_matches_reference_and_types_match_eval_shape(pair):
    """One trace per sample: its inferred types against jax.eval_shape of every node's
    lowering, then its jitted values against the reference."""
    info, sample = pair
    graph = verify(trace_sample(sample.fn, sample.args))
    assert any(n.op == info.op for n in graph.nodes), f"sample does not use op {info.op}:\n{graph}"
    check_types_against_jax(graph)
    outs = run_graph(graph, sample.args)
    if sample.ref is None:
        return
    want = sample.ref(*sample.args)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    assert len(outs) == len(want)
    for got, ref in zip(outs, want, strict=True):
        ref = np.asarray(ref.detach().numpy() if hasattr(ref, "detach") else ref)
        assert got.shape == ref.shape, f"shape {got.shape} != reference {ref.shape}"
        if ref.dtype == bool or got.dtype == bool:
            np.testing.assert_array_equal(got, ref)
        else:
            np.testing.assert_allclose(
                got, ref.astype(got.dtype), rtol=sample.rtol, atol=sample.atol
            )


GRAD_SAMPLES = [(i, s) for i, s in SAMPLES if i.differentiable and s.grad]


def _first_per_op_by_default(pairs: list) -> list:
    """Every op's first gradient sample runs by default; its other samples are in the slow
    tier (CI runs both), which keeps the default suite under 10 minutes on 2 cores."""
    seen, params = set(), []
    for pair in pairs:
        marks = (pytest.mark.slow,) if pair[0].op in seen else ()
        seen.add(pair[0].op)
        params.append(pytest.param(pair, marks=marks, id=_id(pair)))
    return params


@pytest.mark.parametrize("pair", _first_per_op_by_default(GRAD_SAMPLES))
def test_gradients_float64(pair):
    _, sample = pair
    with jax.enable_x64(True):
        args = tuple(
            a.astype(np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else a
            for a in sample.args
        )
        which = sample.grad_args
        if which is None:
            which = tuple(
                i for i, a in enumerate(args) if np.issubdtype(np.asarray(a).dtype, np.floating)
            )
        if not which:
            pytest.skip("no float inputs")
        lowered = lower(trace_sample(sample.fn, args))
        key = jax.random.key_data(jax.random.PRNGKey(0)) if lowered.uses_rng else None

        def f(*diff):
            full = list(args)
            for i, d in zip(which, diff, strict=True):
                full[i] = d
            outs, _ = lowered.fn([], [], full, key)
            return sum(
                jax.numpy.sum(o * jax.numpy.cos(jax.numpy.arange(o.size).reshape(o.shape)))
                for o in outs
                if jax.numpy.issubdtype(o.dtype, jax.numpy.floating)
            )

        # jitted, as users run it: the check also catches rules that only work un-jitted
        # (a custom VJP closing over a traced index, for example)
        check_grads(
            jax.jit(f), tuple(args[i] for i in which), order=1, modes=("rev",), atol=1e-4, rtol=1e-4
        )


@pytest.mark.parametrize(
    "pair", ERRORS, ids=[f"{i.op}-error{k}" for k, (i, _) in enumerate(ERRORS)]
)
def test_bad_inputs_raise_documented_error(pair):
    _, err = pair
    with pytest.raises(err.error, match=err.match):
        trace_sample(err.fn, err.args)
