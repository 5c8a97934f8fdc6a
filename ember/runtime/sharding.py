"""Where each array of a training run lives on a mesh: `ShardingPlan`.

`em.compile(net, ..., mesh=em.mesh(...), sharding=...)` makes one plan:

- `"dp"`: parameters, buffers and optimizer state replicated; the batch split over the
  mesh's data axes (`data`, `fsdp`).
- `"fsdp"` (ZeRO-3): every parameter (and its optimizer-state leaves) split over the
  `fsdp` axis (else `data`) on its largest dimension that divides; XLA all-gathers it
  per use and reduce-scatters its gradient.
- rules `{"*.attn.qkv.weight": ("model", None), ...}`: tensor parallel; a parameter's
  partition spec from the first pattern (fnmatch on its state-dict name) that matches;
  the rest as `"dp"`. `("fsdp", rules)` adds FSDP on the dimensions rules leave free.

Everything is checked against the parameters' shapes before anything compiles. The
plan places state (`place_*`), constrains what a step returns to the same layout, and
splits each batch; a compiler pass (`annotate_sharding`) writes the batch and
tensor-parallel layouts into the IR, where the printer shows them.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ember.errors import ShapeError

from .mesh import axis_size, data_axes

Spec = tuple  # per dimension: None, an axis name, or a tuple of axis names


class ShardingPlan:
    """The partition specs of a compiled model's parameters, buffers, optimizer state
    and batches on `mesh`."""

    def __init__(self, mesh: Mesh, sharding: Any, names: Sequence[str], shapes: Sequence):
        self.mesh = mesh
        self.strategy, rules = _parse(sharding)
        self.rules = tuple((str(k), _as_spec(v)) for k, v in rules.items())
        self.batch_axes = data_axes(mesh)
        self.batch_ways = axis_size(mesh, self.batch_axes)
        self.fsdp_axis = None
        if self.strategy == "fsdp":
            self.fsdp_axis = "fsdp" if "fsdp" in mesh.axis_names else "data"
            if self.fsdp_axis not in mesh.axis_names:
                raise ValueError(
                    f"sharding='fsdp' needs a 'fsdp' or 'data' mesh axis; the mesh has "
                    f"{list(mesh.axis_names)}; fix: em.mesh(fsdp=-1)"
                )
        self._check_rule_axes()
        self.tensor_parallel: dict[str, Spec] = {}
        self.param_specs = self._param_specs(list(names), [tuple(s) for s in shapes])
        self._replicated = NamedSharding(mesh, P())

    # -- parameters ---------------------------------------------------------------------
    def _check_rule_axes(self) -> None:
        for pattern, spec in self.rules:
            for entry in spec:
                for a in _axes_of(entry):
                    if a not in self.mesh.axis_names:
                        raise ValueError(
                            f"sharding rule {pattern!r}: {spec} names mesh axis {a!r}, the "
                            f"mesh has {list(self.mesh.axis_names)}; fix: rename the axis in "
                            f"the rule or build the mesh with it (em.mesh({a}=...))"
                        )

    def _param_specs(self, names: list[str], shapes: list[tuple]) -> dict[str, Spec]:
        used: set[str] = set()
        specs = {}
        for name, shape in zip(names, shapes, strict=True):
            spec = (None,) * len(shape)
            for pattern, rule in self.rules:
                if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase("." + name, pattern):
                    used.add(pattern)
                    spec = self._checked(name, shape, pattern, rule)
                    self.tensor_parallel[name] = spec
                    break
            if self.fsdp_axis is not None:
                spec = self._add_fsdp(shape, spec)
            specs[name] = spec
        unmatched = [p for p, _ in self.rules if p not in used]
        if unmatched:
            warnings.warn(
                f"sharding rules matched no parameter: {unmatched} (parameters are named like "
                f"{names[:3]}); those rules do nothing",
                stacklevel=4,
            )
        return specs

    def _checked(self, name: str, shape: tuple, pattern: str, spec: Spec) -> Spec:
        if len(spec) != len(shape):
            raise ShapeError(
                f"sharding rule {pattern!r} {spec} has {len(spec)} entries but parameter "
                f"{name} has shape {shape}; fix: one entry (axis name or None) per dimension"
            )
        for dim, (size, axes) in enumerate(zip(shape, spec, strict=True)):
            ways = axis_size(self.mesh, axes)
            if size % ways:
                raise ShapeError(
                    f"sharding rule {pattern!r} splits dimension {dim} of parameter {name} "
                    f"(shape {shape}) over mesh axis {axes!r} of size {ways}, which does not "
                    f"divide {size}; fix: change the rule or the mesh "
                    f"({dict(self.mesh.shape)})"
                )
        return spec

    def _add_fsdp(self, shape: tuple, spec: Spec) -> Spec:
        ways = self.mesh.shape[self.fsdp_axis]
        if any(self.fsdp_axis in _axes_of(entry) for entry in spec):
            return spec
        free = [d for d in range(len(shape)) if spec[d] is None and shape[d] % ways == 0]
        if not free:
            return spec  # small or odd-sized: replicated (a bias of 10, a scalar)
        dim = max(free, key=lambda d: (shape[d], -d))
        return tuple(self.fsdp_axis if d == dim else s for d, s in enumerate(spec))

    def sharding(self, spec: Spec) -> NamedSharding:
        return NamedSharding(self.mesh, P(*spec))

    def param_sharding(self, name: str) -> NamedSharding:
        return self.sharding(self.param_specs.get(name, ()))

    # -- placing state ------------------------------------------------------------------
    def place(self, value: Any, sharding: NamedSharding) -> jax.Array:
        """`value` (host or device) laid out by `sharding`; each process transfers only its
        own shards."""
        if isinstance(value, jax.Array) and value.sharding.is_equivalent_to(sharding, value.ndim):
            return value
        if jax.process_count() == 1:
            return jax.device_put(value, sharding)
        host = np.asarray(value)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    def place_param(self, name: str, param: Any) -> jax.Array:
        """A parameter in its layout. An undrawn one is drawn on the host (ember's numpy
        streams, so values do not depend on the mesh) and sent shard by shard."""
        return self.place(param._materialized(), self.param_sharding(name))

    def opt_state_shardings(self, opt_state: Any, specs: list[Spec], shapes: list) -> Any:
        """Each optimizer-state leaf that mirrors a parameter (moments, velocities) takes the
        parameter's layout; counts and scalars are replicated."""

        flat, treedef = jax.tree_util.tree_flatten_with_path(opt_state)
        children: dict[tuple, set] = {}
        for path, _ in flat:
            for depth in range(len(path)):
                children.setdefault(tuple(path[:depth]), set()).add(path[depth])

        def pick(path, leaf):
            # the outermost container with one entry per parameter holds the parameter index
            # (optax: `mu[i]`; ember's own rules: `slots[i][moment]`)
            for depth, key in enumerate(path):
                index = _index(key)
                if (
                    index is not None
                    and len(children[tuple(path[:depth])]) == len(specs)
                    and index < len(specs)
                    and tuple(np.shape(leaf)) == tuple(shapes[index])
                ):
                    return self.sharding(specs[index])
            return self._replicated

        return jax.tree_util.tree_unflatten(treedef, [pick(p, leaf) for p, leaf in flat])

    def place_tree(self, tree: Any, shardings: Any) -> Any:
        return jax.tree_util.tree_map(self.place, tree, shardings)

    def constrain(self, tree: Any, shardings: Any) -> Any:
        """Inside a step: keep `tree` in `shardings` (what the step returns keeps its layout)."""
        return jax.tree_util.tree_map(jax.lax.with_sharding_constraint, tree, shardings)

    # -- batches ------------------------------------------------------------------------
    def batch_spec(self, shape: tuple, axis: int = 0) -> Spec | None:
        """The spec of one batch leaf split on `axis`; None for one that does not divide."""
        if len(shape) <= axis or shape[axis] % self.batch_ways:
            return None
        spec = [None] * len(shape)
        spec[axis] = self.batch_axes if len(self.batch_axes) != 1 else self.batch_axes[0]
        return tuple(spec)

    def place_batch(self, arrays: list, axis: int = 0, strict: bool = True) -> list:
        """Split each array leaf of a batch over the data axes (global batch size). A
        leading axis that does not divide: an error when `strict` (training), else the
        leaf is replicated (the ragged tail of an evaluation)."""
        placed = []
        for k, a in enumerate(arrays):
            shape = tuple(np.shape(a))
            spec = self.batch_spec(shape, axis) if self.batch_axes else None
            if spec is None and strict and len(shape) > axis and self.batch_axes:
                raise ShapeError(
                    f"batch input {k} has {shape[axis]} examples (shape {shape}), which the "
                    f"{self.batch_ways} data-parallel devices (mesh axes {self.batch_axes}) "
                    f"cannot split evenly; fix: use a batch size that is a multiple of "
                    f"{self.batch_ways} (fit(..., drop_last=True) drops a ragged last batch)"
                )
            placed.append(self.place(a, self.sharding(spec) if spec else self._replicated))
        return placed


