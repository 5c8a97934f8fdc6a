"""Datasets with PyTorch's names: `Dataset`, `TensorDataset`, `Subset`, `ConcatDataset`."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.errors import ShapeError
from ember.frontend.generator import stream_of
from ember.frontend.lazy import as_lazy


class Dataset:
    """Map-style dataset: define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Iterable-style dataset: define `__iter__()`."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _host(t: Any) -> np.ndarray:
    """The numpy array behind an ember tensor, a torch tensor or an array."""
    if hasattr(t, "detach") and hasattr(t, "cpu") and hasattr(t, "numpy"):
        try:
            return t.detach().cpu().numpy()  # torch
        except TypeError:
            pass
    return np.asarray(t)


class TensorDataset(Dataset):
    """Samples are tuples of the tensors' rows: `TensorDataset(x, y)[i] == (x[i], y[i])`.

    Tensors, numpy or torch arrays are accepted; they are kept as host arrays so a
    `DataLoader` slices whole batches at once.
    """

    def __init__(self, *tensors: Any):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.arrays = [_host(t) for t in tensors]
        n = len(self.arrays[0])
        bad = [a.shape for a in self.arrays if len(a) != n]
        if bad:
            shapes = [a.shape for a in self.arrays]
            raise ShapeError(
                f"Size mismatch between tensors: TensorDataset needs the same first dimension, "
                f"got shapes {shapes}"
            )

    @property
    def tensors(self) -> tuple:
        """The dataset's tensors (torch's attribute), over its host arrays."""
        return tuple(as_lazy(a) for a in self.arrays)

    def __getitem__(self, index):
        """A tuple of tensors, as torch's (`x, y = dataset[i]`; `x.size()`)."""
        return tuple(as_lazy(a[index]) for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class Subset(Dataset):
    """The samples of `dataset` at `indices`."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after the other."""

    def __init__(self, datasets: Sequence[Dataset]):
        self.datasets = list(datasets)
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1]) if self.cumulative_sizes else 0

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if k == 0 else int(self.cumulative_sizes[k - 1])
        return self.datasets[k][index - start]


def random_split(dataset: Dataset, lengths: Sequence[float | int], generator=None) -> list[Subset]:
    """Split into non-overlapping subsets of the given lengths (or fractions), shuffled by
    `em.manual_seed`'s stream or by `generator` (an `em.Generator`, which it advances).

    >>> train, val = random_split(dataset, [0.8, 0.2], generator=em.Generator().manual_seed(42))
    """
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-6:
        sizes = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        sizes = [int(x) for x in lengths]
    if sum(sizes) != n:
        raise ValueError(f"Sum of input lengths {sum(sizes)} does not equal the dataset size {n}")
    if generator is None:
        from ember.nn.parameter import host_generator

        rng = host_generator()
    else:
        rng = stream_of(generator, "random_split")
    order = rng.permutation(n)
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, order[start : start + size].tolist()))
        start += size
    return out
