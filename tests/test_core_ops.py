"""Core op behaviour beyond the OpInfo samples: indexing placement rules, creation dtypes,
functional updates, Tensor method names, detach and buffer writes, each against PyTorch."""

import warnings

import jax
import numpy as np
import pytest
import torch
from opinfo import run_graph, trace_sample

import ember as em
from ember import nn
from ember.compiler import lower
from ember.errors import TraceError

rng = np.random.default_rng(0)
X = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
IDX = np.array([0, -1, 1], np.int32)
J = np.array([[0], [2]], np.int32)
T0 = np.array(1, np.int32)

INDEXING = {
    "x[i]": lambda x, i, j, t: x[i],
    "x[0, :, i]": lambda x, i, j, t: x[0, :, i],
    "x[:, i, :, i]": lambda x, i, j, t: x[:, i, :, i],
    "x[:, i, None, i]": lambda x, i, j, t: x[:, i, None, i],
    "x[None, i, i]": lambda x, i, j, t: x[None, i, i],
    "x[..., i, 0]": lambda x, i, j, t: x[..., i, 0],
    "x[:, i, 0, i]": lambda x, i, j, t: x[:, i, 0, i],
    "x[t, :, i]": lambda x, i, j, t: x[t, :, i],
    "x[:, t, i]": lambda x, i, j, t: x[:, t, i],
    "x[:, i, t, i]": lambda x, i, j, t: x[:, i, t, i],
    "x[:, j, i]": lambda x, i, j, t: x[:, j, i],
    "x[:, j, :, i]": lambda x, i, j, t: x[:, j, :, i],
    "x[j, 1:3, None, i, None]": lambda x, i, j, t: x[j % 2, 1:3, None, i, None],
    "x[t]": lambda x, i, j, t: x[t],
    "x[t, t]": lambda x, i, j, t: x[t, t],
    "x[1, j, ::2]": lambda x, i, j, t: x[1, j, ::2],
    "x[i, j]": lambda x, i, j, t: x[i % 2, j],
    "x[..., j]": lambda x, i, j, t: x[..., j],
}


@pytest.mark.parametrize("fn", INDEXING.values(), ids=INDEXING.keys())
def test_advanced_indexing_matches_torch(fn):
    args = (X, IDX, J, T0)
    got = run_graph(trace_sample(fn, args), args)[0]
    want = fn(
        *(torch.from_numpy(a).long() if a.dtype == np.int32 else torch.from_numpy(a) for a in args)
    )
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got, want.numpy())


def test_boolean_mask_raises_in_a_trace_and_setitem_is_functional():
    with pytest.raises(TraceError, match="boolean-mask indexing"):
        trace_sample(lambda x: x[x > 0], (X,))

    def put(x):
        x[0] = 1.0
        x[:, 1] = x[:, 2] * 2
        return x

    got = run_graph(trace_sample(put, (X,)), (X,))[0]
    want = X.copy()
    want[0] = 1.0
    want[:, 1] = want[:, 2] * 2
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # outside a trace the mask is known, so boolean indexing works like PyTorch's
    np.testing.assert_allclose(em.tensor(X)[em.tensor(X) > 0].numpy(), X[X > 0], rtol=1e-6)


def test_index_put_with_a_bool_mask_keeps_shapes_static():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    mask = x > 0
    fns = {
        "value": (
            lambda a, m: a.index_put((m,), em.tensor(0.5)),
            lambda a, m: a.index_put((m,), torch.tensor(0.5)),
        ),
        "accumulate": (
            lambda a, m: a.index_put((m,), em.tensor(2.0), accumulate=True),
            lambda a, m: a.index_put((m,), torch.tensor(2.0), accumulate=True),
        ),
        "row-mask": (
            lambda a, m: a.index_put((m[:, 0],), em.tensor([1.0, 2.0, 3.0, 4.0])),
            lambda a, m: a.index_put((m[:, 0],), torch.tensor([1.0, 2.0, 3.0, 4.0])),
        ),
    }
    for name, (efn, tfn) in fns.items():
        got = run_graph(trace_sample(efn, (x, mask)), (x, mask))[0]
        np.testing.assert_allclose(
            got, tfn(torch.from_numpy(x), torch.from_numpy(mask)).numpy(), err_msg=name
        )


@pytest.mark.parametrize(
    "make, ref",
    [
        (lambda: em.arange(5), lambda: torch.arange(5)),
        (lambda: em.arange(0, 1, 0.25), lambda: torch.arange(0, 1, 0.25)),
        (lambda: em.full((2,), 3), lambda: torch.full((2,), 3)),
        (lambda: em.full((2,), 3.5), lambda: torch.full((2,), 3.5)),
        (lambda: em.full((2,), False), lambda: torch.full((2,), False)),
        (lambda: em.zeros(2, dtype=em.int32), lambda: torch.zeros(2, dtype=torch.int32)),
        (lambda: em.linspace(0, 1, 4), lambda: torch.linspace(0, 1, 4)),
        (lambda: em.eye(2), lambda: torch.eye(2)),
        (lambda: em.tensor([1, 2]), lambda: torch.tensor([1, 2])),
        (lambda: em.tensor([1.0, 2.0]), lambda: torch.tensor([1.0, 2.0])),
        (lambda: em.ones(2, 3, device="cpu", requires_grad=False), lambda: torch.ones(2, 3)),
    ],
)
def test_creation_dtypes_follow_torch_with_int32(make, ref):
    graph = trace_sample(lambda a: make(), (np.zeros(1, np.float32),))
    got = run_graph(graph, (np.zeros(1, np.float32),))[0]
    want = ref().numpy()
    expected = np.int32 if want.dtype == np.int64 else want.dtype
    assert got.dtype == expected
    np.testing.assert_allclose(got, want.astype(expected), rtol=1e-6)


