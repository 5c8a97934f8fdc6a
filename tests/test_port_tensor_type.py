"""PyTorch's `Tensor.type(dtype)` / `Tensor.type()`, as pytorch/examples language_translation
uses it (`torch.zeros((S, S)).type(torch.bool)`, `mask.type(torch.bool)` of a 0/-inf float mask,
`torch.ones(1, 1).fill_(s).type(torch.long)`); the IR type is `t.value.type`."""

import numpy as np
import pytest

import ember as em
import ember.nn as nn

torch = pytest.importorskip("torch")


def _square_subsequent_mask(lib, size):  # language_translation/src/data.py
    mask = (lib.triu(lib.ones((size, size))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)


def test_type_converts_like_torch():
    for size in (1, 4):
        ref = _square_subsequent_mask(torch, size).type(torch.bool)
        out = _square_subsequent_mask(em, size).type(em.bool)
        assert str(out.dtype) == "bool"
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    ys = em.ones(1, 1).fill_(2).type(em.long)
    np.testing.assert_array_equal(ys.numpy(), torch.ones(1, 1).fill_(2).type(torch.long).numpy())
    assert "int" in str(ys.dtype)
    z = em.zeros((3, 3)).type(em.bool)
    np.testing.assert_array_equal(z.numpy(), torch.zeros((3, 3)).type(torch.bool).numpy())


def test_type_names_like_torch():
    for dt, tdt in [("float32", torch.float32), ("int32", torch.int32), ("bool", torch.bool)]:
        assert em.zeros(2, dtype=dt).type() == torch.zeros(2, dtype=tdt).type()
    assert str(em.zeros(2).type("torch.LongTensor").dtype) in ("int32", "int64")


def test_the_ir_type_is_value_type():
    x = em.zeros((2, 3))
    assert x.value.type.shape == (2, 3) and str(x.value.type) == "f32[2,3]"


def test_type_inside_a_compiled_forward():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            keep = (x > 0).type(em.float32)  # inside a traced forward
            return self.lin(x * keep)

    net = Net()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    ref = torch.nn.Linear(4, 4)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(net.lin.weight.numpy()))
        ref.bias.copy_(torch.from_numpy(net.lin.bias.numpy()))
    tx = torch.from_numpy(x)
    np.testing.assert_allclose(
        net(x).numpy(),
        ref(tx * (tx > 0).type(torch.float32)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
