"""`DistributedSampler` (each process of a multi-host job reads its own share of a
dataset) and `get_worker_info`, with PyTorch's names and index arithmetic.

>>> sampler = DistributedSampler(dataset, shuffle=True, seed=0)   # rank, world size: JAX's
>>> loader = DataLoader(dataset, batch_size=64, sampler=sampler)
>>> for epoch in range(epochs):
...     sampler.set_epoch(epoch)       # a new order every epoch, the same on every process
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy as np

from ember.utils.data.sampler import Sampler

__all__ = ["DistributedSampler", "get_worker_info"]


def get_worker_info() -> None:
    """`None`: ember's `DataLoader` loads in the calling process (no worker processes), which
    is what PyTorch returns in the main process, so `IterableDataset` code that splits
    work per worker reads everything."""
    return None


def _world() -> tuple[int, int]:
    from ember.distributed import process_count, process_index

    return process_count(), process_index()


class DistributedSampler(Sampler):
    """Indices `rank, rank + num_replicas, ...` of a (shuffled, padded or truncated) pass.

    As in PyTorch: without `drop_last` the pass is padded by repeating its first
    indices so every replica gets `ceil(len / num_replicas)`; with it, the tail is
    dropped. Shuffled orders depend on `seed + epoch` only (the same on every process)
    and differ from PyTorch's (a different generator); unshuffled ones are identical.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        world, index = _world()
        num_replicas = world if num_replicas is None else int(num_replicas)
        rank = index if rank is None else int(rank)
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"DistributedSampler: invalid rank {rank} for {num_replicas} replicas; fix: "
                "0 <= rank < num_replicas"
            )
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, int(seed), drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.Generator(np.random.PCG64(self.seed + self.epoch))
            indices = rng.permutation(n).tolist()
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            missing = self.total_size - len(indices)
            if missing > 0:
                indices += (indices * math.ceil(missing / len(indices)))[:missing]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples
