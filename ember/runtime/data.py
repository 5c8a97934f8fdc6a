"""Batches from arrays (any pytree of them, sliced together) or from any iterable.

`fit(x, y)` slices `x` and `y` along their first axis together; each may be an
array, or a tuple/list/dict (nested) of arrays with the same number of examples.
An iterable (a `DataLoader`, ember's or PyTorch's, a list of batches, a
generator) yields batches as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ember.errors import ShapeError
from ember.frontend.host_arrays import aligned_take, frozen
from ember.graphdef.pytree import describe, tree_flatten, tree_unflatten
from ember.nn.parameter import to_numpy


def is_array(x: Any) -> bool:
    """Anything array-like with a shape and dtype (numpy, JAX, PyTorch, ember)."""
    return hasattr(x, "shape") and hasattr(x, "dtype")


def is_array_data(x: Any, y: Any = None) -> bool:
    """Arrays to slice (an array, or a tuple/dict of arrays; a list only next to targets),
    as opposed to an iterable of batches."""
    if is_array(x):
        return True
    if isinstance(x, (tuple, dict)) or (isinstance(x, list) and y is not None):
        leaves, _ = tree_flatten(x)
        return bool(leaves) and all(is_array(leaf) for leaf in leaves)
    return False


def num_examples(*trees: Any) -> int:
    """The common leading dimension of every array leaf (a clear error if they differ)."""
    sizes = {}
    for name, tree in zip(("x", "y", "sample_weight"), trees, strict=False):
        if tree is None:
            continue
        leaves, treedef = tree_flatten(tree)
        for k, leaf in enumerate(leaves):
            if not leaf.shape:
                raise ShapeError(f"{name} leaf {k} is 0-d; fix: give every input a batch axis")
            sizes[f"{name}[{k}]" if len(leaves) > 1 else name] = leaf.shape[0]
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise ShapeError(
            f"the arrays have different numbers of examples ({shown}); fix: pass arrays of "
            "equal length (first axis)"
        )
    return next(iter(sizes.values()), 0)


def _take(tree: Any, idx: Any) -> Any:
    if tree is None:
        return None
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [_own_batch(leaf, idx) for leaf in leaves])


def _own_batch(leaf: Any, idx: Any) -> Any:
    """A fresh gather is ember's own: read-only, so the step takes it without the copy a
    caller's array gets, and aligned, so XLA:CPU takes it without a copy of its own. A
    slice is a view of the caller's array (a callback may write it): the step copies it."""
    if type(leaf) is np.ndarray and isinstance(idx, np.ndarray):
        return aligned_take(leaf, idx)
    batch = leaf[idx]
    return frozen(batch) if getattr(batch, "base", None) is None else batch


def array_batches(
    x,
    y,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    drop_last: bool = False,
    sample_weight: Any = None,
    skip: int = 0,
) -> Iterator[tuple]:
    """Yield (x_batch, y_batch, weight_batch) slices; a seeded permutation per epoch when
    shuffling. `skip` batches are skipped (a resumed epoch)."""
    n = num_examples(x, y, sample_weight)
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for k, start in enumerate(range(0, stop, batch_size)):
        if k < skip:
            continue
        if order is None:
            idx = slice(start, min(start + batch_size, n))
        else:
            idx = np.sort(order[start : start + batch_size])  # sorted: contiguous-ish reads
        yield _take(x, idx), _take(y, idx), _take(sample_weight, idx)


def batch_count(x: Any, y: Any, batch_size: int, drop_last: bool) -> int:
    n = num_examples(x, y)
    return n // batch_size if drop_last else -(-n // batch_size)


def host(x: Any) -> Any:
    """Torch tensors become numpy (nested structures too); everything else is kept."""
    leaves, treedef = tree_flatten(x)
    return tree_unflatten(
        treedef,
        [to_numpy(v) if hasattr(v, "detach") and not hasattr(v, "value") else v for v in leaves],
    )


def split_item(item: Any, has_targets: bool) -> tuple:
    """An item of an iterable as (x, y, sample_weight) for a model with a loss, or
    (batch, None, None) for one that takes whole batches."""
    item = host(item)
    if not has_targets:
        return item, None, None
    if isinstance(item, dict) and ("x" in item or "input" in item):
        return (
            item.get("x", item.get("input")),
            item.get("y", item.get("target")),
            item.get("sample_weight"),
        )
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return item[0], item[1], (item[2] if len(item) == 3 else None)
    _, treedef = tree_flatten(item)
    raise ShapeError(
        f"a batch of {describe(treedef)} cannot be split into (inputs, targets); fix: yield "
        "(x, y) or (x, y, sample_weight) pairs, or compile with loss=None / a training_step "
        "to receive whole batches"
    )
