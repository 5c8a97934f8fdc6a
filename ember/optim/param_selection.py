"""Build param groups by parameter/module name pattern or by module type.

Works with any module tree that offers torch's `named_modules()` (yielding
`(path, module)`) and `named_parameters()` (yielding `(dotted_name, param)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

Selector = str | type


def _name_matches(name: str, pattern: str) -> bool:
    """A glob matches the full name, the leaf name (`"bias"`), or an owning module path."""
    if fnmatchcase(name, pattern):
        return True
    parts = name.split(".")
    if fnmatchcase(parts[-1], pattern):
        return True
    return any(fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts)))


def _split(selectors: Selector | Iterable[Selector]) -> tuple[list[str], tuple[type, ...]]:
    if isinstance(selectors, (str, type)):
        selectors = (selectors,)
    patterns, types = [], []
    for s in selectors:
        if isinstance(s, str):
            patterns.append(s)
        elif isinstance(s, type):
            types.append(s)
        else:
            raise TypeError(f"a selector is a name pattern (str) or a module type, got {s!r}")
    return patterns, tuple(types)


def select_params(module: Any, selectors: Selector | Iterable[Selector]) -> list[tuple[str, Any]]:
    """The `(name, param)` pairs of `module` that any selector picks, in module order.

    A string is a glob (`fnmatch`, `*` crosses dots) tried on the parameter's
    dotted name, its leaf name and each owning module path, so `"bias"`,
    `"*.norm*"` and `"encoder"` (everything under it) all work. A type picks the
    parameters of every submodule that is an instance of it (children included).

    Example:
        >>> select_params(model, ("bias", nn.LayerNorm))
    """
    patterns, types = _split(selectors)
    by_type: set[int] = set()
    if types:
        for _, sub in module.named_modules():
            if isinstance(sub, types):
                by_type.update(id(p) for _, p in sub.named_parameters())
    return [
        (name, p)
        for name, p in module.named_parameters()
        if id(p) in by_type or any(_name_matches(name, pat) for pat in patterns)
    ]


def param_groups(
    module: Any,
    no_weight_decay: Selector | Iterable[Selector] = (),
    weight_decay: float = 1e-2,
    **options: Any,
) -> list[dict[str, Any]]:
    """Param groups with weight decay off for the parameters `no_weight_decay` selects.

    Returns `[{"params": decayed, "weight_decay": weight_decay, **options},
    {"params": not_decayed, "weight_decay": 0.0, **options}]`, leaving out an
    empty group. Parameters with `requires_grad=False` go in no group, so the
    optimizer leaves them unchanged. Selectors are as in `select_params`.

    Example:
        >>> groups = param_groups(model, no_weight_decay=("bias", nn.LayerNorm), weight_decay=0.05)
        >>> opt = AdamW(groups, lr=1e-3)
    """
    excluded = {id(p) for _, p in select_params(module, no_weight_decay)}
    decay, no_decay = [], []
    for _, p in module.named_parameters():
        if getattr(p, "requires_grad", True) is False:
            continue
        (no_decay if id(p) in excluded else decay).append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay, **options})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, **options})
    return groups
