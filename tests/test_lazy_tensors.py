"""Tensors outside a trace: lazy values computed as compiled programs, equal to PyTorch."""

import numpy as np
import pytest
import torch

import ember as em
from ember import nn
from ember.runtime.stats import COMPILES

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype("float32")
B = RNG.standard_normal((4,)).astype("float32")
IDX = np.array([2, 0, 1], "int64")

# (name, ember fn, torch fn) over (a, b) given as the library's own tensors
OPS = [
    ("add_broadcast", lambda m, a, b: a + b, None),
    ("mul_scalar", lambda m, a, b: a * 2.5 - 1, None),
    ("matmul", lambda m, a, b: a @ b, None),
    ("sum_dim", lambda m, a, b: a.sum(1, keepdim=True), None),
    ("mean", lambda m, a, b: a.mean(), None),
    ("max_dim", lambda m, a, b: a.max(0).values, None),
    ("argmax", lambda m, a, b: a.argmax(1), None),
    ("softmax", lambda m, a, b: m.softmax(a, 1), None),
    ("exp_log", lambda m, a, b: m.log(m.exp(a) + 1), None),
    ("where", lambda m, a, b: m.where(a > 0, a, b), None),
    ("cat", lambda m, a, b: m.cat([a, a * 2], 0), None),
    ("stack", lambda m, a, b: m.stack([b, b + 1]), None),
    ("reshape_t", lambda m, a, b: a.reshape(4, 3).t(), None),
    ("slice", lambda m, a, b: a[1:, ::2], None),
    ("int_index", lambda m, a, b: a[:, 1], None),
    ("adv_index", lambda m, a, b: a[m.tensor(IDX)], None),
    ("clamp", lambda m, a, b: a.clamp(-0.5, 0.5), None),
    ("cumsum", lambda m, a, b: a.cumsum(1), None),
    ("tril", lambda m, a, b: m.tril(m.ones(4, 4)), None),
    ("arange", lambda m, a, b: m.arange(2, 11, 3), None),
    ("linspace", lambda m, a, b: m.linspace(0, 1, 5), None),
    ("eye", lambda m, a, b: m.eye(3, 4), None),
    ("full", lambda m, a, b: m.full((2, 3), 7.0), None),
    ("zeros_like", lambda m, a, b: m.zeros_like(a) + 1, None),
    ("sort", lambda m, a, b: m.sort(a, 1).values, None),
    ("topk_idx", lambda m, a, b: m.topk(a, 2, 1).indices, None),
    ("argsort_desc", lambda m, a, b: m.argsort(b, descending=True), None),
]


def _inplace_ember(a, b):
    x = a.clone()
    x.add_(1).mul_(2)
    x[0] = 0.0
    x[:, 1] = b[:3]
    x += 1
    x.clamp_(max=3.0)
    return x


def _inplace_torch(a, b):
    x = a.clone()
    x.add_(1).mul_(2)
    x[0] = 0.0
    x[:, 1] = b[:3]
    x += 1
    x.clamp_(max=3.0)
    return x


@pytest.mark.parametrize("name,fn,_", OPS, ids=[o[0] for o in OPS])
def test_lazy_ops_match_torch(name, fn, _):
    got = fn(em, em.tensor(A), em.tensor(B))
    want = fn(torch, torch.tensor(A), torch.tensor(B))
    np.testing.assert_allclose(got.numpy(), want.numpy().astype(got.numpy().dtype), rtol=1e-5)
    assert tuple(got.shape) == tuple(want.shape)


def test_inplace_updates_match_torch():
    got = _inplace_ember(em.tensor(A), em.tensor(B))
    want = _inplace_torch(torch.tensor(A), torch.tensor(B))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_values_print_convert_and_compare_like_torch():
    t = em.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.dtype == em.float32 and t.dtype == "float32"
    assert t.sum().item() == 10.0 and float(t[1, 1]) == 4.0 and int(t[0, 1]) == 2
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert bool(t.sum() > 5) and not bool(t.sum() < 5)
    assert "tensor([[1., 2.]," in repr(t)
    assert em.tensor([1, 2]).dtype == em.int32 and em.tensor([True]).dtype == em.bool_
    assert em.from_numpy(np.arange(3.0)).dtype == "float32"  # default precision
    assert em.as_tensor(torch.ones(2)).sum().item() == 2.0
    assert np.asarray(t).shape == (2, 2)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t > 0)
    d = em.device("cuda:0")
    assert str(d) == "cuda:0" and t.to(d) is t and t.cuda() is t and not t.is_cuda
    assert em.cuda.is_available() is False