def test_new_and_like_keep_the_source_dtype():
    graph = trace_sample(
        lambda a: (a.new_zeros(2), em.ones_like(a), em.full_like(a, 2.5), a.new_full((1,), 7)),
        (np.zeros(3, np.int16),),
    )
    assert [v.type.dtype for v in graph.outputs] == ["int16"] * 4


def test_creation_outside_a_trace_is_lazy_and_computes():
    t = em.zeros(3) + em.arange(3)
    assert isinstance(t, em.Tensor) and t.shape == (3,)
    np.testing.assert_array_equal(t.numpy(), [0.0, 1.0, 2.0])


TORCH_METHODS = [
    "sum",
    "mean",
    "max",
    "min",
    "amax",
    "argmax",
    "std",
    "var",
    "norm",
    "prod",
    "all",
    "any",
    "logsumexp",
    "cumsum",
    "cumprod",
    "masked_fill",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "index_add",
    "index_put",
    "index_select",
    "gather",
    "take_along_dim",
    "new_zeros",
    "new_ones",
    "new_full",
    "new_empty",
    "new_tensor",
    "clamp",
    "clip",
    "clamp_min",
    "clamp_max",
    "where",
    "lerp",
    "nan_to_num",
    "isnan",
    "isinf",
    "isfinite",
    "exp2",
    "log2",
    "log10",
    "square",
    "sign",
    "reciprocal",
    "fmod",
    "remainder",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "repeat",
    "tile",
    "narrow",
    "roll",
    "flip",
    "tril",
    "triu",
    "unflatten",
    "split",
    "chunk",
    "expand",
    "movedim",
    "squeeze",
    "relu",
]


def test_tensor_has_torch_method_names():
    missing = [m for m in TORCH_METHODS if not hasattr(em.Tensor, m)]
    assert not missing, missing


def test_method_forms_match_torch():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    idx = np.array([[0, 1, 2, 0]], np.int32)

    def ours(a, i):
        return (
            a.sum(1),
            a.max(dim=1).values,
            a.max(1)[1],
            a.masked_fill(a > 0, 0.0),
            a.scatter_add(0, i, a[:1]),
            a.new_zeros(2, 2),
            a.min(),
            a.std(0, unbiased=False),
        )

    def theirs(a, i):
        return (
            a.sum(1),
            a.max(dim=1).values,
            a.max(1)[1],
            a.masked_fill(a > 0, 0.0),
            a.scatter_add(0, i, a[:1]),
            a.new_zeros(2, 2),
            a.min(),
            a.std(0, unbiased=False),
        )

    got = run_graph(trace_sample(ours, (x, idx)), (x, idx))
    want = theirs(torch.from_numpy(x), torch.from_numpy(idx).long())
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-6, atol=1e-6)


def test_masked_fill_keeps_the_input_dtype():
    x = np.array([1, 2, 3], np.int32)
    graph = trace_sample(lambda a: a.masked_fill(a > 1, 2.7), (x,))
    got = run_graph(graph, (x,))[0]
    want = torch.from_numpy(x).masked_fill(torch.from_numpy(x) > 1, 2.7).numpy()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_detach_blocks_the_gradient():
    x = rng.standard_normal((3,)).astype(np.float32)
    lowered = lower(trace_sample(lambda a: a * a.detach(), (x,)))
    grad = jax.grad(lambda a: lowered.fn([], [], [a], None)[0][0].sum())(x)
    np.testing.assert_allclose(grad, x, rtol=1e-6)  # d(a * stop(a))/da = stop(a)


def test_buffer_writes_in_forward_update_the_module():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", np.zeros((), np.float32))
            self.register_buffer("total", np.zeros(3, np.float32))

        def forward(self, x):
            self.calls = self.calls + 1
            self.total = self.total + x.sum(0)
            return x * self.calls  # reads the written value

    net = Counter()
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(net(x), x)
    np.testing.assert_allclose(net(x), 2 * x)
    assert float(net.calls) == 2.0
    np.testing.assert_allclose(net.total, [4.0, 4.0, 4.0])
    net.eval()
    net(x)
    assert float(net.calls) == 2.0  # eval mode drops buffer writes


def test_scatter_reduce_prod_gradient_matches_torch_with_zeros():
    x = np.array([[1.5, 0.0, 2.0], [0.5, 3.0, 0.0]], np.float32)
    src = np.array([[2.0, 0.0, 0.5], [0.0, 4.0, 1.5], [1.0, 2.0, 0.0]], np.float32)
    idx = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1]], np.int32)
    lowered = lower(trace_sample(lambda a, i, s: a.scatter_reduce(0, i, s, "prod"), (x, idx, src)))
    cot = rng.standard_normal((2, 3)).astype(np.float32)
    gx, gs = jax.grad(
        lambda a, s: (lowered.fn([], [], [a, idx, s], None)[0][0] * cot).sum(), argnums=(0, 1)
    )(x, src)
    tx, ts = torch.from_numpy(x).requires_grad_(), torch.from_numpy(src).requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (
            tx.scatter_reduce(0, torch.from_numpy(idx).long(), ts, "prod") * torch.from_numpy(cot)
        ).sum().backward()
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gs, ts.grad.numpy(), rtol=1e-6)
