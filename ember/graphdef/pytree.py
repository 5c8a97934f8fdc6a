"""The one pytree utility: nested tuples, lists, dicts, namedtuples and None around leaves.

Used for model inputs and outputs, batches, control-flow bodies and captures, so
every part of ember agrees on what a structure is. A structure (`TreeDef`) is a
hashable value: two trees have equal structures iff they nest the same way.
Dict keys are sorted, as in JAX, so key order never changes a structure.

>>> leaves, treedef = tree_flatten({"x": (1, 2), "mask": None})
>>> leaves
[1, 2]
>>> tree_unflatten(treedef, ["a", "b"])
{'mask': None, 'x': ('a', 'b')}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

LEAF = "*"
TreeDef = Any  # LEAF | None | (kind, keys, children); kind is "tuple", "list", "dict" or a class


def _sorted_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:  # mixed key types: keep insertion order, still deterministic
        return tuple(d)


def is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, TreeDef]:
    """Leaves in order and a hashable structure; anything but a container is a leaf."""
    leaves: list = []
    return leaves, _flatten(tree, leaves, is_leaf)


def _flatten(tree: Any, leaves: list, is_leaf) -> TreeDef:
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return LEAF
    if tree is None:
        return None
    if isinstance(tree, dict):
        keys = _sorted_keys(tree)
        return ("dict", keys, tuple(_flatten(tree[k], leaves, is_leaf) for k in keys))
    if isinstance(tree, (tuple, list)):
        kind = type(tree) if is_namedtuple(tree) else type(tree).__name__
        if kind not in ("tuple", "list") and not is_namedtuple(tree):
            kind = "list" if isinstance(tree, list) else "tuple"
        return (kind, None, tuple(_flatten(v, leaves, is_leaf) for v in tree))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves: Sequence) -> Any:
    """The tree of `treedef` with `leaves` in order (the inverse of `tree_flatten`)."""
    it = iter(leaves)
    out = _build(treedef, it)
    if next(it, _END) is not _END:
        raise ValueError(f"too many leaves for structure {describe(treedef)}")
    return out


_END = object()


def _build(treedef: TreeDef, it: Iterator) -> Any:
    if treedef is None:
        return None
    if treedef == LEAF:
        value = next(it, _END)
        if value is _END:
            raise ValueError("too few leaves for the structure")
        return value
    kind, keys, children = treedef
    items = [_build(c, it) for c in children]
    if kind == "dict":
        return dict(zip(keys, items, strict=True))
    if kind == "tuple":
        return tuple(items)
    if kind == "list":
        return items
    return kind(*items)  # a namedtuple class


def tree_map(fn: Callable, tree: Any, *rest: Any, is_leaf=None) -> Any:
    """Apply `fn` to every leaf (of `tree` and the same-structured `rest`)."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for r in rest:
        r_leaves, r_def = tree_flatten(r, is_leaf)
        if r_def != treedef:
            raise ValueError(
                f"tree_map: structures differ: {describe(treedef)} vs {describe(r_def)}"
            )
        others.append(r_leaves)
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others, strict=True)])


def num_leaves(treedef: TreeDef) -> int:
    if treedef is None:
        return 0
    if treedef == LEAF:
        return 1
    return sum(num_leaves(c) for c in treedef[2])


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """A dotted path per leaf (`"0.mask"`, `"hidden.1"`): names for IR inputs and errors."""
    if treedef is None:
        return []
    if treedef == LEAF:
        return [prefix]
    kind, keys, children = treedef
    labels = keys if kind == "dict" else range(len(children))
    out = []
    for label, child in zip(labels, children, strict=True):
        out += leaf_paths(child, f"{prefix}.{label}" if prefix else str(label))
    return out


def describe(treedef: TreeDef) -> str:
    """A short readable form for error messages: `(T, {'mask': T})`."""
    if treedef is None:
        return "None"
    if treedef == LEAF:
        return "T"
    kind, keys, children = treedef
    parts = [describe(c) for c in children]
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(keys, parts, strict=True)) + "}"
    if kind == "list":
        return "[" + ", ".join(parts) + "]"
    name = "" if kind == "tuple" else kind.__name__
    return name + "(" + ", ".join(parts) + ("," if len(parts) == 1 and not name else "") + ")"
