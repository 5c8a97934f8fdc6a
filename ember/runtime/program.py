"""Programs: a function of module trees, traced, optimized and lowered once per signature.

This is ember's functional core. A `Program` is the pure JAX function

    program.lowered.fn(params, buffers, inputs, rng) -> (outputs, new_buffers)

of one traced graph, plus the structure of its outputs. Every way of running a
module builds on it: compiled train/eval/predict steps, `net(x)` on arrays and
`em.functionalize` / `em.func.functional_call`. `ProgramCache` traces each
distinct call signature once and logs every recompile with what changed.

A call's inputs are any pytree. `CallSignature.of(tree)` splits it into array
leaves (graph inputs, typed one by one) and static leaves (Python numbers,
strings, None: baked into the trace and part of the cache key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ember.compiler import LoweredGraph, lower, passes_for, run_passes
from ember.errors import TraceError
from ember.frontend.host_arrays import owned, staged
from ember.frontend.tensor import Tensor
from ember.frontend.trace import spec_of, trace_function
from ember.graphdef import Graph, TensorType
from ember.graphdef.pytree import TreeDef, describe, leaf_paths, tree_flatten, tree_unflatten
from ember.nn.module import Module
from ember.nn.parameter import to_numpy

from .stats import note_compile


def is_array(x: Any) -> bool:
    """Anything array-like with a shape and dtype (numpy, JAX, PyTorch, ember specs)."""
    return (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, TensorType)


_WIDE = (np.dtype(np.float64), np.dtype(np.int64))


def canonical_array(x: Any) -> Any:
    """Host arrays in JAX's default precision (float64 -> float32, int64 -> int32)."""
    if type(x) is np.ndarray and x.dtype not in _WIDE:  # the per-step common case
        return staged(x)  # a step runs after this returns: the caller may refill its array
    if isinstance(x, (jax.Array, TensorType)):
        return x
    if isinstance(x, Tensor):
        return x._array()
    arr = to_numpy(x)
    if not jax.config.jax_enable_x64:
        if arr.dtype == np.float64:
            return arr.astype(np.float32)
        if arr.dtype == np.int64:
            return arr.astype(np.int32)
    return owned(arr)  # a torch tensor's numpy view is the caller's memory too


_STATIC_TYPES = (bool, int, float, complex, str, bytes, type(None))


@dataclass(frozen=True)
class CallSignature:
    """What a traced call depends on: the input structure, its static leaves and leaf types."""

    treedef: TreeDef
    statics: tuple  # (leaf index, value) for every non-array leaf
    types: tuple[TensorType, ...]

    @staticmethod
    def of(tree: Any, keep_tensors: bool = False) -> tuple[CallSignature, list]:
        """The signature of `tree` and its array leaves (host arrays canonicalized;
        ember tensors stay tensors with `keep_tensors`, so nothing is computed)."""
        leaves, treedef = tree_flatten(tree)
        arrays, statics = [], []
        for i, leaf in enumerate(leaves):
            if keep_tensors and isinstance(leaf, Tensor):
                arrays.append(leaf)
            elif is_array(leaf):
                arrays.append(canonical_array(leaf))
            elif isinstance(leaf, _STATIC_TYPES):
                statics.append((i, leaf))
            else:
                raise TraceError(
                    f"input {describe(treedef)} holds a {type(leaf).__name__} at leaf {i}; "
                    "inputs are arrays (numpy, JAX, torch, ember tensors), Python numbers, "
                    "strings or None, nested in tuples, lists and dicts"
                )
        sig = CallSignature(treedef, tuple(statics), tuple(spec_of(a) for a in arrays))
        return sig, arrays

    def rebuild(self, arrays: Sequence) -> Any:
        """The input tree with `arrays` at the array leaves and the statics in place."""
        leaves: list = []
        it = iter(arrays)
        statics = dict(self.statics)
        for i in range(len(self.types) + len(self.statics)):
            leaves.append(statics[i] if i in statics else next(it))
        return tree_unflatten(self.treedef, leaves)

    def array_paths(self) -> list[str]:
        """The dotted path of each array leaf (`"0"`, `"1.mask"`), in order."""
        static_at = {i for i, _ in self.statics}
        return [p for i, p in enumerate(leaf_paths(self.treedef)) if i not in static_at]


@dataclass(frozen=True)
class Program:
    """A traced, optimized and lowered function: `lowered.fn` is pure JAX."""

    graph: Graph
    lowered: LoweredGraph
    out_tree: TreeDef