def _axes_of(entry: Any) -> tuple:
    """The mesh axes one spec entry names (None, an axis, or a tuple of axes)."""
    return (entry,) if isinstance(entry, str) else tuple(entry or ())


def _parse(sharding: Any) -> tuple[str, Mapping]:
    if sharding is None or sharding == "dp":
        return "dp", {}
    if sharding == "fsdp":
        return "fsdp", {}
    if isinstance(sharding, Mapping):
        return "dp", sharding
    if (
        isinstance(sharding, tuple)
        and len(sharding) == 2
        and sharding[0] in ("dp", "fsdp")
        and isinstance(sharding[1], Mapping)
    ):
        return sharding[0], sharding[1]
    raise ValueError(
        f"sharding must be 'dp', 'fsdp', a dict of rules {{pattern: spec}} or "
        f"('fsdp', rules); got {sharding!r}"
    )


def _as_spec(spec: Any) -> Spec:
    if isinstance(spec, P):
        spec = tuple(spec)
    if not isinstance(spec, (tuple, list)):
        raise ValueError(f"a sharding rule's spec is a tuple like ('model', None), got {spec!r}")
    return tuple(tuple(a) if isinstance(a, list) else a for a in spec)


def _index(key: Any) -> int | None:
    """The integer position a pytree path key names (a list index or a "3"-style key)."""
    if hasattr(key, "idx"):
        return int(key.idx)
    name = getattr(key, "key", None)
    return int(name) if isinstance(name, str) and name.isdigit() else None


def bytes_per_device(tree: Any) -> dict[str, int]:
    """Bytes each device holds of the arrays in `tree` (from their shards)."""
    out: dict[str, int] = {}
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array):
            for shard in leaf.addressable_shards:
                key = str(shard.device)
                out[key] = out.get(key, 0) + shard.data.nbytes
    return out


__all__ = ["ShardingPlan", "bytes_per_device"]
