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


def assert_close_to_torch(got, want, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """An ember tensor (or array) against a torch tensor (or array): same shape, close."""
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
    assert got.shape == want.shape, f"{got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol, atol=atol)


def assert_eager_backward_matches_torch(loss_fn, x: np.ndarray, w: np.ndarray) -> None:
    """`loss_fn(lib, x, w).backward()` with ember and with torch: loss and both gradients."""
    import torch

    import ember as em

    ex, ew = em.tensor(x, requires_grad=True), em.tensor(w, requires_grad=True)
    loss = loss_fn(em, ex, ew)
    loss.backward()
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tloss = loss_fn(torch, tx, tw)
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    assert_close_to_torch(ex.grad, tx.grad, 1e-4, 1e-5)
    assert_close_to_torch(ew.grad, tw.grad, 1e-4, 1e-5)


def mse_steps_side_by_side(net, opt, ref, ref_opt, x: np.ndarray, y: np.ndarray) -> None:
    """One literal-loop step (`zero_grad; mse_loss(...).backward(); step`) of an ember
    model and of its torch twin on the same batch."""
    import torch

    import ember as em

    opt.zero_grad()
    em.nn.functional.mse_loss(net(em.tensor(x)), em.tensor(y)).backward()
    opt.step()
    ref_opt.zero_grad()
    torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    ref_opt.step()


def settle_pending_tensors_of_earlier_tests() -> None:
    """Before counting compiles: lazy tensors an earlier test left in reference cycles
    join every cut until the collector frees them, which changes the cut mid-test."""
    import gc

    from ember.frontend import lazy

    gc.collect()
    lazy.sync()
