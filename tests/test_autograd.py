"""Autograd on lazy tensors equals torch.autograd, with PyTorch's semantics and errors."""

import numpy as np
import pytest
import torch

import ember as em
from ember import nn

R = np.random.default_rng(1)
X = R.standard_normal((3, 4)).astype("float32")
W = R.standard_normal((4, 2)).astype("float32")
V = R.standard_normal((4,)).astype("float32")

# each: f(lib, x, w, v) -> scalar, differentiated w.r.t. x, w and v
EXPRESSIONS = {
    "sum_of_squares": lambda m, x, w, v: (x**2).sum(),
    "matmul_tanh": lambda m, x, w, v: m.tanh(x @ w).sum(),
    "broadcast_add": lambda m, x, w, v: ((x + v) ** 2).mean(),
    "broadcast_mul_reused": lambda m, x, w, v: (x * v * x).sum() + v.sum(),
    "reuse_twice": lambda m, x, w, v: (x @ w).sum() * (x @ w).mean(),
    "indexing_rows": lambda m, x, w, v: x[1:].sum() + x[0, 2] * 3,
    "advanced_index": lambda m, x, w, v: x[m.tensor([2, 0, 2])].pow(2).sum(),
    "gather_like": lambda m, x, w, v: m.gather(x, 1, m.tensor([[0], [3], [1]])).sum(),
    "softmax_ce": lambda m, x, w, v: -m.log_softmax(x @ w, 1)[:, 0].mean(),
    "relu_max": lambda m, x, w, v: m.relu(x).max() + x.abs().sum(),
    "sigmoid_exp": lambda m, x, w, v: (m.sigmoid(x) * m.exp(-v)).sum(),
    "division": lambda m, x, w, v: (x / (1.5 + v.abs())).sum(),
    "sqrt_clamp": lambda m, x, w, v: m.sqrt(x.abs() + 1).sum() + x.clamp(-0.5, 0.5).sum(),
    "transpose_view": lambda m, x, w, v: (x.t().reshape(2, 6) ** 2).sum(),
    "cat_stack": lambda m, x, w, v: m.cat([x, x * 2]).sum() + m.stack([v, v * v]).sum(),
    "where_branch": lambda m, x, w, v: m.where(x > 0, x * 2, x * x).sum(),
    "norm": lambda m, x, w, v: m.norm(x) + m.norm(v),
    "logsumexp": lambda m, x, w, v: m.logsumexp(x, 1).sum(),
    "var_mean": lambda m, x, w, v: x.var(1).sum() + x.mean(0).sum(),
    "outer_product": lambda m, x, w, v: (v.unsqueeze(1) * v.unsqueeze(0)).sum() * w.sum(),
    "cumsum": lambda m, x, w, v: x.cumsum(1).sum(),
    "detach_blocks": lambda m, x, w, v: (x * x.detach()).sum(),
    "layer_like": lambda m, x, w, v: ((x - x.mean(1, keepdim=True)) ** 2).sum() * w[0, 0],
}


def _grads(lib, fn):
    if lib is torch:
        ts = [torch.tensor(a, requires_grad=True) for a in (X, W, V)]
        fn(torch, *ts).backward()
        return [
            t.grad.numpy() if t.grad is not None else np.zeros_like(a)
            for t, a in zip(ts, (X, W, V), strict=True)
        ]
    ts = [em.tensor(a, requires_grad=True) for a in (X, W, V)]
    fn(em, *ts).backward()
    return [
        t.grad.numpy() if t.grad is not None else np.zeros_like(a)
        for t, a in zip(ts, (X, W, V), strict=True)
    ]


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_backward_matches_torch(name):
    fn = EXPRESSIONS[name]
    for got, want in zip(_grads(em, fn), _grads(torch, fn), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradients_accumulate_until_zeroed_and_retain_graph():
    x = em.tensor([1.0, 2.0], requires_grad=True)
    y = (x**2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(em.TraceError, match="backward through the graph a second time"):
        y.backward()
    # computed and freed: y keeps only a marker of its producer (no reference cycle), so
    # it is still no leaf, still names its op, and still refuses a second backward
    assert y.grad_fn == "sum" and not y.is_leaf
    with pytest.raises(em.TraceError, match="backward through the graph a second time"):
        (y * 2).backward()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_backward_after_item_still_works():
    x = em.tensor([1.0, -2.0], requires_grad=True)
    loss = (x**3).sum()
    assert loss.item() == -7.0
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_module_parameters_get_grads_like_torch():
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    tnet.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    x = R.standard_normal((6, 4)).astype("float32")
    y = R.integers(0, 2, 6)
    nn.CrossEntropyLoss()(net(x), y).backward()
    torch.nn.CrossEntropyLoss()(tnet(torch.tensor(x)), torch.tensor(y)).backward()
    for (name, p), (_, tp) in zip(net.named_parameters(), tnet.named_parameters(), strict=True):
        np.testing.assert_allclose(
            p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name
        )


def test_autograd_grad_and_higher_order():
    x = em.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x**3).sum()
    (g,) = em.autograd.grad(y, [x], create_graph=True)
    (gg,) = em.autograd.grad(g.sum(), [x])
    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (tg,) = torch.autograd.grad((tx**3).sum(), [tx], create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), [tx])
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-6)
    assert x.grad is None  # grad() does not accumulate into .grad


def test_gradient_of_intermediate_and_vector_jacobian_product():
    x = em.tensor(X, requires_grad=True)
    h = x @ em.tensor(W)
    loss = (h**2).sum()
    (gh,) = em.autograd.grad(loss, [h])
    np.testing.assert_allclose(gh.numpy(), 2 * (X @ W), rtol=1e-5)
    v = em.tensor(np.ones((3, 2), "float32"))
    y = em.tanh(x @ em.tensor(W))
    y.backward(v)
    tx = torch.tensor(X, requires_grad=True)
    torch.tanh(tx @ torch.tensor(W)).backward(torch.ones(3, 2))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


def test_no_grad_and_detach_stop_recording():
    x = em.tensor([1.0, 2.0], requires_grad=True)
    with em.no_grad():
        y = x * 2
    assert not y.requires_grad
    assert not x.detach().requires_grad

    @em.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    with em.no_grad():
        with em.enable_grad():
            assert (x * 2).requires_grad
    em.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    em.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_clear_errors():
    x = em.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(em.TraceError, match="only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(em.TraceError, match="does not require grad"):
        em.tensor([1.0]).sum().backward()
    y = x * 2
    assert y.grad is None and not y.is_leaf and x.is_leaf
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    lin = nn.Linear(2, 2)
    before = lin.weight.numpy().copy()
    em.optim.SGD(lin.parameters(), lr=0.1).step()  # no .grad anywhere: a no-op, as in torch
    np.testing.assert_array_equal(lin.weight.numpy(), before)
