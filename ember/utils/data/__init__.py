"""`ember.utils.data`: PyTorch's data API — datasets, samplers, `DataLoader` — yielding
ember tensors. A `torch.utils.data.DataLoader` also works wherever ember takes batches.

>>> loader = DataLoader(TensorDataset(em.tensor(x), em.tensor(y)), batch_size=64, shuffle=True)
>>> for inputs, labels in loader: ...
"""

from ember.utils.data.dataloader import DataLoader, default_collate
from ember.utils.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from ember.utils.data.distributed import DistributedSampler, get_worker_info
from ember.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "get_worker_info",
    "random_split",
]