def test_a_chain_of_1000_ops_compiles_two_programs():
    x = em.tensor(np.ones(8, "float32"))
    before = COMPILES["lazy"]
    for i in range(1000):
        x = x * 1.001 + (0.001 if i % 2 else -0.001)
    value = x.sum().item()
    ref = np.ones(8, "float32")
    for i in range(1000):
        ref = ref * np.float32(1.001) + np.float32(0.001 if i % 2 else -0.001)
    # computed in pieces MAX_PENDING_DEPTH deep as it is recorded: every full piece has
    # the same structure (one program), then the last piece with the sum
    assert COMPILES["lazy"] == before + 2
    np.testing.assert_allclose(value, ref.sum(), rtol=1e-4)


def test_random_tensors_follow_manual_seed():
    em.manual_seed(7)
    a = em.rand(3, 3).numpy()
    b = em.randn(4).numpy()
    em.manual_seed(7)
    np.testing.assert_array_equal(em.rand(3, 3).numpy(), a)
    np.testing.assert_array_equal(em.randn(4).numpy(), b)
    assert not np.array_equal(em.rand(3, 3).numpy(), a)
    assert ((a >= 0) & (a < 1)).all()
    perm = em.randperm(10).numpy()
    assert sorted(perm.tolist()) == list(range(10))
    ints = em.randint(3, 9, (1000,)).numpy()
    assert ints.min() >= 3 and ints.max() < 9
    draws = em.multinomial(em.tensor([0.0, 0.0, 1.0]), 4, replacement=True).numpy()
    assert (draws == 2).all()
    z = em.randn(20000).numpy()
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


def test_init_idioms_of_public_models_work():
    class GPTBits(nn.Module):
        def __init__(self, n=8, d=4):
            super().__init__()
            # nanoGPT: a causal mask buffer, built with tensor ops in __init__
            self.register_buffer("bias", em.tril(em.ones(n, n)).view(1, 1, n, n))
            self.register_buffer("pos", em.arange(0, n))
            self.cls = nn.Parameter(em.zeros(1, 1, d))
            self.proj = nn.Linear(d, d)
            nn.init.normal_(self.proj.weight, mean=0.0, std=0.02)
            nn.init.zeros_(self.proj.bias.data)
            self.proj.weight.data.uniform_(-0.1, 0.1)

        def forward(self, x):
            att = x @ x.transpose(-2, -1)
            att = att.masked_fill(self.bias[0, 0] == 0, float("-inf"))
            return self.proj(em.softmax(att, -1) @ x) + self.cls[0]

    net = GPTBits()
    assert net.bias.shape == (1, 1, 8, 8) and net.bias.numpy()[0, 0, 0, 1] == 0.0
    assert net.pos.numpy().tolist() == list(range(8))
    w = net.proj.weight.numpy()
    assert np.abs(w).max() <= 0.1 and not np.allclose(w, 0)
    np.testing.assert_array_equal(net.proj.bias.numpy(), np.zeros(4))
    out = net(np.random.default_rng(0).standard_normal((2, 8, 4)).astype("float32"))
    assert out.shape == (2, 8, 4)
    sd = net.state_dict()
    assert set(sd) == {"bias", "pos", "cls", "proj.weight", "proj.bias"}
    with em.no_grad():
        net.proj.weight.copy_(em.zeros(4, 4))
    np.testing.assert_array_equal(net.proj.weight.numpy(), np.zeros((4, 4)))


def test_running_statistics_after_an_eager_forward_do_not_require_grad():
    bn = em.nn.BatchNorm1d(3)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    bn(x)
    assert not bn.running_mean.requires_grad and not bn.running_var.requires_grad
    torch_bn = torch.nn.BatchNorm1d(3)
    torch_bn(torch.from_numpy(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), torch_bn.running_mean.numpy(), rtol=1e-6)
