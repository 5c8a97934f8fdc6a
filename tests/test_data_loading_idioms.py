"""Data-loading idioms of public PyTorch programs (karpathy/makemore, yunjey's
pytorch-tutorial): an "infinite"
loader built from `RandomSampler(replacement=True, num_samples=int(1e10))`, samplers
asked for more samples than the dataset holds, and a `Dataset.__getitem__` that builds
each example with tensor ops whose shapes depend on the example."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
from ember.utils.data import DataLoader, Dataset, RandomSampler, TensorDataset

WORDS = ["ab", "abcdef", "abc", "abcdefgh", "a", "abcd", "abcdefg", "abcde"] * 4
MAX_LEN = 8


def test_an_infinite_random_sampler_yields_its_first_batch_at_once():
    sampler = RandomSampler(range(10), replacement=True, num_samples=int(1e10))
    loader = iter(DataLoader(list(range(10)), batch_size=4, sampler=sampler))
    batch = next(loader)
    assert batch.shape == (4,) and ((0 <= batch.numpy()) & (batch.numpy() < 10)).all()
    assert len(sampler) == int(1e10)


def test_a_sampler_without_replacement_asked_for_more_samples_repeats_permutations():
    """torch: `num_samples // n` whole permutations, then part of one more."""
    for n, total in ((5, 12), (4, 8), (3, 2)):
        ours = list(RandomSampler(range(n), num_samples=total, seed=0))
        theirs = list(_torch_sampler(n, total))
        assert len(ours) == len(theirs) == total
        for start in range(0, total - total % n, n):
            assert sorted(ours[start : start + n]) == list(range(n))
        assert len(set(ours[total - total % n :])) == total % n


def _torch_sampler(n: int, total: int):
    return torch.utils.data.RandomSampler(range(n), num_samples=total)


class CharDataset(Dataset):
    """makemore's `CharDataset.__getitem__`, word lengths varying per example."""

    def __init__(self, lib):
        self.lib = lib

    def __len__(self):
        return len(WORDS)

    def __getitem__(self, i):
        lib = self.lib
        ix = lib.tensor([ord(c) - 96 for c in WORDS[i]], dtype=lib.long)
        x = lib.zeros(MAX_LEN + 1, dtype=lib.long)
        y = lib.zeros(MAX_LEN + 1, dtype=lib.long)
        x[1 : 1 + len(ix)] = ix
        y[: len(ix)] = ix
        y[len(ix) + 1 :] = -1
        return x, y


def test_examples_built_with_tensor_ops_compile_once_per_kind_not_per_batch():
    dataset = CharDataset(em)
    reference = CharDataset(torch)
    order = np.random.default_rng(0).permutation(len(WORDS))
    batches = [order[k : k + 2] for k in range(0, len(WORDS), 2)]
    kinds = {tuple(len(WORDS[i]) for i in b) for b in batches}
    assert len(kinds) > len(set(map(len, WORDS)))  # more mixes than word lengths
    loader = DataLoader(dataset, batch_sampler=[b.tolist() for b in batches])
    start = em.compile_count()
    for indices, (x, y) in zip(batches, loader, strict=True):
        want = [reference[i] for i in indices]
        np.testing.assert_array_equal(x.numpy(), np.stack([w[0].numpy() for w in want]))
        np.testing.assert_array_equal(y.numpy(), np.stack([w[1].numpy() for w in want]))
    # one program per word length (before samples were computed one by one: one per mix)
    assert em.compile_count() - start <= len(set(map(len, WORDS)))


def test_tensor_dataset_items_and_tensors_are_tensors_like_torch():
    images = np.arange(5 * 3 * 2, dtype=np.float32).reshape(5, 3, 2)
    labels = np.arange(5, dtype=np.int64)
    ours = TensorDataset(em.tensor(images), em.tensor(labels))
    theirs = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    (image, label), (t_image, t_label) = ours[3], theirs[3]
    assert tuple(image.size()) == tuple(t_image.size()) and label.dim() == t_label.dim() == 0
    assert int(label) == int(t_label) and f"{label}" == f"{t_label}"
    np.testing.assert_array_equal(image.numpy(), t_image.numpy())
    assert ours.tensors[0].size(0) == theirs.tensors[0].size(0) == 5


def test_shuffling_an_empty_dataset_is_an_error_like_torch():
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        torch.utils.data.DataLoader([], shuffle=True)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        DataLoader([], shuffle=True)


def test_fill_with_python_values_in_a_sampling_loop_compiles_once():
    """language_model's sampler: `input.fill_(word_id)` with a new id each step."""
    x, ref = em.zeros(1, 1, dtype=em.int32), torch.zeros(1, 1, dtype=torch.int32)
    x.fill_(1)
    x.sum().item()
    start = em.compile_count()
    for word in [3, 7, 11, 3, 5]:
        x.fill_(word)
        ref.fill_(word)
        assert x.sum().item() == ref.sum().item() == word
    assert em.compile_count() == start


def test_zero_dim_tensors_format_as_numbers_like_torch():
    for value in (11.0, 3, 0.125):
        ours, theirs = em.tensor(value), torch.tensor(value)
        assert f"{ours}" == f"{theirs}"
        assert f"{ours:.2f}" == f"{theirs:.2f}"
