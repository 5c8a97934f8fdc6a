"""Lazy tensors: ops outside a trace record into ember's IR and run only when needed.

A `Tensor` outside a traced forward holds a `LazyValue`: either a leaf with its
concrete array (`data`), or the result of a recorded `Node` whose operands are
other lazy values. Nothing runs op by op: when Python needs a value (`.item()`,
`.numpy()`, `print`, `bool`), the runtime's executor (installed in `EXECUTOR`)
collects the pending nodes (`collect`), compiles them as one program with the
same passes and lowering as every other graph (cached by the cut's structural
key, so a loop compiles once) and fills in the results. `optimizer.step()` is
the natural cut: forward, loss, backward and update of an iteration become one
donated XLA program.

Autograd is recorded too: values carry `requires_grad`; `backward()` turns the
slice of the graph between the loss and the leaves into a `grad` node whose
body is that slice (see `autograd.py`).

This module never imports JAX; the executor lives in `ember.runtime.lazy`.
"""

from __future__ import annotations

import itertools
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ember.errors import EmberError, TraceError, with_location
from ember.frontend.host_arrays import owned
from ember.frontend.tracer import user_frame, user_site
from ember.graphdef import dtypes
from ember.graphdef.ir import FrozenDict, Graph, GraphInput, Node, Source, Value
from ember.graphdef.registry import check_attr, get_op
from ember.graphdef.types import TensorType

# The runtime installs an object with `materialize(values)` (fills `value.data` for each).
EXECUTOR: list[Any] = [None]

# A chain of pending ops this deep, not needed for a gradient, is computed where it stands:
# a sampling loop that never reads a value (`idx = cat((idx, multinomial(probs, 1)), 1)`)
# would otherwise record one graph that grows every step and compile it, in superlinear
# time, only at the end (minGPT's generate(500): over 10 minutes and 14 GB).
MAX_PENDING_DEPTH = 64


class LazyValue(Value):
    """A value of the lazy graph: a leaf with `data`, or output `index` of `node`.

    A computed value keeps its `node` while it may still be differentiated
    (`requires_grad`), so `backward()` can walk through it after `.item()`.
    `owner` is a weak reference to the leaf `Tensor` whose `.grad` it feeds.
    """

    __slots__ = ("node", "index", "data", "requires_grad", "owner", "depth", "site")

    def __init__(self, type: TensorType, node=None, index: int = 0, data=None, requires_grad=False):
        super().__init__(type)
        self.node = node
        self.index = index
        self.data = data
        self.requires_grad = requires_grad
        self.owner = None
        self.depth = 0  # the longest chain of pending nodes ending here (`MAX_PENDING_DEPTH`)
        self.site = None  # where in the user's code the op that made it ran (`user_site`)

    @property
    def pending(self) -> bool:
        return self.data is None


# -- grad mode ---------------------------------------------------------------------------------

_grad = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_grad, "enabled", True)


def set_grad_enabled_flag(mode: bool) -> bool:
    old = is_grad_enabled()
    _grad.enabled = bool(mode)
    return old


# -- the recorder --------------------------------------------------------------------------------


