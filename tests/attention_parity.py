"""Shared helpers for the attention/Transformer/norm parity tests against PyTorch.

`run_both(fn, ember_module, torch_module, inputs)` calls `fn(module, *tensors)` on
both sides (the same Python function: ember modules take ember Tensors, torch
modules torch tensors), backpropagates a fixed cos-weighted sum of the float
outputs and compares outputs, parameter gradients and input gradients.
Worst normwise relative errors are kept in WORST[family] for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import torch

from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function

WORST: dict[str, float] = {}


def copy_weights(ember_module, torch_module) -> None:
    ember_module.load_state_dict(
        {k: v.detach().numpy() for k, v in torch_module.state_dict().items()}
    )


def set_mode(training: bool, *modules) -> None:
    for m in modules:
        m.train(training)


def _weights(n: int, shape) -> np.ndarray:
    return np.cos(np.arange(n, dtype=np.float64)).reshape(shape)


def _is_float(a) -> bool:
    return np.issubdtype(np.asarray(a).dtype, np.floating)


def _diff_indices(inputs, diff) -> list[int]:
    return [i for i, a in enumerate(inputs) if _is_float(a) and (diff is None or i in diff)]


def ember_run(fn: Callable, module, inputs: Sequence[np.ndarray], diff=None, seed: int = 0):
    """Outputs, {param name: grad}, [grads of the inputs in `diff` (default: all float ones)]."""

    def traced(*ts):  # MultiheadAttention returns (out, None) without weights
        out = fn(module, *ts)
        return tuple(o for o in out if o is not None) if isinstance(out, tuple) else out

    graph, _ = trace_function(
        traced, list(inputs), modules=[("", module)], names=[f"in{i}" for i in range(len(inputs))]
    )
    lowered = lower(run_passes(graph))
    named = dict(module.named_parameters())
    params = [jnp.asarray(np.asarray(named[n].data)) for n in lowered.param_names]
    buffers_by_name = dict(module.named_buffers())
    buffers = [jnp.asarray(np.asarray(buffers_by_name[n])) for n in lowered.buffer_names]
    key = jax.random.key_data(jax.random.PRNGKey(seed)) if lowered.uses_rng else None
    diff = _diff_indices(inputs, diff)

    def outputs(params, xs):
        full = [jnp.asarray(a) for a in inputs]
        for i, x in zip(diff, xs, strict=True):
            full[i] = x
        outs, _ = lowered.fn(params, buffers, full, key)
        return outs

    def loss(params, xs):
        outs = outputs(params, xs)
        total = sum(
            jnp.sum(o * _weights(o.size, o.shape).astype(o.dtype))
            for o in outs
            if jnp.issubdtype(o.dtype, jnp.floating)
        )
        return total, outs

    xs = [jnp.asarray(inputs[i]) for i in diff]
    (_, outs), (gp, gx) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        params, xs
    )
    grads = dict(zip(lowered.param_names, map(np.asarray, gp), strict=True))
    return [np.asarray(o) for o in outs], grads, [np.asarray(g) for g in gx]


def torch_run(fn: Callable, module, inputs: Sequence[np.ndarray], diff=None):
    diff = _diff_indices(inputs, diff)
    ts = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(inputs)]
    for p in module.parameters():
        p.grad = None
    out = fn(module, *ts)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    outs = [o for o in outs if o is not None]
    loss = sum(
        (o * torch.from_numpy(_weights(o.numel(), tuple(o.shape))).to(o.dtype)).sum()
        for o in outs
        if o.is_floating_point()
    )
    loss.backward()
    grads = {
        n: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy()
        for n, p in module.named_parameters()
    }
    gx = [(ts[i].grad if ts[i].grad is not None else torch.zeros_like(ts[i])).numpy() for i in diff]
    return [o.detach().numpy() for o in outs], grads, gx


def compare(family: str, what: str, got, want, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch {want.shape}"
    finite = np.isfinite(want)
    # entries that are exactly zero in exact arithmetic (the key bias's gradient: softmax
    # ignores a per-query constant) are float32 rounding noise on both sides, at the scale
    # of the whole tensor: bound them by it
    scale = float(np.abs(want[finite]).max()) if finite.any() else 0.0
    atol = max(atol, rtol * scale)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    # a reference that is rounding noise around zero (scale below atol) has no relative error
    if finite.any() and np.abs(want[finite]).max() > atol:
        scale = np.abs(want[finite]).max()
        rel = float(np.abs(got[finite] - want[finite]).max() / scale) if scale > 0 else 0.0
        WORST[family] = max(WORST.get(family, 0.0), rel)


def run_both(
    family: str,
    fn: Callable,
    ember_module,
    torch_module,
    inputs,
    *,
    diff=None,
    grads: bool = True,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> list[np.ndarray]:
    """Compare outputs and gradients (parameters, inputs in `diff`, default all float inputs)
    of fn on both sides; returns ember's outputs."""
    e_out, e_gp, e_gx = ember_run(fn, ember_module, inputs, diff)
    t_out, t_gp, t_gx = torch_run(fn, torch_module, inputs, diff)
    assert len(e_out) == len(t_out), f"{len(e_out)} outputs vs torch {len(t_out)}"
    for i, (g, w) in enumerate(zip(e_out, t_out, strict=True)):
        compare(family, f"output {i}", g, w, rtol, atol)
    if grads:
        assert set(e_gp) == set(t_gp), f"parameters {sorted(e_gp)} vs torch {sorted(t_gp)}"
        for name in t_gp:
            compare(family, f"grad of {name}", e_gp[name], t_gp[name], rtol, atol)
        for i, (g, w) in enumerate(zip(e_gx, t_gx, strict=True)):
            compare(family, f"grad of input {i}", g, w, rtol, atol)
    return e_out


def report() -> str:
    return "\n".join(
        f"  {k:<28} worst relative error vs torch: {v:.2e}" for k, v in sorted(WORST.items())
    )
