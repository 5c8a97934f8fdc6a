"""`summary(module, *inputs)`: a Keras/torchinfo-style table of a module's calls.

>>> print(summary(net, em.TensorSpec((32, 1, 28, 28)), print_fn=None))

The module is traced once in eval mode on the given specs or arrays (no data is
computed); each submodule call during that trace becomes a row with its output
shape. Parameters are counted once each (shared modules and tied weights are not
double-counted) and FLOPs come from XLA's cost analysis of the compiled forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from ember.frontend.tensor import Tensor
from ember.frontend.trace import spec_of
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.graphdef.pytree import tree_flatten, tree_unflatten
from ember.graphdef.types import TensorType
from ember.nn.module import Module

from .program import CallSignature, Program, build_program, is_array

__all__ = ["summary", "summarize", "ModelSummary", "SummaryRow", "program_flops"]


@dataclass
class SummaryRow:
    """One call of a module during the trace (or a module that was never called)."""

    path: str  # state-dict-style path; "" for the root
    type: str
    depth: int  # call nesting: 0 for the root
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output: str = ""  # the output shape(s) as shown
    params: int = 0  # unique parameters attributed to this row (see `summarize`)
    own_params: int = 0  # parameters the module registers itself (first call only)
    # XLA's count for this call (its submodules included); None: not computed, nan: failed
    flops: float | None = None
    repeated: bool = False  # a later call of a module already listed
    called: bool = True
    module: Any = field(default=None, repr=False)
    inputs: Any = field(default=None, repr=False)  # (args, kwargs) with TensorType leaves


@dataclass
class ModelSummary:
    """What `summary` prints: `rows`, the totals and the formatted table (`str()`)."""

    name: str
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    param_bytes: int
    buffer_count: int
    buffer_bytes: int
    total_flops: float | None
    input_shapes: list[tuple[int, ...]]
    output: str

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        return _format(self)


# -- inputs ---------------------------------------------------------------------------------


def _spec(x: Any) -> Any:
    """A TensorType for an array-like leaf (in JAX's default precision); others as is."""
    if isinstance(x, TensorType):
        return x
    if is_array(x):
        t = spec_of(x)
        if not dtypes.x64_enabled():
            t = TensorType(t.shape, {"float64": "float32", "int64": "int32"}.get(t.dtype, t.dtype))
        return t
    return x


def _input_tree(inputs: Sequence[Any]) -> tuple:
    """Each input: a spec, an array, a shape tuple (float32) or a pytree of those."""
    out = []
    for x in inputs:
        if isinstance(x, tuple) and x and all(isinstance(d, int) for d in x):
            out.append(TensorType(tuple(x), dtypes.DEFAULT_FLOAT))
        else:
            leaves, treedef = tree_flatten(x)
            out.append(tree_unflatten(treedef, [_spec(leaf) for leaf in leaves]))
    return tuple(out)


def _types_of(tree: Any) -> Any:
    """A call's (args, kwargs) with each traced Tensor replaced by its TensorType."""
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(
        treedef, [leaf.value.type if isinstance(leaf, Tensor) else leaf for leaf in leaves]
    )


def _shapes(out: Any) -> tuple[list[tuple[int, ...]], str]:
    leaves, _ = tree_flatten(out)
    shapes = [tuple(leaf.shape) for leaf in leaves if isinstance(leaf, Tensor)]
    if len(shapes) == 1 and len(leaves) == 1:
        return shapes, _shape_text(shapes[0])
    if not leaves:
        return shapes, "None"
    shown = [_shape_text(tuple(x.shape)) if isinstance(x, Tensor) else "-" for x in leaves]
    return shapes, "[" + ", ".join(shown) + "]"


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


# -- tracing --------------------------------------------------------------------------------


def _record_calls(module: Module, tree: tuple, paths: dict[int, str]) -> tuple[Program, list]:
    """Trace `module(*tree)` in eval mode with `Module.__call__` wrapped to record each call."""
    rows: list[SummaryRow] = []
    stack: list[SummaryRow] = []
    original = Module.__call__

    def recording(self, *args, **kwargs):
        if current_builder() is None:
            return original(self, *args, **kwargs)
        path = paths.get(id(self))
        if path is None:  # a module outside the tree (created in forward)
            parent = stack[-1].path if stack else ""
            path = f"{parent}.<{type(self).__name__}>" if parent else f"<{type(self).__name__}>"
        row = SummaryRow(path, type(self).__name__, len(stack), module=self)
        row.inputs = _types_of((args, kwargs))
        rows.append(row)
        stack.append(row)
        try:
            out = original(self, *args, **kwargs)
        finally:
            stack.pop()
        row.output_shapes, row.output = _shapes(out)
        return out

    signature, _ = CallSignature.of(tree)
    Module.__call__ = recording
    try:
        program = build_program(
            lambda t: module(*t),
            signature,
            [("", module)],
            training=False,
            names=[f"input{i}" for i in range(len(signature.types))],
            graph_name=type(module).__name__,
        )
    finally:
        Module.__call__ = original
    return program, rows


def _call_program(module: Module, inputs: Any) -> Program:
    """The forward of one submodule call, traced alone (eval mode)."""
    signature, _ = CallSignature.of(inputs)
    return build_program(
        lambda t: module(*t[0], **t[1]),
        signature,
        [("", module)],
        training=False,
        names=[f"input{i}" for i in range(len(signature.types))],
        graph_name=type(module).__name__,
    )


def program_flops(program: Program) -> float:
    """XLA's FLOP count of a program's compiled forward (abstract inputs, nothing runs)."""
    import jax.numpy as jnp

    def specs(kind: str) -> list:
        return [
            jax.ShapeDtypeStruct(gi.value.type.shape, jnp.dtype(gi.value.type.dtype))
            for gi in program.graph.inputs
            if gi.kind == kind
        ]

    rng = specs("rng")
    compiled = (
        jax.jit(program.lowered.fn)
        .lower(specs("param"), specs("buffer"), specs("data"), rng[0] if rng else None)
        .compile()
    )
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per device program
        cost = cost[0] if cost else {}
    if not cost:
        return math.nan
    flops = cost.get("flops", 0.0)  # absent for programs with no arithmetic (a reshape)
    return float(flops) if flops >= 0 else math.nan


# -- the summary ----------------------------------------------------------------------------


def _param_size(p: Any) -> int:
    return int(np.prod(p.shape, dtype=np.int64))


def _itemsize(dtype: Any) -> int:
    import jax.numpy as jnp

    return jnp.dtype(str(getattr(dtype, "name", dtype)).replace("torch.", "")).itemsize


def summarize(
    module: Module, *inputs: Any, depth: int | None = None, flops: str = "module"
) -> ModelSummary:
    """The data behind `summary` (rows and totals); see `summary` for the arguments."""
    if not isinstance(module, Module):
        raise TypeError(f"summary expects an ember nn.Module, got {type(module).__name__}")
    if flops not in ("module", "total", "none"):
        raise ValueError(f"flops must be 'module', 'total' or 'none', got {flops!r}")
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be >= 0 or None, got {depth}")
    named = list(module.named_modules())
    paths = {id(m): p for p, m in named}
    tree = _input_tree(inputs)
    program, calls = _record_calls(module, tree, paths)

    # rows: every call within `depth`, then modules (within depth) that were never called
    seen: set[int] = set()
    for row in calls:
        row.repeated = id(row.module) in seen
        seen.add(id(row.module))
    limit = math.inf if depth is None else depth
    rows = [r for r in calls if r.depth <= limit]
    if not calls or calls[0].module is not module:  # the root is always the first row
        rows.insert(0, SummaryRow("", type(module).__name__, 0, module=module))
    for path, m in named:
        level = path.count(".") + 1 if path else 0
        if id(m) not in seen and level <= limit:
            rows.append(SummaryRow(path, type(m).__name__, level, called=False, module=m))
            rows[-1].output = "(not called)"
            seen.add(id(m))

    # parameters: each unique parameter once, on its first owner's first displayed row
    # (or, when that module is hidden by `depth`, on its nearest displayed ancestor's)
    first_row: dict[int, SummaryRow] = {}
    for row in rows:
        first_row.setdefault(id(row.module), row)
    by_path = dict(named)
    total = trainable = nbytes = 0
    counted: set[int] = set()
    for path, m in named:
        for p in m._parameters.values():
            if p is None or id(p) in counted:
                continue
            counted.add(id(p))
            n = _param_size(p)
            total += n
            trainable += n if p.requires_grad else 0
            nbytes += n * _itemsize(p.dtype)
            owner = first_row.get(id(m))
            if owner is not None:
                owner.own_params += n
            at = path
            while id(by_path[at]) not in first_row:
                at = at.rpartition(".")[0]
            first_row[id(by_path[at])].params += n
    buffer_count = buffer_bytes = 0
    for _, m in named:
        for b in m._buffers.values():
            if b is not None:
                buffer_count += int(np.prod(np.shape(b), dtype=np.int64))
                buffer_bytes += int(np.prod(np.shape(b), dtype=np.int64)) * _itemsize(b.dtype)

    # FLOPs: the whole forward, and each displayed call lowered on its own
    total_flops = None if flops == "none" else program_flops(program)
    if rows and rows[0].module is module and rows[0].called:
        rows[0].flops = total_flops
    if flops == "module":
        cache: dict[Any, float] = {}
        for row in rows[1:]:
            if not row.called or row.module is module:
                continue
            try:
                key = (id(row.module), CallSignature.of(row.inputs)[0])
            except Exception:  # noqa: BLE001 (an input that is not an array or a constant)
                row.flops = math.nan
                continue
            if key not in cache:
                try:
                    cache[key] = program_flops(_call_program(row.module, row.inputs))
                except Exception:  # noqa: BLE001 (a call that cannot be traced alone)
                    cache[key] = math.nan
            row.flops = cache[key]

    root_out = calls[0].output if calls and calls[0].module is module else ""
    return ModelSummary(
        name=type(module).__name__,
        rows=rows,
        total_params=total,
        trainable_params=trainable,
        param_bytes=nbytes,
        buffer_count=buffer_count,
        buffer_bytes=buffer_bytes,
        total_flops=total_flops,
        input_shapes=[tuple(t.shape) for t in CallSignature.of(tree)[0].types],
        output=root_out,
    )


def summary(
    module: Module,
    *specs_or_arrays: Any,
    depth: int | None = None,
    flops: str = "module",
    print_fn: Callable[[str], Any] | None = print,
) -> str:
    """A table of `module`'s submodule calls with output shapes, parameters and FLOPs.

    `specs_or_arrays` are the forward's inputs: `em.TensorSpec`s, arrays (only their
    shape and dtype are used), shape tuples (float32), or pytrees of these. The
    module is traced once in eval mode; each submodule call is a row (indented by call
    depth; `depth=k` shows k levels below the root, `depth=None` all of them), so a
    module called twice has two rows and a module never called is listed as such.

    - Params: each unique parameter counted once, on the row of the module that
      registers it (its first call); parameters of modules hidden by `depth` are
      counted on their nearest shown ancestor, so the column sums to the total. A
      weight shared by two modules counts for the first one (`named_modules` order).
    - FLOPs: XLA's cost analysis (`jax.jit(fn).lower(...).compile().cost_analysis()`)
      of the forward; a multiply-add counts as 2. The total is the whole forward's.
      With `flops="module"` (the default) each row is that call lowered and compiled
      on its own, inclusive of its submodules: rows do not add up to the total (XLA
      fuses and simplifies differently alone and in context, and parents include
      their children), so read them as per-module estimates. A call that cannot be
      traced alone (it reads another module's parameters) shows "?". `flops="total"`
      skips the per-row compiles (rows show "-"), `flops="none"` all of them.
      A later call of a module already listed shows "(reused)" for its params.
    - Totals: parameters, trainable and not, parameter bytes, buffers, FLOPs.

    The table is printed with `print_fn` (None: not printed) and returned.

    >>> summary(net, em.TensorSpec((32, 1, 28, 28)))
    """
    text = str(summarize(module, *specs_or_arrays, depth=depth, flops=flops))
    if print_fn is not None:
        print_fn(text)
    return text


# -- formatting -----------------------------------------------------------------------------


def _human(n: float | None, unit: str = "") -> str:
    if n is None:
        return "-"
    if isinstance(n, float) and math.isnan(n):
        return "?"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{int(n)}{unit}" if float(n).is_integer() else f"{n:.1f}{unit}"


def _bytes(n: int) -> str:
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n} B"