class LazyRecorder:
    """Records ops on lazy tensors (the lazy counterpart of a trace's `GraphBuilder`)."""

    module_path = ""
    module_stack: list[str] = []
    module_paths: dict[int, str] = {}
    enclosing: tuple = ()
    input_kinds: dict = {}  # lazy values are plain data to control-flow bodies
    _salt_counts: dict = {}

    def __init__(self):
        # tensors created pending, in creation order (cut keys must not depend on set order)
        self.live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._count = itertools.count(1)
        self.recorded = 0  # number of the last recorded tensor
        self.synced = 0  # `recorded` when every live tensor was last computed
        self.pinned: list = []  # pending module buffers, kept until the next cut computes them
        self.stand_ins: dict = {}  # id(value) -> (weak value, the value a step computes instead)
        self.aliases: dict = {}  # id(value) -> (weak value, a value computing the same)
        # A loop records the same ops on the same types every iteration: their checked attrs
        # and inferred types are remembered (sub-graphs by identity, kept alive by the key).
        self._inference: dict = {}

    def track(self, tensor) -> None:
        """Count `tensor` (made outside `emit`, e.g. a `.grad`) among the live tensors, so the
        next cut computes it: a second optimizer's step after one `backward()` must not
        recompute the backward from parameters the first step donated."""
        self.recorded = next(self._count)
        self.live[self.recorded] = tensor

    def stand_in(self, value: LazyValue, needed: LazyValue) -> None:
        """When a cut computes live values only because they read arrays a step donates
        (another optimizer's `.grad`, accumulated as `old + g` by a GAN's G-step backward),
        it computes `needed` (g) in place of `value`: the cut keeps one structure whether
        or not a gradient was there to accumulate into (one compile, not two)."""
        self.stand_ins[id(value)] = (weakref.ref(value), needed)

    def replacing_stand_ins(self, values: list) -> list:
        if not self.stand_ins:  # the common step: nothing accumulated into another's .grad
            return values
        out = []
        for v in values:
            entry = self.stand_ins.get(id(v))
            out.append(entry[1] if entry is not None and entry[0]() is v else v)
        self.stand_ins = {k: e for k, e in self.stand_ins.items() if e[0]() is not None}
        return out

    def alias(self, value: LazyValue, same: LazyValue) -> None:
        """`same` computes `value` too (the loss, as `value_and_grad` returns it): a cut
        that computes both computes it once."""
        self.aliases[id(value)] = (weakref.ref(value), same)

    def replacing_aliases(self, values: list, computed: Sequence = ()) -> tuple[list, list]:
        """(`values` with each pending aliased value replaced by its alias where the cut
        computes the alias's op anyway (the gradients are among `values` or `computed`), the
        (value, alias) pairs to copy back once computed)."""
        self.aliases = {
            k: e for k, e in self.aliases.items() if e[0]() is not None and e[1].data is None
        }
        if not self.aliases:
            return values, []
        needed = pending_nodes([v for v in values if id(v) not in self.aliases] + list(computed))
        out, pairs = [], []
        for v in values:
            entry = self.aliases.get(id(v))
            same = entry[1] if entry is not None and entry[0]() is v else None
            if same is not None and v.data is None and id(same.node) in needed:
                out.append(same)
                pairs.append((v, same))
            else:
                out.append(v)
        return out, pairs

    def pin(self, tensor) -> None:
        """Keep `tensor` (a module's pending buffer update) in the next cut."""
        self.pinned.append(tensor)

    def pin_slot(self, value: Any) -> None:
        """A pending value written into a parameter or buffer slot (`ema.weight.lerp_(w)`
        under no_grad) is computed in the next cut, before any runner donates what it
        reads (`optimizer.step()` donates `w`)."""
        if isinstance(value, LazyValue) and value.data is None:
            self.pinned.append(_Slot(value))

    # -- what functional ops use ---------------------------------------------------------
    def source(self) -> Source:
        file, line = user_frame()
        return Source("", file, line)

    def error(self, error: EmberError) -> EmberError:
        return with_location(error, "", self.source().location)

    def emit(self, op: str, inputs: Sequence, attrs: dict | None = None, subgraphs=()) -> list:
        from ember.frontend.tensor import Tensor

        opdef = get_op(op)
        values = []
        for t in inputs:
            if not isinstance(t, Tensor):
                raise self.error(TraceError(f"{op}: operand {t!r} is not a tensor"))
            if t._view is not None:
                t._current()  # a view whose root changed is recomputed first
            v = t.value
            if not isinstance(v, LazyValue):
                raise self.error(
                    TraceError(
                        f"{op}: a tensor of a traced forward ({v.type}) is used outside it "
                        "(kept on a module in a compiled step's forward?); fix: return it from "
                        "forward, or use it inside the step (training_step)"
                    )
                )
            values.append(v)
        attrs = attrs if isinstance(attrs, FrozenDict) else FrozenDict(attrs or {})
        subgraphs = tuple(subgraphs)
        in_types = tuple(v.type for v in values)
        types = self._inferred(op, in_types, attrs, subgraphs)
        if types is None:
            for key, kind in opdef.attrs.items():
                if key not in attrs or not check_attr(kind, attrs[key]):
                    raise self.error(
                        TraceError(f"{op}: attr {key}={attrs.get(key)!r} is not a {kind}")
                    )
            try:
                extra = {"subgraphs": subgraphs} if subgraphs else {}
                types = opdef.infer(list(in_types), **attrs, **extra)
            except EmberError as e:
                raise self.error(e) from None
            self._remember(op, in_types, attrs, subgraphs, types)
        grad = opdef.differentiable and is_grad_enabled() and any(v.requires_grad for v in values)
        file, line, where = user_site()
        if where != _LAST_SITE[0]:  # control went back to the user's code in between
            _LAST_SITE[0], _LAST_SITE[1] = where, _LAST_SITE[1] + 1
        site = (where, _LAST_SITE[1])
        if not grad:
            _compute_loop_carried(values, site, types)
            if op == "call":
                _compute_earlier_calls(values, subgraphs)
        depth = 1 + max([v.depth for v in values if v.data is None], default=0)
        outs = tuple(
            LazyValue(t, None, i, None, grad and _floating(t)) for i, t in enumerate(types)
        )
        node = Node(op, tuple(values), attrs, outs, Source("", file, line), subgraphs)
        for v in outs:
            v.node = node
            v.depth = depth
            v.site = site
        tensors = [Tensor(v, self) for v in outs]
        for t in tensors:
            self.recorded = next(self._count)
            self.live[self.recorded] = t
        if depth > MAX_PENDING_DEPTH and not any(v.requires_grad for v in outs):
            materialize(list(outs))  # a loop that never reads a value (sampling) stays linear
        return tensors

    def _inferred(self, op, in_types, attrs, subgraphs):
        try:
            return self._inference.get((op, in_types, attrs, subgraphs))
        except TypeError:  # an unhashable attr: infer every time
            return None

    def _remember(self, op, in_types, attrs, subgraphs, types) -> None:
        if len(self._inference) > 100_000:
            self._inference.clear()
        try:
            self._inference[(op, in_types, attrs, subgraphs)] = tuple(types)
        except TypeError:
            pass

    def rng_tensor(self):
        """A fresh key for one random op outside a trace: (seed, draw number) as key data."""
        from ember.nn.parameter import initial_seed, next_draw

        seed = initial_seed()
        return leaf(_key_data(seed, next_draw()), requires_grad=False)

    def salt(self) -> int:
        return 0  # every lazy random op already has its own key

    def param_tensor(self, param):
        return param

    def buffer_tensor(self, module, name: str):
        return None


