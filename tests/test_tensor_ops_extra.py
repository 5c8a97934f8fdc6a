"""What the OpInfo table cannot express for the added tensor functions and `em.linalg`:
`em.Size`, bincount's data-dependent length (eager) and its static-length rule (traced),
errors that name shapes and the fix, and gradients through a compiled train step."""

import numpy as np
import pytest
import torch
from opinfo import run_graph

import ember as em
from ember import nn, optim
from ember.frontend.trace import trace_function


def test_size_is_a_tuple_with_numel_and_keeps_its_type():
    s = em.Size([2, 3, 4])
    assert isinstance(s, tuple) and s == (2, 3, 4)
    assert s.numel() == 24 and em.Size([]).numel() == 1
    assert type(s[1:]) is em.Size and s[1:] == (3, 4) and type(s[0]) is int
    assert type(s + (5,)) is em.Size and type((1,) + s) is em.Size and type(s * 2) is em.Size
    assert repr(s) == "ember.Size([2, 3, 4])"
    assert em.zeros(2, 3, 4).shape == s and em.zeros(s).shape == s
    assert em.Size(np.array([2, 3])) == (2, 3)
    with pytest.raises(TypeError, match=r"takes an iterable of ints.*1.5"):
        em.Size([2, 1.5])


def test_bincount_outside_a_trace_sizes_its_result_from_the_data_like_torch():
    values = np.array([0, 3, 3, 7, 1], np.int32)
    weights = np.array([0.5, 1.0, 2.0, 3.0, 4.0], np.float32)
    np.testing.assert_array_equal(
        em.bincount(em.tensor(values)).numpy(), torch.bincount(torch.tensor(values)).numpy()
    )
    np.testing.assert_allclose(
        em.tensor(values).bincount(em.tensor(weights), minlength=10).numpy(),
        torch.bincount(torch.tensor(values), torch.tensor(weights), minlength=10).numpy(),
    )
    assert em.bincount(em.tensor(np.zeros(0, np.int32))).shape == (0,)
    with pytest.raises(ValueError, match="non-negative, got a minimum of -2"):
        em.bincount(em.tensor(np.array([1, -2], np.int32)))


def test_bincount_in_a_trace_needs_minlength_and_drops_values_beyond_it():
    values = np.array([0, 2, 2, 5, 9], np.int32)
    with pytest.raises(em.TraceError, match=r"output length must be static.*fix: pass minlength"):
        trace_function(lambda v: em.bincount(v), (values,))
    graph, _ = trace_function(lambda v: em.bincount(v, minlength=6), (values,))
    assert graph.outputs[0].type.shape == (6,)
    (got,) = run_graph(graph, (values,))
    np.testing.assert_array_equal(got, [1, 0, 2, 0, 0, 1])  # 9 is outside [0, 6)


def test_tensor_split_with_traced_indices_explains_the_static_shape_rule():
    with pytest.raises(em.TraceError, match="tensor.tolist"):
        trace_function(lambda x, i: em.tensor_split(x, i), (np.zeros(6), np.array([2, 4])))
    x = em.arange(7)
    pieces = em.tensor_split(x, em.tensor([2, 5]))  # a concrete tensor works outside a trace
    assert [p.tolist() for p in pieces] == [[0, 1], [2, 3, 4], [5, 6]]


