"""Samplers with PyTorch's names: which indices, in which order, in which batches."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np


class Sampler:
    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source: Sized):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new permutation per pass, from a seeded stream: `seed` (default: drawn from
    `em.manual_seed`) and the pass number determine it, so a run is reproducible and a
    resumed run can replay the same order (`set_epoch`)."""

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples=None,
        generator=None,
        seed: int | None = None,
    ):
        from ember.nn.parameter import host_generator

        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.seed = int(seed) if seed is not None else int(host_generator().integers(2**31))
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def permutation(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.data_source)
        if self.replacement:
            return rng.integers(0, n, self.num_samples)
        return rng.permutation(n)[: self.num_samples]

    def __iter__(self):
        order = self.permutation()
        self.epoch += 1
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of `batch_size`."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got {batch_size}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
