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


class _Seeded(Sampler):
    """A seeded stream per pass, as `RandomSampler`'s (`set_epoch` replays a pass)."""

    def __init__(self, seed: int | None):
        from ember.nn.parameter import host_generator

        self.seed = int(seed) if seed is not None else int(host_generator().integers(2**31))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        order = self.draw(np.random.default_rng([self.seed, self.epoch]))
        self.epoch += 1
        return iter(order.tolist())


class SubsetRandomSampler(_Seeded):
    """The given indices in a new random order each pass."""

    def __init__(self, indices, generator=None, seed: int | None = None):
        super().__init__(seed)
        self.indices = list(indices)

    def draw(self, rng) -> np.ndarray:
        return np.asarray(self.indices)[rng.permutation(len(self.indices))]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_Seeded):
    """`num_samples` indices drawn with probability proportional to `weights`."""

    def __init__(
        self,
        weights,
        num_samples: int,
        replacement: bool = True,
        generator=None,
        seed: int | None = None,
    ):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got {num_samples}"
            )
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if weights.size == 0 or (weights < 0).any() or not np.isfinite(weights).all():
            raise ValueError("weights must be finite, non-negative and not empty")
        if not replacement and num_samples > int((weights > 0).sum()):
            raise RuntimeError(
                f"cannot draw {num_samples} samples without replacement from "
                f"{int((weights > 0).sum())} non-zero weights"
            )
        super().__init__(seed)
        self.weights, self.num_samples, self.replacement = weights, num_samples, replacement

    def draw(self, rng) -> np.ndarray:
        p = self.weights / self.weights.sum()
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p)

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