# (user_site's place of the last op recorded, a counter of changes of that place): ops of
# one call of ember (a composite op, `backward()`) share a place and a count
_LAST_SITE: list = [None, 0]


def user_code_ran() -> None:
    """Note that the user's code ran since the last recorded op (a read computed on the
    host, `xs[t]`): the next op starts a new pass even at the same place."""
    _LAST_SITE[0] = None


def _compute_loop_carried(values: list, site: tuple, types: Sequence) -> None:
    """Compute the pending inputs that this same operation of the user's code made on an
    earlier pass and that it now replaces with a value of the same type (`total += loss`
    in an evaluation loop, `h = cell(x[t], h)` under no_grad), when no gradient needs them.
    Each pass of the loop then becomes one cut of the same structure, compiled once,
    instead of a pending graph that grows by a whole forward per pass."""
    where, count = site
    if where is None:
        return
    carried = [
        v
        for v in values
        if v.site is not None
        and v.site[0] == where
        and v.site[1] != count
        and v.data is None
        and not v.requires_grad
        and v.type in types
    ]
    if carried:
        materialize(carried)


def _compute_earlier_calls(values: list, subgraphs: tuple) -> None:
    """A module call (no gradient) whose pending inputs came through an earlier call of
    the same traced forward (a diffusion sampler's `x = update(model(x, t))`, a fixed-window
    `generate`): compute those inputs first, so each pass of the loop is one cut with one
    forward, of the same structure every pass, compiled once and reused by the next run of
    the loop, rather than `MAX_PENDING_DEPTH` cuts that unroll a dozen forwards into one
    long compile. (Calls on inputs that grow every pass trace a new forward per length;
    there the depth limit's longer cuts compile less in all.)"""
    pending = [v for v in values if v.data is None and not v.requires_grad]
    if not pending:
        return
    nodes = pending_nodes(pending).values()
    if any(n.op == "call" and n.subgraphs == subgraphs for n in nodes):
        materialize(pending)


