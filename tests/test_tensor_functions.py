"""What the OpInfo table (op_db/tensor_functions_ported.py) cannot express for the
ported PyTorch functions: eager (lazy) use, Python-bool results, data-dependent lengths
outside and inside a trace, float64 values, gradients in eager backward and in a
compiled train step, and the `em.special` namespace."""

import jax
import numpy as np
import pytest
import torch
from helpers import assert_close_to_torch as _close
from helpers import assert_eager_backward_matches_torch
from opinfo import run_graph

import ember as em
from ember import nn, optim
from ember.frontend.trace import trace_function

RNG = np.random.default_rng(7)


def test_allclose_is_a_python_bool_eagerly_and_explains_itself_in_a_trace():
    a = np.array([1.0, 2.0, np.nan], np.float32)
    b = a + np.float32(1e-7)
    for args in [(a, b), (a, b, 1e-5, 1e-8, True), (a[:2], a[:2] + 0.01)]:
        want = torch.allclose(*(torch.tensor(x) for x in args[:2]), *args[2:])
        got = em.allclose(*(em.tensor(x) for x in args[:2]), *args[2:])
        assert type(got) is bool and got == want
    assert em.tensor(a[:2]).allclose(em.tensor(b[:2])) is True
    with pytest.raises(em.TraceError, match=r"allclose: returns a Python bool.*em.isclose\(a, b\)"):
        trace_function(lambda x, y: em.allclose(x, y), (a, b))


def test_repeat_interleave_reads_tensor_counts_outside_a_trace():
    x = RNG.standard_normal((3, 2)).astype(np.float32)
    counts = np.array([2, 0, 3], np.int32)
    _close(
        em.repeat_interleave(em.tensor(x), em.tensor(counts), dim=0),
        torch.repeat_interleave(torch.tensor(x), torch.tensor(counts), dim=0),
    )
    _close(em.tensor(x).repeat_interleave(em.tensor([2])), torch.tensor(x).repeat_interleave(2))
    _close(em.repeat_interleave(em.tensor(counts)), torch.repeat_interleave(torch.tensor(counts)))
    with pytest.raises(em.ShapeError, match="output_size=4 but the repeats sum to 5"):
        em.repeat_interleave(em.tensor(x), em.tensor(counts), dim=0, output_size=4)
    with pytest.raises(em.ShapeError, match="non-negative"):
        em.repeat_interleave(em.tensor(x), [1, -1, 1], dim=0)
    # counts made outside a trace have known values inside one: no output_size needed
    known = em.tensor(counts)
    graph, _ = trace_function(lambda v: em.repeat_interleave(v, known, dim=0), (x,))
    (got,) = run_graph(graph, (x,))
    _close(got, np.repeat(x, counts, axis=0))


def test_edge_cases_match_torch():
    E, T = em.tensor, torch.tensor
    _close(em.median(E(np.zeros(0, np.float32))), torch.median(T(np.zeros(0, np.float32))))
    _close(em.median(E(3.0), 0).values, torch.median(T(3.0), 0).values)
    _close(em.median(E([4, 1, 3, 2])), torch.median(T([4, 1, 3, 2])))
    v = E([1.0, 2.0, 3.0])
    for r, with_replacement in [(0, False), (1, False), (4, False), (4, True)]:
        _close(
            em.combinations(v, r, with_replacement),
            torch.combinations(T([1.0, 2.0, 3.0]), r, with_replacement),
        )
    _close(em.block_diag(), torch.block_diag())
    _close(
        em.block_diag(E(2.0), E([[1, 2]]), em.ones(2, 0)),
        torch.block_diag(T(2.0), T([[1, 2]]), torch.ones(2, 0)),
    )
    _close(em.cartesian_prod(v), torch.cartesian_prod(T([1.0, 2.0, 3.0])))
    _close(em.diff(v, n=5), torch.diff(T([1.0, 2.0, 3.0]), n=5))
    lo, hi = em.aminmax(E([[1, 5], [3, -2]]), keepdim=True)
    assert lo.tolist() == [[-2]] and hi.tolist() == [[5]]


def test_float64_values_match_torch():
    x = RNG.standard_normal((4, 7))
    q = np.array([0.1, 0.5, 0.95])
    with jax.enable_x64(True):
        e, t = em.tensor(x), torch.tensor(x)
        assert e.dtype == "float64"
        for mode in ("linear", "midpoint", "nearest"):
            got = em.quantile(e, em.tensor(q), dim=1, interpolation=mode)
            assert got.dtype == "float64"
            _close(got, torch.quantile(t, torch.tensor(q), dim=1, interpolation=mode), 1e-12, 1e-12)
        _close(em.median(e, 0).values, torch.median(t, 0).values, 1e-12, 1e-12)
        _close(em.tensordot(e, e, ([1], [1])), torch.tensordot(t, t, ([1], [1])), 1e-12, 1e-12)
        z = np.array([-40.0, -12.0, -3.0, 0.5, 6.0])
        _close(em.special.log_ndtr(em.tensor(z)), torch.special.log_ndtr(torch.tensor(z)), 1e-9)
        p = np.array([1e-6, 0.3, 0.999])
        _close(em.special.ndtri(em.tensor(p)), torch.special.ndtri(torch.tensor(p)), 1e-9)


def _loss(lib, x, w):
    """One scalar through the main differentiable functions (OpInfo's slow tier checks each
    in float64), with `lib` torch or ember."""
    special = lib.special
    counts = lib.tensor([1, 0, 2])
    return (
        lib.quantile(x, lib.tensor([0.2, 0.75]), dim=1).sum()
        + lib.median(x, 0).values.sum()
        + lib.tensordot(x, w, dims=([1], [0])).square().mean()
        + lib.repeat_interleave(x, counts, dim=0).pow(3).sum()
        + lib.diff(x, 2, dim=1).abs().sum()
        + lib.nanmean(x, 1).sum()
        + lib.block_diag(x, w).sin().sum()
        + lib.combinations(x[1], 2).prod(1).sum()
        + special.xlogy(x, w[:, 0].abs() + 1).sum()
        + special.log_ndtr(x).sum()
    )


def test_eager_backward_matches_torch():
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    w = RNG.standard_normal((5, 2)).astype(np.float32)
    assert_eager_backward_matches_torch(_loss, x, w)


class RobustHead(nn.Module):
    """A head that pools with order statistics and repeats with traced counts."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(em.tensor(weight))

    def forward(self, x, counts):
        h = em.tensordot(x, self.weight, dims=1)  # (B, 4)
        pooled = em.quantile(h, 0.8, dim=0) + em.median(h, 0).values + em.nanmean(h, 0)
        spread = em.repeat_interleave(h, counts, dim=0, output_size=6)
        ok = em.isclose(h, h).all()  # a bool tensor is fine in a trace
        return pooled.square().sum() + em.special.log_ndtr(spread).mean() * ok


def test_compiled_train_step_matches_torch():
    weight = RNG.standard_normal((3, 4)).astype(np.float32) * 0.5
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    counts = np.array([2, 0, 1, 3, 0], np.int32)
    net = RobustHead(weight)
    model = em.compile(net, loss=None, optimizer=optim.SGD(net.parameters(), lr=0.1))
    logs = model.train_step(x, counts)

    w, xt, ct = torch.tensor(weight, requires_grad=True), torch.tensor(x), torch.tensor(counts)
    h = torch.tensordot(xt, w, dims=1)
    pooled = torch.quantile(h, 0.8, dim=0) + torch.median(h, 0).values + torch.nanmean(h, 0)
    spread = torch.repeat_interleave(h, ct, dim=0)
    tloss = pooled.square().sum() + torch.special.log_ndtr(spread).mean()
    tloss.backward()
    np.testing.assert_allclose(float(logs["loss"]), tloss.item(), rtol=1e-5)
    _close(net.weight, weight - 0.1 * w.grad.numpy(), 1e-4, 1e-5)


def test_special_namespace_is_a_module_with_torch_names():
    import ember.special as special

    assert em.special is special
    assert special.expit is em.sigmoid and special.gammaln is em.lgamma
    assert special.psi is em.digamma and special.logit is em.logit
    for name in special.__all__:
        assert callable(getattr(special, name)), name
        assert hasattr(torch.special, name), f"{name} is not a torch.special function"
    for missing in ("i0", "zeta", "polygamma", "bessel_j0", "erfcx"):
        assert not hasattr(special, missing)