@pytest.mark.parametrize(
    ("fn", "args", "error", "match"),
    [
        (em.linalg.det, (np.eye(3, dtype=np.int32),), em.DTypeError, r"int32.*fix: cast"),
        (em.linalg.cholesky, (np.zeros((2, 3, 4), np.float32),), em.ShapeError, r"\(2, 3, 4\)"),
        (
            em.linalg.solve,
            (np.eye(3, dtype=np.float32), np.zeros((2, 4), np.float32)),
            em.ShapeError,
            r"A of shape \(3, 3\) needs B of shape \(\.\.\., 3, k\) or \(\.\.\., 3\), got "
            r"\(2, 4\); fix: give B 3 rows",
        ),
        (
            lambda a: em.linalg.matrix_power(a, 2),
            (np.zeros((2, 3), np.float32),),
            em.ShapeError,
            r"matrix_power: expects square matrices \(\.\.\., n, n\), got shape \(2, 3\)",
        ),
        (
            lambda a, b: em.cdist(a, b),
            (np.zeros((2, 4, 3), np.float32), np.zeros((3, 5, 3), np.float32)),
            em.ShapeError,
            r"cdist: batch dims: shapes \(2,\) and \(3,\) cannot be broadcast",
        ),
        (
            lambda a: em.diagonal(a, dim1=5),
            (np.zeros((2, 3), np.float32),),
            em.ShapeError,
            r"diagonal: dim1=5 is out of range .* \(input shape \(2, 3\)\)",
        ),
    ],
)
def test_bad_inputs_name_the_shapes_and_the_fix(fn, args, error, match):
    with pytest.raises(error, match=match):
        trace_function(fn, args)


def test_eager_backward_through_linalg_matches_torch():
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 3)) * 0.3 + 2 * np.eye(3)).astype(np.float32)
    b = rng.standard_normal((3, 2)).astype(np.float32)

    def loss(lib, a, b):
        la = lib.linalg
        return (
            la.slogdet(a).logabsdet
            + la.solve(a, b).sum()
            + lib.diagonal(la.inv(a)).sum()
            + la.matrix_norm(a, "nuc")
        )

    ea, eb = em.tensor(a, requires_grad=True), em.tensor(b, requires_grad=True)
    loss(em, ea, eb).backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    loss(torch, ta, tb).backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-5)


class GaussianNLL(nn.Module):
    """Negative log-likelihood of x under N(0, W W^T + I), a learned covariance."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(em.tensor(weight))

    def forward(self, x):
        cov = self.weight @ self.weight.mT + em.eye(3)
        log_det = 2 * em.diagonal(em.linalg.cholesky(cov)).log().sum()
        mahalanobis = (x * em.linalg.solve(cov, x.mT).mT).sum(-1)
        return 0.5 * (log_det + mahalanobis).mean() + 0.01 * em.linalg.eigvalsh(cov).sum()


def test_compiled_train_step_differentiates_factorizations_like_torch():
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((3, 3)).astype(np.float32) * 0.5
    x = rng.standard_normal((8, 3)).astype(np.float32)

    net = GaussianNLL(weight)
    model = em.compile(net, loss=None, optimizer=optim.SGD(net.parameters(), lr=0.1))
    logs = model.train_step(x)

    w = torch.tensor(weight, requires_grad=True)
    cov = w @ w.mT + torch.eye(3)
    xt = torch.tensor(x)
    log_det = 2 * torch.diagonal(torch.linalg.cholesky(cov)).log().sum()
    mahalanobis = (xt * torch.linalg.solve(cov, xt.mT).mT).sum(-1)
    tloss = 0.5 * (log_det + mahalanobis).mean() + 0.01 * torch.linalg.eigvalsh(cov).sum()
    tloss.backward()
    np.testing.assert_allclose(float(logs["loss"]), tloss.item(), rtol=1e-5)
    np.testing.assert_allclose(
        net.weight.numpy(), weight - 0.1 * w.grad.numpy(), rtol=1e-4, atol=1e-5
    )


def test_linalg_imports_and_traces_without_jax():
    """`ember.linalg` is frontend code: like `ember.nn`, it records ops and never needs JAX."""
    from test_graphdef_layering import _run

    out = _run(
        """
        import ember.graphdef as g
        import ember.linalg as la
        from ember.frontend.trace import trace_function

        graph, _ = trace_function(
            lambda a: la.pinv(a) + la.inv(a) + la.matrix_norm(a, "nuc"), (g.TensorSpec((3, 3)),)
        )
        assert {"svd", "solve"} <= {n.op for n in graph.nodes}
        assert not any(m == "jax" or m.startswith(("jax.", "optax")) for m in sys.modules)
        print("ok")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