def pending_nodes(values: Sequence[LazyValue], strict: bool = False) -> dict[int, Node]:
    """The pending nodes that `values` need, by id (`strict`: a pending input without a
    producer is an internal error)."""
    found: dict[int, Node] = {}
    stack = [v.node for v in values if v.data is None and v.node is not None]
    while stack:
        node = stack.pop()
        if id(node) in found:
            continue
        found[id(node)] = node
        for v in node.inputs:
            if v.data is None:
                if v.node is None:
                    if strict:
                        raise TraceError(f"internal: a pending lazy value {v.type} has no producer")
                elif id(v.node) not in found:
                    stack.append(v.node)
    return found


def _floating(t: TensorType) -> bool:
    """Whether values of this type carry gradients (complex ones between real tensors too)."""
    return t.dtype in ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")


def _key_data(seed: int, draw: int):
    high = zlib.crc32(f"ember-seed-{seed}".encode()) & 0xFFFFFFFF
    return np.array([high, draw & 0xFFFFFFFF], dtype=np.uint32)


RECORDER = LazyRecorder()


def leaf(data: Any, requires_grad: bool = False, dtype: str | None = None):
    """A concrete tensor holding `data` (a numpy or backend array)."""
    from ember.frontend.tensor import Tensor

    dt = dtypes.canonical(dtype or getattr(data.dtype, "name", str(data.dtype)))
    value = LazyValue(TensorType(tuple(data.shape), dt), data=data, requires_grad=requires_grad)
    tensor = Tensor(value, RECORDER)
    if requires_grad:
        value.owner = weakref.ref(tensor)
    return tensor


# -- collecting a cut ------------------------------------------------------------------------------


class Cut:
    """The pending nodes that compute `targets`, in topological order, and their inputs.

    `key` is structural (ops, attrs, wiring, input types, and the sub-graphs themselves,
    compared by identity and kept alive by the key, so an id is never reused): two
    iterations of a loop give equal keys, so the program compiles once.
    """

    __slots__ = ("targets", "nodes", "inputs", "key")

    def __init__(self, targets, nodes, inputs, key):
        self.targets, self.nodes, self.inputs, self.key = targets, nodes, inputs, key

    def graph(self, name: str = "lazy") -> Graph:
        graph_inputs = tuple(GraphInput("data", f"in{i}", v) for i, v in enumerate(self.inputs))
        return Graph(graph_inputs, tuple(self.nodes), tuple(self.targets), (), name)