def _format(s: ModelSummary) -> str:
    header = ["Module", "Type", "Output shape", "Params", "FLOPs"]
    body = []
    for row in s.rows:
        name = row.path.rpartition(".")[2] if row.path else f"({s.name})"
        label = "  " * row.depth + name
        params = "(reused)" if row.repeated else f"{row.params:,}"
        body.append([label, row.type, row.output, params, _human(row.flops)])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    right = {3, 4}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "=" * len(line(["-" * w for w in widths]))
    inputs = ", ".join(_shape_text(t) for t in s.input_shapes)
    flops = _human(s.total_flops)
    exact = (
        "" if s.total_flops is None or math.isnan(s.total_flops) else f" ({int(s.total_flops):,})"
    )
    lines = [
        f'Model: "{s.name}"  inputs: {inputs}',
        rule,
        line(header),
        rule,
        *(line(r) for r in body),
        rule,
        f"Total params: {s.total_params:,} ({_bytes(s.param_bytes)})",
        f"Trainable params: {s.trainable_params:,}",
        f"Non-trainable params: {s.non_trainable_params:,}",
    ]
    if s.buffer_count:
        lines.append(f"Buffers: {s.buffer_count:,} values ({_bytes(s.buffer_bytes)})")
    lines.append(f"FLOPs (forward, XLA cost analysis): {flops}{exact}")
    lines.append(rule)
    return "\n".join(lines)
