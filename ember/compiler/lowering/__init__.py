"""The lowering table: op name -> JAX rule `rule(ctx, *inputs, **attrs)`.

Each family file in this package owns a `RULES` dict; this module merges them
(every module here is discovered, so a new family is one new file). A test
asserts the table covers exactly the registered ops.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

LOWERING: dict[str, Callable] = {}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _family = importlib.import_module(f"{__name__}.{_info.name}")
    _rules = getattr(_family, "RULES", {})
    _overlap = set(LOWERING) & set(_rules)
    if _overlap:
        raise ValueError(f"ops lowered twice ({_info.name}): {sorted(_overlap)}")
    LOWERING.update(_rules)


def register_lowering(op: str, rule: Callable) -> None:
    """Add the JAX rule of an op registered elsewhere (one local change per op)."""
    if op in LOWERING:
        raise ValueError(f"op {op!r} already has a lowering")
    LOWERING[op] = rule
