"""`DataLoader` with PyTorch's arguments, yielding ember tensors.

Batches are collated on the host (numpy) and wrapped as concrete ember tensors;
the first op on them moves them to the device inside the compiled program. A
`TensorDataset` is sliced a whole batch at a time (no per-sample Python work).
Shuffling is seeded (`em.manual_seed`, or `seed=`), one permutation per epoch, or
drawn from `generator=` (an `em.Generator`) at the start of each epoch;
`state_dict()` / `load_state_dict()` record the epoch and the position in it (and
the generator's state when that epoch began), so a resumed run sees exactly the
batches an uninterrupted one would.

`num_workers`, `pin_memory`, `prefetch_factor`, `persistent_workers`, `timeout`
and `worker_init_fn` are accepted; loading runs in the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ember.frontend.host_arrays import aligned_stack, aligned_take, frozen, owned
from ember.frontend.lazy import leaf, materialize
from ember.frontend.tensor import Tensor
from ember.utils.data.dataset import Dataset, IterableDataset, TensorDataset
from ember.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

_NARROW = {np.dtype(np.float64): np.dtype(np.float32), np.dtype(np.int64): np.dtype(np.int32)}


def _as_tensor(arr: np.ndarray) -> Tensor:
    arr = np.ascontiguousarray(arr, _NARROW.get(arr.dtype, arr.dtype))
    # a batch ember made (stacked, gathered) needs no copy; a view is the dataset's memory
    return leaf(frozen(arr) if arr.base is None else owned(arr))


def _gathered(array: Any, idx: np.ndarray) -> Tensor:
    """Rows `idx` of a TensorDataset's array, aligned (see `_stacked`)."""
    n = len(array)
    if (
        type(array) is not np.ndarray
        or idx.dtype.kind not in "iu"
        or (idx.size and (idx.min() < -n or idx.max() >= n))  # numpy's IndexError
    ):
        return _as_tensor(np.asarray(array[idx]))
    return leaf(aligned_take(array, idx, _NARROW.get(array.dtype, array.dtype)))


def _stacked(batch: Sequence[Any]) -> Tensor:
    """Samples stacked into one aligned batch of ember's own (XLA:CPU takes it in place)."""
    arrays = [np.asarray(b) for b in batch]
    dtype = np.result_type(*arrays)
    return leaf(aligned_stack(arrays, _NARROW.get(dtype, dtype)))


def _computed(sample: Any) -> Any:
    """Compute a sample's pending tensors now, one sample per program. A `__getitem__`
    built with tensor ops (`x[1:1 + len(ix)] = ix`, shapes set by the example) would
    otherwise join every sample of the batch in one lazy program, whose structure, and
    so a new compilation, changes with each batch's mix of examples; per sample, there
    is one program per kind of example."""
    pending = []
    stack = [sample]
    while stack:
        x = stack.pop()
        if isinstance(x, Tensor):
            if x._lazy() and x.value.data is None:
                pending.append(x.value)
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, Mapping):
            stack.extend(x.values())
    if pending:
        materialize(pending)
    return sample


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack samples into batch tensors, recursing into tuples, lists and dicts."""
    first = batch[0]
    if isinstance(first, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(s)) for s in zip(*batch, strict=True)))
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(s)) for s in zip(*batch, strict=True))
    if isinstance(first, (str, bytes)):
        return list(batch)
    return _stacked(batch)


class DataLoader:
    """`torch.utils.data.DataLoader`: batches of a dataset as ember tensors.

    >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    >>> for inputs, labels in loader:
    ...     ...
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        seed: int | None = None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.generator = generator
        self.iterable = isinstance(dataset, IterableDataset)
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            self.batch_size = None
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if self.iterable:
            self.sampler = None
        elif sampler is None:
            sampler = (
                RandomSampler(dataset, generator=generator, seed=seed)
                if shuffle
                else SequentialSampler(dataset)
            )
        self.sampler = sampler
        if batch_sampler is None and batch_size is not None and not self.iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_sampler = batch_sampler
        self._epoch_done = 0  # batches already yielded in the current epoch (for resume)
        self._skip = 0

    def __len__(self) -> int:
        if self.iterable:
            raise TypeError("an IterableDataset has no length")
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[Any]:
        if self.iterable:
            yield from self._iterable_batches()
            return
        skip, self._skip = self._skip, 0
        self._epoch_done = 0
        source = self.batch_sampler if self.batch_sampler is not None else self.sampler
        for k, indices in enumerate(source):
            if k < skip:
                self._epoch_done += 1
                continue
            self._epoch_done += 1
            yield self._fetch(indices)

    def _fetch(self, indices) -> Any:
        if self.batch_sampler is None:  # batch_size=None: samples one by one
            sample = self.dataset[indices]
            return self.collate_fn(sample) if self.collate_fn else sample
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:
            idx = np.asarray(indices)
            return tuple(_gathered(a, idx) for a in self.dataset.arrays)
        samples = [_computed(self.dataset[i]) for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def _iterable_batches(self) -> Iterator[Any]:
        collate = self.collate_fn or default_collate
        if self.batch_size is None:
            yield from self.dataset
            return
        batch = []
        for sample in self.dataset:
            batch.append(_computed(sample))
            if len(batch) == self.batch_size:
                yield collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield collate(batch)

    # -- resumable position --------------------------------------------------------------
    def state_dict(self) -> dict:
        """Epoch, shuffle seed and batches consumed in the current epoch (JSON-able); with
        a generator, also its state when the current epoch drew its order."""
        sampler = self.sampler
        state = {
            "epoch": int(getattr(sampler, "epoch", 0)) - (1 if self._epoch_done else 0),
            "seed": getattr(sampler, "seed", None),
            "batches_done": int(self._epoch_done),
        }
        generator = getattr(sampler, "generator", None)
        if generator is not None:
            start = sampler.pass_start_state if self._epoch_done else generator.get_state()
            state["generator_state"] = np.asarray(start).tolist()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue where `state` was taken: the next iteration replays that epoch's order
        and skips the batches already consumed."""
        sampler = self.sampler
        if hasattr(sampler, "seed") and state.get("seed") is not None:
            sampler.seed = int(state["seed"])
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(int(state["epoch"]))
        generator = getattr(sampler, "generator", None)
        if generator is not None and state.get("generator_state") is not None:
            generator.set_state(np.asarray(state["generator_state"], dtype=np.uint8))
        self._skip = int(state["batches_done"])
