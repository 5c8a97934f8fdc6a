"""What the OpInfo table (op_db/tensor_functions_more.py) cannot express for the second
batch of PyTorch tensor functions: eager errors, Python results (dtype queries,
`is_nonzero`), calling conventions (`atleast_*`, `*split`), Tensor methods and their
in-place variants, index creation (`triu_indices`, `logspace`) inside and outside a
trace, float64 under x64, eager backward and one compiled train step against torch."""

import jax
import numpy as np
import pytest
import torch
from helpers import assert_close_to_torch as _close
from helpers import assert_eager_backward_matches_torch
from opinfo import run_graph

import ember as em
from ember import nn, optim
from ember.errors import ShapeError
from ember.frontend.trace import trace_function

RNG = np.random.default_rng(11)


def _pair(*shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    return em.tensor(x), torch.tensor(x)


def test_errors_eagerly_name_the_function():
    with pytest.raises(em.ShapeError, match="dot: expects 1-D and 1-D"):
        em.dot(em.ones(2, 2), em.ones(2, 2))
    with pytest.raises(em.DTypeError, match="same dtype"):
        em.tensor([1, 2]).dot(em.tensor([1.0, 2.0]))
    with pytest.raises(em.ShapeError, match="is_nonzero: a tensor with more than one value"):
        em.is_nonzero(em.ones(2))
    with pytest.raises(em.ShapeError, match="no values"):
        em.ones(0).is_nonzero()
    with pytest.raises(em.TraceError, match="is_nonzero: returns a Python bool"):
        trace_function(lambda x: em.is_nonzero(x), (np.ones(1, np.float32),))
    with pytest.raises(em.DTypeError, match="addcdiv: integer division"):
        em.tensor([1, 2]).addcdiv(em.tensor([1, 2]), em.tensor([1, 1]))
    with pytest.raises(em.DTypeError, match="gcd"):
        em.gcd(em.ones(2), em.ones(2))


def test_python_results_match_torch():
    assert em.is_nonzero(em.tensor([3])) is True and em.tensor(0.0).is_nonzero() is False
    assert em.is_floating_point(em.ones(2)) is True and em.tensor([1]).is_floating_point() is False
    names = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32"]
    for a in names:
        for b in names:
            ta, tb = getattr(torch, a), getattr(torch, b)
            assert em.promote_types(a, b) == str(torch.promote_types(ta, tb))[6:], (a, b)
            assert em.can_cast(getattr(em, a), b) == torch.can_cast(ta, tb), (a, b)
    for x, y in [([1, 2], 2.5), ([1.0], 2), ([True], 3), ([1], np.float32(2.0))]:
        want = str(torch.result_type(torch.tensor(x), y))[6:]
        want = "int32" if want == "int64" else want  # ember's integers are int32
        assert em.result_type(em.tensor(x), y) == want
    assert em.result_type(em.tensor([1], dtype="float16"), em.tensor(2.5)) == "float16"
    assert em.result_type(em.tensor([1]), em.tensor(2.5)) == "float32"


def test_calling_conventions_match_torch():
    s, v = em.tensor(2.0), em.ones(3)
    assert em.atleast_2d(s).shape == (1, 1)
    assert isinstance(em.atleast_1d(s, v), tuple) and isinstance(em.atleast_3d([v]), tuple)
    assert [p.shape for p in em.atleast_3d(s, v, em.ones(2, 3))] == [
        (1, 1, 1),
        (1, 3, 1),
        (2, 3, 1),
    ]
    parts = em.ones(4, 6).hsplit([1, 4])
    assert isinstance(parts, tuple) and [p.shape for p in parts] == [(4, 1), (4, 3), (4, 2)]
    assert em.chain_matmul(em.ones(2, 3)).shape == (2, 3)
    assert em.broadcast_tensors([em.ones(2, 1), em.ones(3)])[0].shape == (2, 3)
    c = em.clone(v)
    assert c is not v and c.tolist() == v.tolist()
    values, indices = em.cummax(em.tensor([1, 3, 2]), 0)
    assert values.tolist() == [1, 3, 3] and indices.tolist() == [0, 1, 1]
    assert em.mode(em.tensor([1, 3, 3, 2, 2, 1, 1])).indices.item() == 6
    assert em.select(em.ones(2, 3), 1, -1).shape == (2,)


def test_methods_and_in_place_variants_match_torch():
    e, t = _pair(3, 4)
    ea, ta = _pair(3, 4)
    eb, tb = _pair(4)
    cases = [
        ("addcmul_", (ea, eb), (ta, tb), {"value": 0.5}),
        ("addcdiv_", (ea, eb.abs() + 1), (ta, tb.abs() + 1), {"value": 2}),
        ("index_fill_", (1, em.tensor([0, 2]), -1.0), (1, torch.tensor([0, 2]), -1.0), {}),
        ("index_copy_", (0, em.tensor([2]), ea[:1]), (0, torch.tensor([2]), ta[:1]), {}),
        ("frac_", (), (), {}),
        ("hypot_", (ea,), (ta,), {}),
        ("copysign_", (eb,), (tb,), {}),
        ("heaviside_", (ea,), (ta,), {}),
        ("renorm_", (2, 0, 1.0), (2, 0, 1.0), {}),
        ("addr_", (ea[:, 0], eb), (ta[:, 0], tb), {"alpha": 2}),
        ("deg2rad_", (), (), {}),
        ("rad2deg_", (), (), {}),
        ("negative_", (), (), {}),
        ("absolute_", (), (), {}),
        ("arctan_", (), (), {}),
        ("arctan2_", (ea,), (ta,), {}),
        ("sgn_", (), (), {}),
        ("fix_", (), (), {}),
        ("true_divide_", (eb.abs() + 1,), (tb.abs() + 1,), {}),
    ]
    for name, eargs, targs, kwargs in cases:
        ex, tx = e.clone(), t.clone()
        out = getattr(ex, name)(*eargs, **kwargs)
        getattr(tx, name)(*targs, **kwargs)
        assert out is ex, name
        _close(ex, tx, 1e-5, 1e-6)
    # in-place ops that change the shape, as torch's
    es, ts = _pair(2, 3, 4)
    es.swapaxes_(1, 2).swapdims_(0, -1).unsqueeze_(1).transpose_(0, 2).squeeze_(0)
    ts.swapaxes_(1, 2).swapdims_(0, -1).unsqueeze_(1).transpose_(0, 2).squeeze_(0)
    _close(es, ts)
    em_, tm = _pair(2, 3)
    em_.t_()
    tm.t_()
    _close(em_, tm)
    with pytest.raises(ShapeError, match="parameter or buffer"):
        nn.Linear(3, 2).weight.data.t_()
    ei, ti = em.tensor([12, 18, -4]), torch.tensor([12, 18, -4])
    ei.gcd_(em.tensor([8, 27, 6]))
    ti.gcd_(torch.tensor([8, 27, 6]))
    assert ei.tolist() == ti.tolist()
    ev, tv = _pair(3)
    ev.addmv_(ea, eb, beta=0.5)
    tv.addmv_(ta, tb, beta=0.5)
    _close(ev, tv, 1e-5, 1e-6)


def test_index_creation_matches_torch_inside_and_outside_a_trace():
    for row, col, offset in [(4, 4, 0), (3, 6, -1), (6, 3, 2), (5, 2, -4), (2, 3, 5)]:
        for name in ("triu_indices", "tril_indices"):
            want = getattr(torch, name)(row, col, offset)
            assert getattr(em, name)(row, col, offset).tolist() == want.tolist()
    x = np.zeros(1, np.float32)  # the trace needs an input; the indices depend on none
    graph, _ = trace_function(lambda z: em.triu_indices(70, 80, 3) + z.int(), (x,))
    (got,) = run_graph(graph, (x,))
    np.testing.assert_array_equal(got, torch.triu_indices(70, 80, 3).numpy())
    _close(em.logspace(-1, 2, 7), torch.logspace(-1, 2, 7), 1e-6)
    _close(em.logspace(0, 3, 4, base=2, dtype="int32"), torch.logspace(0, 3, 4, base=2))
    assert em.tril_indices(3, 3, dtype=em.int32).dtype == "int32"


def test_float64_under_x64_matches_torch():
    a = RNG.standard_normal((3, 3)) * 2
    with jax.enable_x64(True):
        got = em.float_power(em.tensor([2, 3], dtype="int32"), 0.5)
        assert got.dtype == "float64"
        _close(got, torch.float_power(torch.tensor([2, 3]), 0.5), 1e-15)
        _close(em.matrix_exp(em.tensor(a)), torch.matrix_exp(torch.tensor(a)), 1e-12, 1e-12)
        _close(
            em.logcumsumexp(em.tensor(a * 300), 1),
            torch.logcumsumexp(torch.tensor(a * 300), 1),
            1e-13,
        )
    assert em.float_power(em.tensor([2]), 2).dtype == "float32"  # without x64


def test_gcd_inside_a_trace():
    a = np.array([12, 0, 35, -8], np.int32)
    b = np.array([18, 0, 14, 12], np.int32)
    graph, _ = trace_function(lambda x, y: (em.gcd(x, y), em.lcm(x, y)), (a, b))
    g, m = run_graph(graph, (a, b))
    np.testing.assert_array_equal(g, np.gcd(a, b))
    np.testing.assert_array_equal(m, np.lcm(a, b))


def _loss(lib, x, w):
    """One scalar through the differentiable functions, with `lib` torch or ember."""
    h = lib.inner(x, w)  # (3, 2)
    return (
        lib.cummax(x, 1).values.sum()
        + lib.logcumsumexp(x, 0).sum()
        + lib.hypot(x, x.flip(1) + 2).sum()
        + lib.logaddexp(x, w[0]).sum()
        + lib.addcmul(x, x, x, value=0.5).square().mean()
        + lib.cov(x).sum()
        + lib.trapezoid(x, dim=1).sum()
        + lib.matrix_exp(h.mT @ h * 0.1).sum()
        + lib.renorm(x, 2, 0, 1.5).sum()
        + lib.index_fill(x, 1, lib.tensor([1, 3]), 0.5).pow(2).sum()
        + lib.take(x, lib.tensor([0, 7, 7])).sum()
        + lib.logdet(h.mT @ h + lib.eye(2))
        + lib.dist(x[0], x[1])
    )


def test_eager_backward_matches_torch():
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    w = RNG.standard_normal((2, 5)).astype(np.float32)
    assert_eager_backward_matches_torch(_loss, x, w)


class Head(nn.Module):
    """A head using products, stacking, cumulative scans and pointwise functions."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(em.tensor(weight))

    def forward(self, x):
        h = em.stack([em.mv(self.weight, row) for row in x.unbind(0)])  # (B, 4)
        h = em.hstack([h, em.logcumsumexp(h, 1)])  # (B, 8)
        pooled = em.cummax(h, 0).values[-1] + em.logaddexp(h, 0.0).mean(0)
        return em.addcmul(pooled, pooled, pooled, value=0.1).sum() + em.dist(h[0], h[1])


def test_compiled_train_step_matches_torch():
    weight = RNG.standard_normal((4, 3)).astype(np.float32) * 0.5
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    net = Head(weight)
    model = em.compile(net, loss=None, optimizer=optim.SGD(net.parameters(), lr=0.1))
    logs = model.train_step(x)

    w, xt = torch.tensor(weight, requires_grad=True), torch.tensor(x)
    h = torch.stack([torch.mv(w, row) for row in xt.unbind(0)])
    h = torch.hstack([h, torch.logcumsumexp(h, 1)])
    pooled = torch.cummax(h, 0).values[-1] + torch.logaddexp(h, torch.tensor(0.0)).mean(0)
    tloss = torch.addcmul(pooled, pooled, pooled, value=0.1).sum() + torch.dist(h[0], h[1])
    tloss.backward()
    np.testing.assert_allclose(float(logs["loss"]), tloss.item(), rtol=1e-5)
    _close(net.weight, weight - 0.1 * w.grad.numpy(), 1e-4, 1e-5)
