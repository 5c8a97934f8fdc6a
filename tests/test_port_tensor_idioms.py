"""Small tensor idioms of ported programs, against PyTorch: alternative keyword spellings
(mamba-minimal's `x.split(split_size=[...], dim=-1)`, NumPy-style `probs.sum(axis=1,
keepdims=True)`), attributes set on tensors (BERT-pytorch), and the error of a Python
branch on a traced value (CaiT's layer dropout)."""

import numpy as np
import pytest
import torch

import ember as em

X = np.arange(12.0, dtype=np.float32).reshape(3, 4) - 5


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.sum(axis=1, keepdims=True),
        lambda t: t.mean(axis=0),
        lambda t: t.amax(axis=1, keepdims=True),
        lambda t: t.argmax(axis=1),
        lambda t: t.logsumexp(axis=1),
        lambda t: t.std(axis=0, keepdims=True),
        lambda t: t.cumsum(axis=1),
        lambda t: t.softmax(axis=-1),
        lambda t: t.max(axis=1).values,
    ],
)
def test_numpy_spellings_of_dim_and_keepdim(call):
    want = call(torch.tensor(X))
    got = call(em.tensor(X))
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-6, atol=1e-6)


def test_split_takes_pytorchs_split_size_keyword():
    for lib in (torch, em):
        parts = lib.tensor(X).split(split_size=[1, 3], dim=-1)
        assert [tuple(p.shape) for p in parts] == [(3, 1), (3, 3)]
        assert [tuple(p.shape) for p in lib.tensor(X).split(split_size=2)] == [(2, 4), (1, 4)]


def test_tensors_take_any_attribute_like_torch():
    """BERT-pytorch's `pe.require_grad = False` (a typo PyTorch accepts), tags on tensors."""
    for lib in (torch, em):
        t = lib.zeros(2)
        t.require_grad = False
        t.tag = "positions"
        assert (t.require_grad, t.tag) == (False, "positions")
        assert t.requires_grad is False


def test_a_python_branch_on_a_traced_value_suggests_drawing_with_random():
    """CaiT's layer dropout: `if not drop:` on a tensor drawn in forward."""

    class LayerDrop(em.nn.Module):
        def forward(self, x):
            return x if bool(em.rand(()) < 0.5) else x * 2

    with pytest.raises(em.TraceError, match="Python's `random`"):
        LayerDrop()(em.ones(2))
