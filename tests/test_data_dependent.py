"""Functions whose output size depends on values (`nonzero`, `argwhere`, `where(cond)`,
`masked_select`, `unique`, `unique_consecutive`) against torch outside a trace, the
gradient through `masked_select`, and the error that names the static form inside one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
from ember import nn

RNG = np.random.default_rng(0)
INPUTS = {
    "ints-2d": RNG.integers(-2, 3, (4, 5)).astype(np.int32),
    "floats-3d": np.round(RNG.standard_normal((2, 3, 4)), 1).astype(np.float32),
    "empty": np.zeros((0, 3), np.float32),
    "scalar": np.array(2.0, np.float32),
    "runs": np.array([1, 1, 2, 2, 2, 3, 1, 1], np.int32),
}


def _same(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _same(g, w)
        return
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.shape == tuple(want.shape)


@pytest.mark.parametrize("name", list(INPUTS))
def test_values_match_torch(name):
    x = INPUTS[name]
    a, t = em.tensor(x), torch.from_numpy(x)
    _same(em.nonzero(a), torch.nonzero(t))
    _same(a.nonzero(as_tuple=True), t.nonzero(as_tuple=True))
    _same(em.argwhere(a), torch.argwhere(t))
    if x.ndim:
        _same(em.where(a > 0), torch.where(t > 0))
    _same(em.masked_select(a, a > 0), torch.masked_select(t, t > 0))
    for kw in ({}, {"return_inverse": True}, {"return_counts": True}):
        _same(em.unique(a, **kw), torch.unique(t, **kw))
        _same(em.unique_consecutive(a, **kw), torch.unique_consecutive(t, **kw))
    if x.ndim >= 2 and x.size:
        for dim in (0, 1, -1):
            kw = {"dim": dim, "return_inverse": True, "return_counts": True}
            _same(em.unique(a, **kw), torch.unique(t, **kw))
            _same(em.unique_consecutive(a, **kw), torch.unique_consecutive(t, **kw))


def test_masked_select_broadcasts_and_its_gradient_reaches_the_selected_elements():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    row = np.array([True, False, True, True])
    a = em.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    (em.masked_select(a, em.tensor(row)) ** 2).sum().backward()
    (torch.masked_select(t, torch.from_numpy(row)) ** 2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_inside_a_traced_forward_the_error_names_the_static_form():
    class Net(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fc, self.fn = nn.Linear(3, 3), fn

        def forward(self, x):
            return self.fn(self.fc(x))

    x = em.tensor(np.ones((2, 3), np.float32))
    cases = {
        "nonzero": (lambda h: em.nonzero(h), "em.where"),
        "masked_select": (lambda h: em.masked_select(h, h > 0), "masked_fill"),
        "unique": (lambda h: h.unique(), "em.arange"),
        "unique_consecutive": (lambda h: h.unique_consecutive(), "mask of changes"),
    }
    for what, (fn, fix) in cases.items():
        model = em.compile(Net(fn))
        with pytest.raises(em.TraceError, match=f"{what}: the result's size depends.*{fix}"):
            model.predict_step(x)
    with pytest.raises(em.ShapeError, match="mask must be a bool tensor"):
        em.masked_select(x, x)
