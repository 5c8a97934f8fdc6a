"""Samplers with PyTorch's names: which indices, in which order, in which batches.

The random ones draw from `em.manual_seed`'s streams (or `seed=`), or from the
`em.Generator` given as `generator=`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np

from ember.frontend.generator import stream_of

_CHUNK = 1 << 16  # indices drawn at a time by samplers of huge passes


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


class _Seeded(Sampler):
    """A fresh random order per pass. Without a generator it comes from a seeded stream:
    `seed` (default: drawn from `em.manual_seed`) and the pass number determine it, so a
    run is reproducible and `set_epoch` replays a pass. With `generator=` (an
    `em.Generator`), each pass draws from that generator, advancing it as PyTorch does:
    re-seed it or `set_state` it to replay; the global stream is left alone."""

    def __init__(self, seed: int | None, generator, where: str):
        if generator is not None and seed is not None:
            raise ValueError(
                f"{where}: pass either generator= or seed=, not both; fix: seed the "
                "generator (em.Generator().manual_seed(seed))"
            )
        self.generator = generator
        self.epoch = 0
        # the generator's state when the current pass drew its order (to resume a pass)
        self.pass_start_state = None
        if generator is not None:
            stream_of(generator, where)  # reject anything but an em.Generator now
            self.seed = None
            return
        from ember.nn.parameter import host_generator

        self.seed = int(seed) if seed is not None else int(host_generator().integers(2**31))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _pass_stream(self) -> np.random.Generator:
        if self.generator is None:
            return np.random.default_rng([self.seed, self.epoch])
        self.pass_start_state = self.generator.get_state()
        return stream_of(self.generator, type(self).__name__)

    def __iter__(self):
        order = self.draw(self._pass_stream())
        self.epoch += 1
        return iter(order.tolist()) if isinstance(order, np.ndarray) else order


class RandomSampler(_Seeded):
    """Every index once per pass in a new random order (or `num_samples` draws with
    `replacement=True`).

    >>> sampler = RandomSampler(dataset, generator=em.Generator().manual_seed(0))
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples=None,
        generator=None,
        seed: int | None = None,
    ):
        super().__init__(seed, generator, "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples} (an empty dataset cannot be shuffled)"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def draw(self, rng: np.random.Generator) -> np.ndarray | Iterator[int]:
        """One pass's indices. Drawn in chunks, as PyTorch does, so a huge `num_samples`
        (an "infinite" loader) costs nothing up front; without replacement, as many whole
        permutations as fit, then part of one more (torch's semantics)."""
        n, total = len(self.data_source), self.num_samples
        if total <= _CHUNK:  # the common case: one array (the order earlier versions drew)
            if self.replacement:
                return rng.integers(0, n, total)
            if total <= n:
                return rng.permutation(n)[:total]
        return self._chunks(rng, n, total)

    def _chunks(self, rng: np.random.Generator, n: int, total: int) -> Iterator[int]:
        while total > 0:
            if self.replacement:
                part = rng.integers(0, n, min(_CHUNK, total))
            else:
                part = rng.permutation(n)[:total]
            total -= len(part)
            yield from part.tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_Seeded):
    """The given indices in a new random order each pass."""

    def __init__(self, indices, generator=None, seed: int | None = None):
        super().__init__(seed, generator, "SubsetRandomSampler")
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
        super().__init__(seed, generator, "WeightedRandomSampler")
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
