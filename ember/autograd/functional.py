"""`em.autograd.grad` and `em.autograd.backward` over lazy tensors."""

from __future__ import annotations

from collections.abc import Sequence

from ember.frontend import autograd as engine
from ember.frontend.lazy import RECORDER, as_lazy
from ember.frontend.tensor import Tensor

__all__ = ["grad", "backward"]


def _seq(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
    only_inputs: bool = True,
    is_grads_batched: bool = False,
) -> tuple:
    """`torch.autograd.grad`: d(sum of outputs)/d(inputs), without touching `.grad`.
    (`only_inputs` is deprecated in PyTorch and ignored there too.)

    >>> (dx,) = em.autograd.grad(y, [x], create_graph=True)   # higher order: grad of dx works
    """
    if is_grads_batched:
        raise NotImplementedError(
            "autograd.grad(is_grads_batched=True) is not supported; fix: loop over the "
            "grad_outputs, or use em.func / jax.vmap over a functional step"
        )
    outs, ins = _seq(outputs), _seq(inputs)
    gouts = _seq(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    retain = create_graph if retain_graph is None else retain_graph
    total: list = [None] * len(ins)
    for k, (out, g) in enumerate(zip(outs, gouts, strict=True)):
        cot = None if g is None else as_lazy(g, out.value.type).value
        value = out.value
        if cot is None and value.type.shape != ():
            if value.type.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (got shape "
                    f"{value.type.shape}); fix: pass grad_outputs"
                )
            value = out.reshape(()).value
        last = k == len(outs) - 1
        grads = engine.gradients(
            value,
            [t.value for t in ins],
            cot,
            retain or not last,
            create_graph,
            allow_unused=bool(allow_unused) or materialize_grads,
        )
        for i, gv in enumerate(grads):
            if gv is None:
                continue
            t = Tensor(gv, RECORDER)
            total[i] = t if total[i] is None else total[i] + t
    if materialize_grads:
        total = [t if t is not None else x * 0 for t, x in zip(total, ins, strict=True)]
    return tuple(total)


def backward(
    tensors,
    grad_tensors=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    """`torch.autograd.backward`: `t.backward(g)` for each tensor."""
    ts = _seq(tensors)
    gs = _seq(grad_tensors) if grad_tensors is not None else [None] * len(ts)
    for t, g in zip(ts, gs, strict=True):
        t.backward(g, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
