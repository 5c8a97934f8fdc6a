"""Loss parity helpers: one loss expression run by ember's lowered graph and by PyTorch.

`check_parity` compares values and input gradients (float32, rtol 1e-5 / atol 1e-6
unless a case documents looser bounds) and records the worst relative error per
loss in `WORST`, which the loss test modules print at teardown (`pytest -s`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch

from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function
from ember.nn.module import Module

RTOL, ATOL = 1e-5, 1e-6
WORST: dict[str, tuple[float, float]] = {}  # loss -> (elementwise, normwise)


def rel_err(got: np.ndarray, want: np.ndarray, atol: float = ATOL) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.size == 0:
        return 0.0
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(got), finite):
        return float("inf")
    got, want = got[finite], want[finite]
    if want.size == 0:
        return 0.0
    # elementwise, with a floor at 1e-3 of the array's scale so that entries that are
    # zero up to rounding (e.g. gradients of saturated terms) do not dominate
    floor = max(1e-3 * float(np.abs(want).max()), atol)
    return float((np.abs(got - want) / np.maximum(np.abs(want), floor)).max())


def norm_err(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| over the finite entries."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    finite = np.isfinite(want) & np.isfinite(got)
    if not finite.any():
        return 0.0
    got, want = got[finite], want[finite]
    scale = float(np.abs(want).max())
    return float(np.abs(got - want).max()) / scale if scale else 0.0


def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        return torch.from_numpy(a.astype(np.int64))
    return torch.tensor(a, requires_grad=requires_grad)


def cotangent(shape: tuple) -> np.ndarray:
    """A fixed, non-uniform output cotangent, so 'none' reductions test every element."""
    n = int(np.prod(shape))
    return (np.cos(np.arange(n)) + 1.5).reshape(shape).astype(np.float32)


def ember_value_and_grads(fn: Callable, arrays: list, grad_args: tuple, module=None):
    """Value of `fn(*tensors)` and gradients w.r.t. arrays[i] for i in grad_args."""
    modules = [("", module)] if isinstance(module, Module) else []
    names = [f"a{i}" for i in range(len(arrays))]
    graph, _ = trace_function(fn, arrays, modules=modules, names=names)
    lowered = lower(run_passes(graph))
    state = module.state_dict() if isinstance(module, Module) else {}
    buffers = [jnp.asarray(state[n]) for n in lowered.buffer_names]
    assert not lowered.param_names, "losses have no parameters"

    def f(*diff):
        full = list(arrays)
        for i, d in zip(grad_args, diff, strict=True):
            full[i] = d
        outs, _ = lowered.fn([], buffers, full, None)
        return outs[0]

    primal = [jnp.asarray(arrays[i]) for i in grad_args]
    value = np.asarray(jax.jit(f)(*primal))
    if not grad_args:
        return value, []
    cot = jnp.asarray(cotangent(value.shape))
    argnums = tuple(range(len(grad_args)))
    grads = jax.jit(jax.grad(lambda *d: jnp.sum(f(*d) * cot), argnums=argnums))(*primal)
    return value, [np.asarray(g) for g in grads]


def torch_value_and_grads(fn: Callable, arrays: list, grad_args: tuple):
    ts = [to_torch(a, i in grad_args) for i, a in enumerate(arrays)]
    out = fn(*ts)
    value = out.detach().numpy()
    if not grad_args:
        return value, []
    out.backward(torch.from_numpy(cotangent(tuple(out.shape))))
    return value, [ts[i].grad.numpy() for i in grad_args]


def check_parity(
    name: str,
    ember_fn: Callable,
    torch_fn: Callable,
    arrays: list,
    grad_args: tuple = (0,),
    module=None,
    rtol: float = RTOL,
    atol: float = ATOL,
    grad_atol: float | None = None,
) -> None:
    """Assert ember == torch for the value and the gradients; record the worst rel. error."""
    grad_atol = atol if grad_atol is None else grad_atol
    value, grads = ember_value_and_grads(ember_fn, arrays, grad_args, module)
    want, want_grads = torch_value_and_grads(torch_fn, arrays, grad_args)
    assert value.shape == want.shape, f"{name}: shape {value.shape} != torch {want.shape}"
    np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, err_msg=f"{name} value")
    for i, g, w in zip(grad_args, grads, want_grads, strict=True):
        np.testing.assert_allclose(
            g, w, rtol=rtol, atol=grad_atol, err_msg=f"{name} grad of arg {i}"
        )
    pairs = [(value, want), *zip(grads, want_grads, strict=True)]
    old = WORST.get(name, (0.0, 0.0))
    WORST[name] = (
        max(old[0], *(rel_err(g, w, atol) for g, w in pairs)),
        max(old[1], *(norm_err(g, w) for g, w in pairs)),
    )


def check_module_parity(
    name: str,
    make: Callable,
    arrays: list,
    grad_args: tuple = (0,),
    wrap: Callable | None = None,
    **tol,
) -> None:
    """`make(nn_namespace, to_tensor)` builds the same loss module in ember and in torch.

    The ember module takes the torch module's state_dict (class weights are buffers), and
    `wrap(loss, *xs)` (default: `loss(*xs)`) is the traced expression.
    """
    import ember.nn as enn

    tmod = make(torch.nn, lambda a: torch.from_numpy(np.asarray(a, np.float32)))
    emod = make(enn, lambda a: np.asarray(a, np.float32))
    tstate = {k: v.detach().numpy() for k, v in tmod.state_dict().items()}
    assert sorted(emod.state_dict()) == sorted(tstate), f"{name}: state_dict keys differ"
    emod.load_state_dict(tstate)
    wrap = wrap or (lambda loss, *xs: loss(*xs))
    check_parity(
        name,
        lambda *xs: wrap(emod, *xs),
        lambda *xs: wrap(tmod, *xs),
        arrays,
        grad_args,
        module=emod,
        **tol,
    )


def print_worst() -> None:
    if WORST:
        print(
            "\nworst relative error vs torch, values and input gradients "
            "(elementwise with a floor at 1e-3 of the array's scale | normwise):"
        )
        for name, (elem, norm) in sorted(WORST.items()):
            print(f"  {name:34s} {elem:.2e} | {norm:.2e}")