def collect(targets: Sequence[LazyValue]) -> Cut:
    """The nodes needed for the pending `targets`, topologically sorted (iteratively:
    chains of thousands of ops are fine), their inputs, and the structural key."""
    # 1. the nodes reachable through pending values
    members = pending_nodes(targets, strict=True)
    # 2. topological order; a computed input whose producer is a member is an edge too
    nodes: list[Node] = []
    done: set[int] = set()
    for root in list(members.values()):
        if id(root) in done:
            continue
        work = [(root, False)]
        while work:
            node, expanded = work.pop()
            if expanded:
                if id(node) not in done:
                    done.add(id(node))
                    nodes.append(node)
                continue
            if id(node) in done:
                continue
            work.append((node, True))
            for v in reversed(node.inputs):
                producer = v.node
                if producer is not None and id(producer) in members and id(producer) not in done:
                    work.append((producer, False))
    # 3. inputs, wiring and the key
    inputs: list[LazyValue] = []
    ref: dict[int, Any] = {}
    parts = []
    for node in nodes:
        args = []
        for v in node.inputs:
            r = ref.get(id(v))
            if r is None:  # concrete, or computed by a node outside this cut
                r = ref[id(v)] = ("in", len(inputs))
                inputs.append(v)
            args.append(r)
        parts.append((node.op, node.attrs, tuple(args), node.subgraphs))
        for j, v in enumerate(node.outputs):
            ref[id(v)] = (len(parts) - 1, j)
    outs = []
    for t in targets:
        r = ref.get(id(t))
        if r is None:
            r = ref[id(t)] = ("in", len(inputs))
            inputs.append(t)
        outs.append(r)
    key = (tuple(parts), tuple(v.type for v in inputs), tuple(outs))
    return Cut(list(targets), nodes, inputs, key)


def materialize(values: Sequence[LazyValue]) -> None:
    """Compute every pending value in `values` (one program); leaves are left alone."""
    pending = [v for v in values if v.data is None]
    if not pending:
        return
    executor = EXECUTOR[0]
    if executor is None:
        raise RuntimeError("import ember (the runtime executes lazy tensors)")
    executor.materialize(pending)


def sync() -> None:
    """Compute every live pending tensor (before a runner donates arrays they may read).
    O(1) when nothing was recorded since the last sync."""
    if RECORDER.recorded != RECORDER.synced or RECORDER.pinned:
        values = pending_live_values()
        if values:
            materialize(values)
        RECORDER.synced = RECORDER.recorded


class _Slot:
    __slots__ = ("value",)

    def __init__(self, value: LazyValue):
        self.value = value


def pending_live_values() -> list[LazyValue]:
    """Values of live tensors that still need computing (torch_xla's 'live tensors')."""
    seen, out = set(), []
    RECORDER.pinned = [t for t in RECORDER.pinned if t.value.data is None]
    for t in [*RECORDER.live.values(), *RECORDER.pinned]:
        v = t.value
        if isinstance(v, LazyValue) and v.data is None and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


# weak: an entry lives while a recorded node, a program or a compiled cut's key holds its
# graph (so a cut's key stays stable), and is dropped with the last of them
_INTERNED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def intern_graph(key: Any, build: Callable[[], Graph]) -> Graph:
    """One Graph object per structural key, so sub-graph identities are stable cache keys."""
    graph = _INTERNED.get(key)
    if graph is None:
        graph = _INTERNED[key] = build()
    return graph


def as_lazy(value: Any, like: TensorType | None = None):
    """A lazy tensor for `value` (a tensor, array, number or nested list), optionally cast
    to the dtype of `like`. Host arrays take the default precision (float64 -> float32)."""
    from ember.frontend.tensor import Tensor

    if isinstance(value, Tensor):
        out = value
    else:
        if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
            value = value.detach().cpu().numpy()
        arr = value if (hasattr(value, "shape") and hasattr(value, "dtype")) else np.asarray(value)
        if isinstance(arr, np.ndarray) and not dtypes.x64_enabled():
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            elif arr.dtype == np.int64:
                arr = arr.astype(np.int32)
        out = leaf(owned(arr))  # the caller may still write its array: a step reads it later
    if like is not None and out.dtype != like.dtype:
        out = out.to(like.dtype)
    return out


def graph_of(*tensors) -> Graph:
    """The pending IR behind lazy tensors, as the next cut would compile it.

    >>> print(em.graph_of(loss))      # the forward, loss (and grad nodes) not yet computed
    """
    return collect([t.value for t in tensors]).graph("pending")
