"""Parity helpers for the normalization/embedding/distance layers: ember vs PyTorch.

`ember_run` goes through the real trace -> passes -> lowering path and returns
the output, parameter gradients, input gradients and updated buffers;
`torch_run` does the same for a torch module. Both differentiate
`sum(out * cos(arange))`, so every output element gets a distinct weight.
`WORST` records the worst normwise relative error per family (printed with -s):
max |ours - torch| / max |torch|.
"""

from __future__ import annotations

import jax
import numpy as np
import torch

from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function

WORST: dict[str, float] = {}


def cotangent(shape: tuple, dtype) -> np.ndarray:
    size = int(np.prod(shape, dtype=np.int64))
    return np.cos(np.arange(size)).reshape(shape).astype(dtype)


def _is_float(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def ember_run(net, *inputs):
    """(output, {param: grad}, [grad per float input], {buffer: new value}) from ember."""
    # integer inputs as the eager path passes them: int32 (JAX without x64)
    xs = [
        np.asarray(x).astype(np.int32) if np.asarray(x).dtype == np.int64 else np.asarray(x)
        for x in inputs
    ]
    graph, _ = trace_function(
        lambda *a: net(*a), xs, modules=[("", net)], names=[f"x{i}" for i in range(len(xs))]
    )
    lowered = lower(run_passes(graph))
    named = dict(net.named_parameters())
    params = [np.asarray(named[n].data) for n in lowered.param_names]
    state = dict(net.named_buffers())
    buffers = [np.asarray(state[n]) for n in lowered.buffer_names]
    which = [i for i, x in enumerate(xs) if _is_float(x)]

    def f(ps, floats):
        full = list(xs)
        for i, v in zip(which, floats, strict=True):
            full[i] = v
        outs, new_buffers = lowered.fn(ps, buffers, full, None)
        out = outs[0]
        return (out * cotangent(out.shape, out.dtype)).sum(), (out, new_buffers)

    (_, (out, new_buffers)), (gp, gx) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(
        params, [xs[i] for i in which]
    )
    grads = {n: np.asarray(g) for n, g in zip(lowered.param_names, gp, strict=True)}
    new = {n: np.asarray(b) for n, b in zip(lowered.buffer_names, new_buffers, strict=True)}
    return np.asarray(out), grads, [np.asarray(g) for g in gx], new


def torch_run(module, *inputs):
    """The same quantities from a torch module (its buffers are updated in place)."""
    ts = [torch.tensor(np.asarray(x), requires_grad=_is_float(x)) for x in inputs]
    for p in module.parameters():
        p.grad = None
    out = module(*ts)
    (
        out * torch.from_numpy(cotangent(tuple(out.shape), out.detach().numpy().dtype))
    ).sum().backward()
    grads = {
        n: p.grad.numpy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
        for n, p in module.named_parameters()
    }
    gx = [t.grad.numpy() for t in ts if t.requires_grad]
    buffers = {n: b.detach().numpy().copy() for n, b in module.named_buffers()}
    return out.detach().numpy(), grads, gx, buffers


def assert_close(
    got, want, family: str, what: str = "", rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch {want.shape}"
    if want.size:
        # values that are zero up to rounding (e.g. a gradient that vanishes by symmetry) have
        # no meaningful relative error: measure them against 1e-3
        scale = max(float(np.max(np.abs(want))), 1e-3)
        err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) / scale
        WORST[family] = max(WORST.get(family, 0.0), err)
    np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol, atol=atol, err_msg=what)


def load_torch_state(net, module) -> None:
    """Copy a torch module's state (params and buffers) into the ember module."""
    net.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})


def randomize(module, seed: int = 0) -> None:
    """Random affine parameters and plausible running statistics on a torch module."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if "weight" in name else 0.0))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(3)


def report_worst() -> str:
    return ", ".join(f"{k}: {v:.2e}" for k, v in sorted(WORST.items()))
