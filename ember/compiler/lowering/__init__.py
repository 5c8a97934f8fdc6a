"""The lowering table: op name -> JAX rule `rule(ctx, *inputs, **attrs)`.

Each family file owns a `RULES` dict; this module merges them. A test asserts
the table covers exactly the registered ops.
"""

from __future__ import annotations

from collections.abc import Callable

from . import elementwise, linalg, nn, reduction, shape

LOWERING: dict[str, Callable] = {}
for _family in (elementwise, reduction, shape, linalg, nn):
    overlap = set(LOWERING) & set(_family.RULES)
    if overlap:
        raise ValueError(f"ops lowered twice: {sorted(overlap)}")
    LOWERING.update(_family.RULES)


def register_lowering(op: str, rule: Callable) -> None:
    """Add the JAX rule of an op registered elsewhere (one local change per op)."""
    if op in LOWERING:
        raise ValueError(f"op {op!r} already has a lowering")
    LOWERING[op] = rule
