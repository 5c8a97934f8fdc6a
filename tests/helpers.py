"""Test helpers: ember loss/gradients through the real trace → passes → lowering path."""

import jax
import numpy as np

from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function


def loss_and_grads(net, loss_fn, x, y):
    """(loss, logits, {param name: grad}) computed by ember's lowered graph."""
    graph, _ = trace_function(
        lambda a, b: (loss_fn(net(a), b), net(a)), [x, y], modules=[("", net)], names=["x", "y"]
    )
    lowered = lower(run_passes(graph))
    named = dict(net.named_parameters())
    params = [np.asarray(named[n].data) for n in lowered.param_names]
    buffers = [np.asarray(dict(net.named_buffers())[n]) for n in lowered.buffer_names]

    def f(ps):
        outs, _ = lowered.fn(ps, buffers, [x, y], None)
        return outs[0], outs[1]

    (loss, logits), grads = jax.value_and_grad(f, has_aux=True)(params)
    return (
        float(loss),
        np.asarray(logits),
        dict(zip(lowered.param_names, map(np.asarray, grads), strict=True)),
    )


def mlp_pair():
    """The same 5-7-3 MLP in ember and torch (ember's initial weights copied)."""
    import torch

    import ember as em
    from ember import nn

    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    ref = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    return net, ref


def regression_batches(n: int, seed: int = 1) -> list:
    """`n` (x (8, 5), y (8, 3)) float32 batches for `mlp_pair`."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((8, 5)).astype(np.float32),
            rng.standard_normal((8, 3)).astype(np.float32),
        )
        for _ in range(n)
    ]