@contextlib.contextmanager
def traced_modes(roots: Sequence[Module], training: bool) -> Iterator[None]:
    """Trace in train or eval mode without disturbing the user's flags.

    Training keeps each submodule's own flag when the root is in train mode (a
    user may freeze a BatchNorm with `bn.eval()`); an eval-mode root, or
    `training=False`, puts the whole tree in that mode for the trace.
    """
    flags = [(m, m.training) for root in roots for m in root.modules()]
    if not training or not all(root.training for root in roots):
        for m, _ in flags:
            object.__setattr__(m, "training", training)
    try:
        yield
    finally:
        for m, flag in flags:
            object.__setattr__(m, "training", flag)


def build_program(
    fn: Callable[[Any], Any],
    signature: CallSignature,
    roots: Sequence[tuple[str, Module]],
    *,
    training: bool,
    names: Sequence[str],
    graph_name: str,
    extra_passes: Sequence[Callable] = (),
    structural_passes: Sequence[Callable] = (),
    mesh: Any = None,
) -> Program:
    """Trace `fn(inputs_tree)` for `signature` with the modes of `training`, then run the
    passes (plus `structural_passes` early, e.g. scan over layers, and `extra_passes`
    late, e.g. mixed precision, sharding annotations) and lower it
    (on `mesh`: the annotations become sharding constraints)."""

    def traced(*tensors):
        return fn(signature.rebuild(tensors))

    with traced_modes([m for _, m in roots], training):
        graph, out_tree = trace_function(
            traced, signature.types, modules=roots, names=names, graph_name=graph_name
        )
    passes = (*passes_for(training, structural_passes), *extra_passes)
    graph = run_passes(graph, passes)
    return Program(graph, lower(graph, mesh=mesh), out_tree)


class ProgramCache:
    """Programs by key; each new one is counted and its reason logged (what changed)."""

    def __init__(self, what: str):
        self.what = what
        self.programs: dict[Any, Any] = {}
        self.last: dict[str, tuple] = {}
        self.log: list[str] = []

    def __len__(self) -> int:
        return len(self.programs)

    def get(self, key: Any) -> Any:
        return self.programs.get(key)

    def adopt(self, key: Any, value: Any) -> None:
        """Store an entry built elsewhere (another module's equal program): not a compile."""
        self.programs[key] = value

    def add(self, key: Any, value: Any, kind: str, inputs: dict, context: dict) -> Any:
        """Store a new entry. `inputs` (name -> type text) is logged; `context` (static
        arguments, modes) only explains what changed since the previous `kind` entry."""
        reason = self._explain(kind, {**inputs, **context})
        self.programs[key] = value
        note_compile(f"{self.what}.{kind}", list(inputs.values()), reason)
        shown = ", ".join(f"{k}: {v}" for k, v in inputs.items())
        self.log.append(f"{kind} for ({shown}): {reason}")
        return value

    def _explain(self, kind: str, described: dict[str, str]) -> str:
        old = self.last.get(kind)
        self.last[kind] = tuple(described.items())
        if old is None:
            return "first call"
        old_d = dict(old)
        changes = [
            f"{k} changed from {old_d[k]} to {v}"
            for k, v in described.items()
            if k in old_d and old_d[k] != v
        ]
        added = [k for k in described if k not in old_d]
        removed = [k for k in old_d if k not in described]
        if added or removed:
            changes.append(
                "the input structure changed"
                + (f" (new: {', '.join(added)})" if added else "")
                + (f" (gone: {', '.join(removed)})" if removed else "")
            )
        return "; ".join(changes) or "new input structure"


def describe_inputs(signature: CallSignature, names: Sequence[str]) -> dict[str, str]:
    """Input name -> type text, for compile logs."""
    return {name: str(t) for name, t in zip(names, signature.types, strict=True)}


def describe_context(signature: CallSignature, view: Any = None) -> dict[str, str]:
    """Static arguments and module modes, for explaining recompiles."""
    paths = leaf_paths(signature.treedef)
    out = {f"static argument {paths[i]}": repr(v) for i, v in signature.statics}
    if view is not None:
        params, _, flags = view.signature
        for name, _, _, requires_grad, *hooks in params:
            out[f"{name}.requires_grad"] = str(requires_grad)
            if hooks:
                out[f"{name} gradient hooks"] = str(len(hooks))
        modules = [path for _, root in view.roots for path, _ in root.named_modules()]
        for path, flag in zip(modules, flags, strict=False):
            where = path or "<root>"
            if isinstance(flag, tuple):  # see `nn.settings.mode_key`
                flag, hooks, settings = flag
                out[f"{where} forward hooks"] = str(sum(map(len, hooks)))
                for name, mark in settings:
                    out[f"{where}.{name}"] = str(mark[-1])
            out[f"{where}.training"] = str(flag)
    return out
