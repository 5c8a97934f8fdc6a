"""A `cat` that grows at one line (a sampling loop's `idx = cat((idx, next), 1)`) runs on the
host, so the programs around it keep their shapes: checked against PyTorch."""

import numpy as np
import pytest
import torch

import ember as em
from ember import nn
from ember.errors import ShapeError
from ember.nn.functional import growing_concat
from ember.runtime.stats import compile_count


def _decoder(m, seed: int = 0):
    m.manual_seed(seed)
    return m.nn.Sequential(
        m.nn.Embedding(13, 8), m.nn.Linear(8, 16), m.nn.Tanh(), m.nn.Linear(16, 13)
    )


def _greedy(m, net, steps: int, window: int, counts: list | None = None):
    idx = m.zeros(1, 2, dtype=m.long)
    with m.no_grad():
        for _ in range(steps):
            logits = net(idx[:, -window:])[:, -1, :]
            idx = m.cat((idx, logits.argmax(dim=-1, keepdim=True)), dim=1)
            if counts is not None:
                counts.append(compile_count())
    return idx.numpy()


def test_a_greedy_decode_matches_torch_and_compiles_nothing_once_its_window_is_full():
    net_t = _decoder(torch)
    net = _decoder(em)
    net.load_state_dict({k: v.numpy() for k, v in net_t.state_dict().items()})
    counts: list = []
    ids = _greedy(em, net, 40, window=6, counts=counts)
    np.testing.assert_array_equal(ids, _greedy(torch, net_t, 40, window=6))
    # the window (idx[:, -6:]) is full from the fifth step on; once the steps recorded
    # before are computed, the growing idx is a host array and every step runs one program
    assert counts[-1] == counts[19], counts


def test_the_same_decode_run_again_compiles_nothing():
    """The second call of a decode loop starts a shorter sequence at the same line: it is
    a new sequence, not growth, so the cuts fall where the first call's did and every
    program is reused (before, the second call joined on the host from its first step and
    compiled new programs; only the third reused them)."""
    net_t = _decoder(torch)
    net = _decoder(em)
    net.load_state_dict({k: v.numpy() for k, v in net_t.state_dict().items()})
    first = _greedy(em, net, 12, window=64)
    before = compile_count()
    again = _greedy(em, net, 12, window=64)
    assert compile_count() == before
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, _greedy(torch, net_t, 12, window=64))


def test_sampling_draws_the_same_tokens_whether_cat_runs_on_the_host_or_not(monkeypatch):
    def sample():
        em.manual_seed(3)
        net = _decoder(em, seed=1)
        idx = em.zeros(1, 1, dtype=em.long)
        with em.no_grad():
            for _ in range(12):
                probs = em.softmax(net(idx[:, -4:])[:, -1, :], dim=-1)
                idx = em.cat((idx, em.multinomial(probs, num_samples=1)), dim=1)
        return idx.numpy()

    on_host = sample()
    monkeypatch.setattr(growing_concat, "MAX_HOST_ELEMENTS", 0)
    np.testing.assert_array_equal(sample(), on_host)


def test_a_growing_cat_promotes_dtypes_and_joins_views_like_torch():
    def grow(m):
        out = m.zeros(2, 1)
        base = m.arange(12, dtype=m.int32).reshape(2, 6)
        for k in range(4):
            out = m.cat([out, base[:, k : k + 2]], dim=1)  # a view, int32 into float32
        return out

    got, want = grow(em), grow(torch)
    assert (got.dtype, want.dtype) == (em.float32, torch.float32) and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    ints = em.arange(4, dtype=em.int32).reshape(2, 2)
    for n in (1, 2):  # bool into int32: int32, as torch
        ints = em.cat([ints, em.ones(2, n, dtype=em.bool)], dim=1)
    assert ints.dtype == em.int32
    np.testing.assert_array_equal(ints.numpy(), [[0, 1, 1, 1, 1], [2, 3, 1, 1, 1]])


def test_a_growing_cat_of_tensors_that_need_grad_stays_differentiable():
    def run(m):
        w = m.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        out = w[:, :1] * 2
        for k in range(1, 3):
            out = m.cat([out, w[:, k : k + 1] * (k + 1)], dim=1)
        (out**2).sum().backward()
        return out.detach().numpy(), w.grad.numpy()

    for got, want in zip(run(em), run(torch), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_growing_cat_with_mismatched_shapes_raises_embers_shape_error():
    a = em.zeros(2, 3)
    with pytest.raises(ShapeError, match=r"\(2, 3\), \(3, 2\)"):
        for b in (em.ones(2, 1), em.ones(2, 2), em.ones(3, 2)):  # grows, then mismatches
            em.cat([a, b], dim=1)


def test_large_or_fixed_shape_cats_stay_recorded_in_the_program():
    big = em.zeros(4, growing_concat.MAX_HOST_ELEMENTS // 4)
    for n in (1, 2):
        out = em.cat([big, em.ones(4, n)], dim=1)
        assert em.graph_of(out).nodes, "a large result is computed by the recorded op"
    for _ in range(2):
        fixed = em.cat([em.zeros(2, 2), em.ones(2, 2)], dim=0)
        assert em.graph_of(fixed).nodes, "a cat at a fixed shape stays in its program"
    np.testing.assert_array_equal(fixed.numpy(), np.r_[np.zeros((2, 2)), np.ones((2, 2))])


def test_a_module_forward_that_concatenates_is_traced_not_joined_on_the_host():
    class Grow(nn.Module):
        def forward(self, x):
            return em.cat([x, x * 2], dim=1)

    net = Grow()
    for n in (1, 2, 3):
        x = np.arange(2 * n, dtype=np.float32).reshape(2, n)
        np.testing.assert_array_equal(net(em.tensor(x)).numpy(), np.c_[x, 2 * x])
