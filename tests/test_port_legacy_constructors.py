"""PyTorch's legacy constructors, as pytorch/examples gcn uses them:
`nn.Parameter(torch.Tensor(in, out))` then `nn.init.xavier_normal_`, `torch.FloatTensor(array)`,
`torch.LongTensor(array)`."""

import numpy as np
import pytest

import ember as em
import ember.nn as nn

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "args",
    [
        (3, 4),
        (5,),
        (),
        ([1, 2, 3],),
        ((2, 5),),
        ([[1.5, 2.0], [3.0, 4.0]],),
        (np.arange(6).reshape(2, 3),),
    ],
)
def test_tensor_legacy_constructor_matches_torch(args):
    ref = torch.Tensor(*args)
    out = em.Tensor(*args)
    assert isinstance(out, em.Tensor)
    assert tuple(out.shape) == tuple(ref.shape)
    assert str(out.dtype) == "float32" and ref.dtype == torch.float32
    if (
        ref.numel() and args and not all(isinstance(a, int) for a in args)
    ):  # data, not uninitialized
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_tensor_of_size_is_a_shape():
    assert em.Tensor(em.Size([2, 3])).shape == tuple(torch.Tensor(torch.Size([2, 3])).shape)


def test_parameter_of_legacy_tensor_then_init():
    class GraphConv(nn.Module):  # gcn/main.py
        def __init__(self, input_dim, output_dim):
            super().__init__()
            self.kernel = nn.Parameter(em.Tensor(input_dim, output_dim))
            nn.init.xavier_normal_(self.kernel)
            self.bias = nn.Parameter(em.Tensor(output_dim))
            nn.init.zeros_(self.bias)

        def forward(self, x, adj):
            return em.mm(adj, em.mm(x, self.kernel)) + self.bias

    layer = GraphConv(6, 4)
    assert layer.kernel.shape == (6, 4) and layer.bias.shape == (4,)
    std = float(layer.kernel.std().item())
    assert 0.1 < std < 1.5  # xavier_normal_: std = sqrt(2 / (6 + 4)) ~ 0.45
    x, adj = (
        np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)[0],
        np.eye(5, dtype=np.float32),
    )
    tl = torch.nn.Linear(6, 4)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(layer.kernel.numpy().T))
        tl.bias.zero_()
    np.testing.assert_allclose(
        layer(em.tensor(x), em.tensor(adj)).numpy(),
        tl(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_float_and_long_tensor():
    a = np.array([[0, 1, 1], [1, 0, 2]], dtype=np.int32)
    f, l_ = em.FloatTensor(a), em.LongTensor(a)
    rf, rl = torch.FloatTensor(a), torch.LongTensor(a)
    assert str(f.dtype) == "float32" and rf.dtype == torch.float32
    np.testing.assert_array_equal(f.numpy(), rf.numpy())
    np.testing.assert_array_equal(l_.numpy(), rl.numpy())
    assert str(l_.dtype) in ("int32", "int64")  # int64 without x64 is int32 (ember's integer rule)
    assert em.FloatTensor(2, 3).shape == tuple(torch.FloatTensor(2, 3).shape)


def test_internal_wrapping_unchanged():
    t = em.ones(2, 3)
    assert isinstance(t, em.Tensor) and isinstance(nn.Parameter(t), em.Tensor)
    np.testing.assert_array_equal((t * 2).numpy(), np.full((2, 3), 2.0, np.float32))
