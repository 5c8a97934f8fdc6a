"""Layer parity helpers for the conv / pooling / resampling tests.

`check_layer` loads a torch layer's state_dict into the ember layer, then, in
train and in eval mode, compares outputs (float32, rtol 1e-5 / atol 1e-6 unless
a case documents looser bounds; integer outputs such as indices exactly) and
the gradients of every parameter and of the input under a fixed cotangent (their
absolute bound scales with the largest gradient entry; see `check_layer`).
Gradients come from ember's lowered graph (trace -> passes -> lower -> jax.grad).
The worst relative error per family lands in `WORST` (printed with `pytest -s`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function

RTOL, ATOL = 1e-5, 1e-6
WORST: dict[str, float] = {}


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.size == 0:
        return 0.0
    # a floor at 1e-3 of the array's scale keeps entries that are zero up to rounding
    # from dominating
    floor = max(1e-3 * float(np.abs(want).max()), ATOL)
    return float((np.abs(got - want) / np.maximum(np.abs(want), floor)).max())


def cotangent(shape: tuple) -> np.ndarray:
    """A fixed, non-uniform output cotangent, so every output element matters."""
    n = int(np.prod(shape))
    return (np.cos(np.arange(n)) + 1.5).reshape(shape).astype(np.float32)


def _as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def ember_outputs_and_grads(net, x: np.ndarray, call=None):
    """Outputs of `call(net, x)` and gradients {param name: grad} plus the input's."""
    call = call or (lambda m, t: m(t))
    graph, _ = trace_function(lambda t: call(net, t), [x], modules=[("", net)], names=["x"])
    lowered = lower(run_passes(graph))
    named = dict(net.named_parameters())
    params = [jnp.asarray(np.asarray(named[n].data)) for n in lowered.param_names]
    named_buffers = dict(net.named_buffers())
    buffers = [jnp.asarray(np.asarray(named_buffers[n])) for n in lowered.buffer_names]

    def run(ps, xx):
        outs, _ = lowered.fn(ps, buffers, [xx], None)
        return outs

    outs = [np.asarray(o) for o in jax.jit(run)(params, jnp.asarray(x))]
    floats = [i for i, o in enumerate(outs) if np.issubdtype(o.dtype, np.floating)]

    def loss(ps, xx):
        res = run(ps, xx)
        return sum(jnp.sum(res[i] * cotangent(outs[i].shape)) for i in floats)

    if not np.issubdtype(x.dtype, np.floating):
        return outs, {}
    gp, gx = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, jnp.asarray(x))
    grads = dict(zip(lowered.param_names, (np.asarray(g) for g in gp), strict=True))
    grads["input"] = np.asarray(gx)
    return outs, grads


def torch_outputs_and_grads(layer, x: np.ndarray, call=None):
    call = call or (lambda m, t: m(t))
    xt = torch.tensor(x, requires_grad=np.issubdtype(x.dtype, np.floating))
    outs = _as_list(call(layer, xt))
    floats = [o for o in outs if o.dtype.is_floating_point]
    if xt.requires_grad:
        sum((o * torch.from_numpy(cotangent(tuple(o.shape)))).sum() for o in floats).backward()
    grads = {n: p.grad.numpy() for n, p in layer.named_parameters() if p.grad is not None}
    if xt.requires_grad:
        grads["input"] = xt.grad.numpy()
        for p in layer.parameters():
            p.grad = None
    return [o.detach().numpy() for o in outs], grads


def _compare(family: str, what: str, got, want, rtol: float, atol: float) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch {want.shape}"
    if not np.issubdtype(want.dtype, np.floating):
        np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=what)
        return
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    WORST[family] = max(WORST.get(family, 0.0), rel_err(got, want))


def check_layer(
    family: str,
    ember_layer,
    torch_layer,
    x: np.ndarray,
    *,
    call=None,
    rtol: float = RTOL,
    atol: float = ATOL,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
) -> None:
    """Outputs and gradients of ember vs torch, train and eval mode, same weights."""
    ember_layer.load_state_dict(
        {k: v.detach().numpy() for k, v in torch_layer.state_dict().items()}
    )
    for training in (True, False):
        ember_layer.train(training)
        torch_layer.train(training)
        got, got_grads = ember_outputs_and_grads(ember_layer, x, call)
        want, want_grads = torch_outputs_and_grads(torch_layer, x, call)
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _compare(f"{family} out", f"output {i} (training={training})", g, w, rtol, atol)
        assert set(got_grads) == set(want_grads), (sorted(got_grads), sorted(want_grads))
        for name, w in want_grads.items():
            # a gradient entry sums over the batch and every output position (a weight) or
            # every kernel tap (an input), so entries that cancel to near zero keep the
            # float32 rounding of the large terms: the absolute bound scales with max |grad|
            scaled = (grad_atol or atol) * max(1.0, float(np.abs(w).max()) if w.size else 1.0)
            _compare(
                f"{family} grad",
                f"grad {name} (training={training})",
                got_grads[name],
                w,
                grad_rtol or rtol,
                scaled,
            )
    if call is None:  # the eager path (`net(x)` on numpy) agrees with the lowered graph
        eager = _as_list(ember_layer(x))
        for g, w in zip(eager, got, strict=True):
            np.testing.assert_array_equal(np.asarray(g), w)


def print_worst(title: str) -> None:
    if WORST:
        print(
            f"\n{title}: worst relative error vs torch: "
            + ", ".join(f"{k} {v:.2e}" for k, v in sorted(WORST.items()))
        )
