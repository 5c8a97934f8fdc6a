"""`em.Generator` (PyTorch's `torch.Generator`): seeding and state like torch's, and honoured
by the data utilities and by random tensors outside a trace. PyTorch's numbers cannot be
reproduced (another RNG), so the contract checked is: the same seed gives the same draws,
different seeds different ones, `set_state` replays, and the global stream is untouched."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ember as em
from ember import nn
from ember.utils.data import (
    DataLoader,
    RandomSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)


def _gen(seed: int) -> em.Generator:
    return em.Generator().manual_seed(seed)


def test_seeding_api_matches_torch():
    ours, theirs = em.Generator(), torch.Generator()
    assert ours.initial_seed() == theirs.initial_seed()
    assert str(ours.device) == str(theirs.device) == "cpu"
    assert ours.manual_seed(7) is ours and ours.initial_seed() == 7
    for seed in (-1, -(2**63), 2**64 - 1, 0):
        assert ours.manual_seed(seed).initial_seed() == theirs.manual_seed(seed).initial_seed()
    new = ours.seed()
    assert isinstance(new, int) and ours.initial_seed() == new
    assert ours.seed() != new
    with pytest.raises(TypeError, match="expects an int"):
        ours.manual_seed(1.5)
    with pytest.raises(ValueError, match="outside"):
        ours.manual_seed(2**64)
    assert str(em.Generator("cuda:0").device) == "cuda:0"


def _draws(g: em.Generator) -> list[np.ndarray]:
    return [
        em.rand(3, generator=g).numpy(),
        em.randn(2, 2, generator=g).numpy(),
        em.randint(0, 100, (4,), generator=g).numpy(),
        em.randperm(6, generator=g).numpy(),
        em.normal(0.0, 1.0, (3,), generator=g).numpy(),
        em.multinomial(em.ones(5), 2, generator=g).numpy(),
    ]


def _same(a: list, b: list) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_random_tensors_follow_the_generator_and_leave_the_global_stream_alone():
    first = _draws(_gen(1))
    assert _same(first, _draws(_gen(1)))
    assert not _same(first, _draws(_gen(2)))
    em.manual_seed(0)
    expected = [em.rand(4).numpy(), em.randperm(5).numpy()]
    em.manual_seed(0)
    _draws(_gen(3))
    assert _same(expected, [em.rand(4).numpy(), em.randperm(5).numpy()])
    em.manual_seed(123)  # the global seed does not move the generator's stream
    assert _same(first, _draws(_gen(1)))


def test_get_state_and_set_state_replay():
    g = _gen(5)
    em.rand(2, generator=g)
    state = g.get_state()
    assert state.dtype == em.uint8 and state.ndim == 1
    ahead = _draws(g)
    assert not _same(ahead, _draws(g))
    g.set_state(state)
    assert _same(ahead, _draws(g))
    other = em.Generator().set_state(state)  # a state carries its seed and position
    assert other.initial_seed() == 5 and _same(ahead, _draws(other))
    saved = np.asarray(state).tolist()  # JSON-able
    g.set_state(saved)
    assert _same(ahead, _draws(g))
    with pytest.raises(ValueError, match="get_state"):
        g.set_state(np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="get_state"):
        g.set_state([1000] * len(saved))


def test_inside_a_trace_the_generator_is_accepted_and_not_consumed():
    g = _gen(0)

    class Noisy(nn.Module):
        def forward(self, x):
            return x + em.randn(x.shape, generator=g) * 0

    state = np.asarray(g.get_state()).copy()
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(Noisy()(x).numpy(), x)
    np.testing.assert_array_equal(np.asarray(g.get_state()), state)


def test_random_split_honours_the_generator():
    ds = TensorDataset(np.arange(20.0))

    def split(seed):
        return [s.indices for s in random_split(ds, [0.5, 0.3, 0.2], generator=_gen(seed))]

    assert split(4) == split(4) and split(4) != split(5)
    assert [len(s) for s in split(4)] == [10, 6, 4]
    assert sorted(sum(split(4), [])) == list(range(20))
    em.manual_seed(0)
    expected = random_split(ds, [10, 10])[0].indices
    em.manual_seed(0)
    split(9)
    assert random_split(ds, [10, 10])[0].indices == expected
    g = _gen(4)  # the generator advances: a second split differs, re-seeding replays
    a, b = random_split(ds, [10, 10], generator=g), random_split(ds, [10, 10], generator=g)
    assert a[0].indices != b[0].indices
    assert random_split(ds, [10, 10], generator=g.manual_seed(4))[0].indices == a[0].indices


def _order(loader) -> list[list[float]]:
    return [batch[0].numpy().tolist() for batch in loader]


def test_data_loader_shuffles_with_the_generator_like_torch():
    ds = TensorDataset(np.arange(12.0))
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=_gen(3))
    assert loader.generator is not None
    epochs = [_order(loader), _order(loader)]
    again = DataLoader(ds, batch_size=4, shuffle=True, generator=_gen(3))
    assert [_order(again), _order(again)] == epochs
    assert epochs[0] != epochs[1]  # the generator advances per epoch
    assert _order(DataLoader(ds, batch_size=4, shuffle=True, generator=_gen(4))) != epochs[0]
    g = _gen(3)  # re-seeding before each epoch replays that epoch, as in torch
    reseeded = DataLoader(ds, batch_size=4, shuffle=True, generator=g)
    assert _order(reseeded) == epochs[0] and _order(reseeded) == epochs[1]
    g.manual_seed(3)
    assert _order(reseeded) == epochs[0]
    em.manual_seed(0)
    plain = _order(DataLoader(ds, batch_size=4, shuffle=True))
    em.manual_seed(0)
    _order(DataLoader(ds, batch_size=4, shuffle=True, generator=_gen(8)))
    assert _order(DataLoader(ds, batch_size=4, shuffle=True)) == plain
    with pytest.raises(ValueError, match="either generator= or seed="):
        DataLoader(ds, shuffle=True, generator=_gen(0), seed=1)


def test_data_loader_resumes_mid_epoch_with_a_generator():
    ds = TensorDataset(np.arange(10.0))
    loader = DataLoader(ds, batch_size=3, shuffle=True, generator=_gen(11))
    _order(loader)
    it = iter(loader)
    next(it)
    state = json.loads(json.dumps(loader.state_dict()))
    rest = [b[0].numpy().tolist() for b in it] + [_order(loader)]
    fresh = DataLoader(ds, batch_size=3, shuffle=True, generator=_gen(99))
    fresh.load_state_dict(state)
    assert _order(fresh) + [_order(fresh)] == rest


def test_samplers_honour_the_generator():
    data = list(range(10))
    makers = {
        "random": lambda g: RandomSampler(data, generator=g),
        "replacement": lambda g: RandomSampler(data, True, 15, generator=g),
        "subset": lambda g: SubsetRandomSampler([1, 3, 5, 7, 9], generator=g),
        "weighted": lambda g: WeightedRandomSampler([1.0, 2.0, 0.0, 4.0], 8, generator=g),
        "weighted_once": lambda g: WeightedRandomSampler([1.0, 2.0, 3.0], 3, False, g),
    }
    for name, make in makers.items():
        passes = [list(make(_gen(seed))) for seed in range(4)]
        assert passes[0] == list(make(_gen(0))), name
        assert len({tuple(p) for p in passes}) > 1, name
        g = _gen(0)
        sampler = make(g)
        state = g.get_state()
        first, second = list(sampler), list(sampler)
        g.set_state(state)
        assert list(sampler) == first and list(sampler) == second, name
    assert sorted(makers["random"](_gen(0))) == data
    assert sorted(makers["subset"](_gen(0))) == [1, 3, 5, 7, 9]
    assert 2 not in list(makers["weighted"](_gen(0)))
    em.manual_seed(0)
    expected = list(RandomSampler(data))
    em.manual_seed(0)
    for make in makers.values():
        list(make(_gen(1)))
    assert list(RandomSampler(data)) == expected


def test_a_foreign_generator_is_named():
    with pytest.raises(TypeError, match="em.Generator"):
        RandomSampler(range(3), generator=torch.Generator())
    with pytest.raises(TypeError, match="em.Generator"):
        em.rand(2, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="em.Generator"):
        random_split(TensorDataset(np.arange(4.0)), [2, 2], generator=42)


def test_nn_init_takes_a_generator_like_torch():
    """`nn.init.*_(w, generator=g)` (torch 2.x): the same seed gives the same weights, each
    call advances the generator, the global seed stream is not touched."""
    from ember import nn

    def init_all(seed):
        g = em.Generator().manual_seed(seed)
        net = nn.Linear(5, 4)
        nn.init.kaiming_uniform_(net.weight, a=0.1, generator=g)
        first = np.asarray(net.weight).copy()
        nn.init.normal_(net.weight.data, 0.0, 0.5, generator=g)
        plain = em.zeros(3, 6)
        nn.init.trunc_normal_(plain, std=0.3, a=-0.4, b=0.4, generator=g)
        nn.init.orthogonal_(net.weight, generator=g)
        return first, np.asarray(plain), np.asarray(net.weight)

    a, b = init_all(3), init_all(3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(init_all(4)[0], a[0])
    assert np.abs(a[1]).max() <= 0.4 and a[1].std() > 0  # truncated at [a, b]
    q = a[2]
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)  # orthogonal rows
    bound = np.sqrt(6.0 / ((1 + 0.1**2) * 5))
    assert np.abs(a[0]).max() <= bound
    em.manual_seed(0)
    nn.Linear(5, 4)
    want = np.asarray(nn.Linear(5, 4).weight)
    em.manual_seed(0)
    first = nn.Linear(5, 4)
    nn.init.normal_(first.weight, generator=em.Generator().manual_seed(1))
    np.asarray(first.weight)  # drawn from its own generator only
    np.testing.assert_array_equal(np.asarray(nn.Linear(5, 4).weight), want)
    with pytest.raises(TypeError, match="nn.init.uniform_: generator must be an em.Generator"):
        nn.init.uniform_(em.zeros(2), generator=np.random.default_rng(0))
