"""Argument plumbing shared by conv, pooling and resampling functions."""

from __future__ import annotations

from typing import Any

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import emit


def ntuple(x: Tensor, value: Any, n: int, name: str, op: str) -> tuple[int, ...]:
    """PyTorch's `_ntuple`: an int repeats n times; a 1-tuple too; else exactly n ints."""
    if isinstance(value, (list, tuple)):
        vals = tuple(int(v) for v in value)
        if len(vals) == 1:
            vals *= n
        if len(vals) != n:
            raise x.builder.error(
                ShapeError(
                    f"{op}: {name} must be an int or a tuple of {n} ints, got {tuple(value)!r}"
                )
            )
        return vals
    return (int(value),) * n


def check_rank(x: Tensor, d: int, op: str, layout: str) -> bool:
    """Accept (C, *spatial) or (N, C, *spatial); True when the input is batched."""
    if x.ndim not in (d + 1, d + 2):
        raise x.builder.error(
            ShapeError(
                f"{op}: expected a {d + 1}-D (unbatched) or {d + 2}-D (batched) input "
                f"{layout}, got shape {x.shape}"
            )
        )
    return x.ndim == d + 2


def add_batch(x: Tensor, d: int, op: str, layout: str) -> tuple[Tensor, bool]:
    """Give an unbatched input a batch dim of 1 (removed again by `drop_batch`)."""
    if check_rank(x, d, op, layout):
        return x, False
    return x.reshape((1,) + x.shape), True


def drop_batch(y: Tensor, unbatched: bool) -> Tensor:
    return y.reshape(y.shape[1:]) if unbatched else y


def pad_spatial(x: Tensor, pads: tuple[int, ...], mode: str) -> Tensor:
    """Pad the trailing len(pads)//2 dims by (lo, hi) pairs, leading dims untouched."""
    lead = (0,) * (2 * (x.ndim - len(pads) // 2))
    return emit("pad", [x], pads=lead + tuple(pads), mode=mode, value=0.0)
