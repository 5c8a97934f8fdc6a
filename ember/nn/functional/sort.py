"""`sort`, `argsort`, `topk` with PyTorch's arguments and (values, indices) results."""

from __future__ import annotations

from collections import namedtuple

from ember.frontend.tensor import Tensor, tensor_method
from ember.nn.functional._core import as_tensor, emit

__all__ = ["sort", "argsort", "topk", "msort"]

SortResult = namedtuple("SortResult", ["values", "indices"])  # torch.return_types.sort
TopkResult = namedtuple("TopkResult", ["values", "indices"])  # torch.return_types.topk


@tensor_method()
def sort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """`torch.sort`: sorted values and their int32 indices along `dim` (always stable)."""
    x = as_tensor(input)
    values, indices = emit(
        "sort", [x], dim=int(dim), descending=bool(descending), stable=bool(stable)
    )
    return SortResult(values, indices)


@tensor_method()
def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(input, dim, descending, stable).indices


def msort(input) -> Tensor:
    return sort(input, 0).values


@tensor_method()
def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """`torch.topk`: the k largest (or smallest) values along `dim` and their indices.

    >>> values, idx = logits.topk(5)      # top-k sampling: keep the 5 best logits
    """
    x = as_tensor(input)
    values, indices = emit(
        "topk", [x], k=int(k), dim=int(dim), largest=bool(largest), sorted=bool(sorted)
    )
    return TopkResult(values, indices)
