"""Executing lazy tensors: cuts compiled once per structure, module calls, optimizer steps.

The frontend records (`ember.frontend.lazy`); this module runs. A cut (the
pending nodes behind the values Python needs, plus every other live pending
tensor, as torch_xla's mark_step does) becomes a graph, goes through the usual
passes and lowering and is jitted once per structural key. `optimizer.step()`
is a cut whose program also applies the optimizer update, with the parameters
and the optimizer state donated: forward + backward + update of one iteration
in ONE XLA program.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import numpy as np

from ember.compiler import DEFAULT_PASSES, lower, run_passes
from ember.errors import EmberError, TraceError
from ember.frontend import lazy as lazy_lib
from ember.frontend import python_random, stored_tensors
from ember.frontend.autograd import release_freed
from ember.frontend.grad_hooks import (
    EAGER_CALL_TRACE,
    NeedsEagerForward,
    parameter_hooks_left_to_backward,
)
from ember.frontend.lazy import (
    RECORDER,
    LazyValue,
    collect,
    intern_graph,
    pending_live_values,
    pending_nodes,
)
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import current_builder
from ember.graphdef.ir import FrozenDict
from ember.graphdef.printer import print_graph
from ember.graphdef.pytree import tree_unflatten
from ember.nn import module as module_lib
from ember.nn.hooks import run_op_by_op
from ember.nn.module import Module
from ember.nn.parameter_stack import unstack_parameters
from ember.nn.settings import stateless_config
from ember.runtime.donation import keep_lent

from .eager import call_names
from .program import CallSignature, ProgramCache, build_program, describe_context, describe_inputs
from .state import StateView
from .stats import note_compile


def _release(values: list[LazyValue]) -> None:
    """Computed values that cannot be differentiated drop their history (frees memory);
    those whose graph backward() already freed keep only a marker of it."""
    for v in values:
        if not v.requires_grad:
            v.node = None
    release_freed(values)


class Executor:
    """Compiles and runs cuts of the lazy graph; one jitted program per structural key."""

    def __init__(self):
        self.programs: dict[Any, Any] = {}

    def materialize(self, values: list[LazyValue]) -> None:
        RECORDER.synced = RECORDER.recorded  # every live pending value is in this cut
        targets = list(values)
        seen = {id(v) for v in targets}
        for v in pending_live_values():
            if id(v) not in seen:
                seen.add(id(v))
                targets.append(v)
        targets, aliased = RECORDER.replacing_aliases(targets)
        self._compute(targets)
        _copy_aliased(aliased)

    def _compute(self, targets: list[LazyValue]) -> None:
        """Compute exactly `targets` (and what they need) as one cached program."""
        cut = collect(targets)
        entry = self.programs.get(cut.key)
        if entry is None:
            graph = run_passes(cut.graph(), DEFAULT_PASSES)
            entry = self.programs[cut.key] = jax.jit(lower(graph).run)
            note_compile("lazy", [str(v.type) for v in cut.inputs], f"{len(cut.nodes)} ops")
        outs = entry(*[v.data for v in cut.inputs])
        for v, x in zip(cut.targets, outs, strict=True):
            v.data = x
        _release(cut.targets)

    # -- optimizer steps ----------------------------------------------------------------------
    def optimizer_step(self, optimizer) -> None:
        params = optimizer.params
        grads = [p.grad for p in params]
        has_grad = tuple(g is not None for g in grads)
        if not any(has_grad):  # as in PyTorch: parameters without .grad are skipped
            return
        unstack_parameters(params)  # this update writes each parameter's own array
        for p in params:
            p._materialized()  # pending initial values are computed first
        keep_lent([p._data for p in params], optimizer.opt_state)  # snapshots keep values
        grad_values = [g.value for g in grads if g is not None]
        RECORDER.synced = RECORDER.recorded
        targets = list(grad_values)
        seen = {id(v) for v in targets}
        others = []
        live = pending_live_values()
        for v in RECORDER.replacing_stand_ins(live):
            if id(v) not in seen and v.data is None:
                seen.add(id(v))
                others.append(v)
        others, aliased = RECORDER.replacing_aliases(others, grad_values)
        needed = pending_nodes(grad_values)
        apart = _apart_from(needed, others)
        if apart:
            self._compute(apart)
        before = _recorded_before_the_forward(needed, live)
        if before:
            self._compute(before)
        targets += [v for v in others if v.data is None]
        cut = collect(targets)
        by_array = {id(p._data): k for k, p in enumerate(params)}
        in_param = tuple(by_array.get(id(v.data), -1) for v in cut.inputs)
        frozen = tuple(not p.requires_grad for p in params)
        key = (cut.key, in_param, has_grad, frozen, optimizer)  # held: its id is never reused
        step = self.programs.get(key)
        if step is None:
            step = self.programs[key] = self._build_step(optimizer, cut, in_param, has_grad, frozen)
            note_compile(
                "optimizer.step", [str(v.type) for v in cut.inputs], f"{len(cut.nodes)} ops"
            )
        others = [v.data for v, k in zip(cut.inputs, in_param, strict=True) if k < 0]
        new_params, opt_state, outs = step(
            [p._data for p in params], others, optimizer.opt_state, optimizer.hyper_vector()
        )
        for p, value in zip(params, new_params, strict=True):
            p._data = value
        optimizer.opt_state = opt_state
        for v, x in zip(cut.targets, outs, strict=True):
            v.data = x
        _release(cut.targets)
        _copy_aliased(aliased)

    def _build_step(self, optimizer, cut, in_param, has_grad, frozen):
        graph = run_passes(cut.graph("optimizer_step"), DEFAULT_PASSES)
        run = lower(graph).run
        n_grads = sum(has_grad)
        import jax.numpy as jnp

        def step(params, others, opt_state, hyper):
            it = iter(others)
            inputs = [params[k] if k >= 0 else next(it) for k in in_param]
            outs = run(*inputs)
            it_grads = iter(outs[:n_grads])
            grads = [
                next(it_grads) if g and not f else jnp.zeros_like(p)
                for p, g, f in zip(params, has_grad, frozen, strict=True)
            ]
            new, new_state = optimizer.apply_gradients(grads, opt_state, list(params), hyper)
            keep = [not g or f for g, f in zip(has_grad, frozen, strict=True)]
            new = [old if k else n for old, n, k in zip(params, new, keep, strict=True)]
            return new, optimizer.keep_state(new_state, opt_state, keep), list(outs)

        return jax.jit(step, donate_argnums=(0, 2))


def _copy_aliased(pairs: list) -> None:
    """Each aliased value takes its alias's result (the loss from `value_and_grad`)."""
    for v, same in pairs:
        v.data = same.data
    _release([v for v, _ in pairs])


def _apart_from(needed: dict, others: list[LazyValue]) -> list[LazyValue]:
    """The pending values among `others` that share no pending op with the gradients
    (`needed`: the gradients' pending nodes, by id): a loop's running totals of earlier
    steps (`total_loss += loss.data`). Computed in a program of their own before the
    step, they leave the step's program one structure from the first iteration on (else
    its first few iterations compile anew, as the totals go from Python numbers to
    tensors), and nothing is computed twice."""
    if not others:
        return []
    apart = []
    for v in others:
        nodes = pending_nodes([v])
        # a differentiable forward (the loss itself) is recomputed inside the gradients'
        # `grad` body, which XLA shares with it only when both are in one program
        if not (nodes.keys() & needed.keys()) and not any(
            u.requires_grad for node in nodes.values() for u in node.outputs
        ):
            apart.append(v)
    return apart


def _recorded_before_the_forward(needed: dict, live: list[LazyValue]) -> list[LazyValue]:
    """The pending values without gradient that the step reads (`needed`: the gradients'
    pending nodes) and that the user's code made before the step's first differentiable
    op: a target computed once before the loop (fast_neural_style's `gram_style =
    [gram_matrix(y) for y in vgg(style)]`), a teacher's output, when a module call made
    them. Computed in a program of their own, they leave the step's program one structure
    from the first iteration on; inside it, the first iteration's program would hold the
    target's computation and the second would compile anew without it."""
    nodes = needed.values()
    if not any(n.op == "call" and not n.outputs[0].requires_grad for n in nodes):
        return []  # the common step: no module's forward without gradient pending
    # the step's forward as recorded: the live loss (still pending) leads back to its ops
    forward = pending_nodes([v for v in live if v.requires_grad]).values()
    differentiable = [
        v.site[1]
        for n in (*nodes, *forward)
        for v in n.outputs
        if v.requires_grad and v.site is not None
    ]
    if not differentiable:
        return []
    first = min(differentiable)

    def early(v: LazyValue) -> bool:
        return v.site is not None and v.site[1] < first and not v.requires_grad

    before = {}
    for n in nodes:
        if n.outputs and early(n.outputs[0]):
            continue
        for v in n.inputs:  # a later op's pending input made early: the frontier
            if v.data is None and v.node is not None and early(v):
                before[id(v)] = v
    # only a module's forward is worth a program of its own; a batch's own preprocessing
    # (`x.view(-1, 784)`, `x / 255`) stays fused into the step
    return [v for v in before.values() if any(n.op == "call" for n in pending_nodes([v]).values())]


EXECUTOR = Executor()
lazy_lib.EXECUTOR[0] = EXECUTOR


# -- module calls on lazy tensors -----------------------------------------------------------------


def _warn_frozen_outside_tensor(module: Module, tensor: Tensor, file: str, line: int) -> None:
    """`net(x)` reuses its traced program: a tensor forward reads from outside the module
    tree (a global, a closure) is frozen at its value now, where torch reads it anew."""
    warnings.warn_explicit(
        f"{type(module).__name__}.forward reads a tensor made outside the module "
        f"(shape {tuple(tensor.shape)}, {tensor.dtype}; a global or closure variable?). "
        "`net(x)` reuses its traced program, which keeps this value for every later call, "
        "while PyTorch would read the variable anew; fix: pass it to forward as an "
        "argument, or make it a buffer (self.register_buffer) and update that",
        UserWarning,
        file or "<unknown>",
        line,
    )


# (stateless module config, call key) -> program: see `stateless_config`
_STATELESS_PROGRAMS: dict = {}


class LazyCall:
    """Records `net(tensors)` as one `call` node (the module's forward, traced once per
    input signature and modes)."""

    def __init__(self, module: Module):
        self.module = module
        self.view = StateView([("", module)], materialize=False)
        self.programs = ProgramCache(type(module).__name__)
        # positional lazy tensors of known types -> (program, operand recipe), per view
        # version: a loop's repeated call skips the signature and the program lookup
        self._fast: dict = {}
        self._fast_version = -1
        self._attrs = FrozenDict({"name": type(module).__name__})
        # per program: the (module, name) attributes its forward stores tensors in
        self._attributes: dict = {}
        # traces of a forward that draws from Python's random, by printed graph
        self._drawn: dict = {}
        self._volatile: set = set()
        # a loss or activation made anew every iteration shares its class's programs
        self._config = stateless_config(module)
        self._floats = FloatArguments()

    def __call__(self, args: tuple, kwargs: dict):
        as_data = self._floats.as_data(args, kwargs)
        if as_data is not None:
            try:
                return self._call(*as_data)
            except (EmberError, TypeError, ValueError):
                # forward uses the number in Python (`if t > 0.5`, `math.log(t)`): from now
                # on a value of the call's static signature again, as for any non-tensor
                self._floats.keep_static(args, kwargs)
        return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict):
        self.view.refresh()
        if self._fast_version != self.view.version:
            self._fast.clear()
            self._fast_version = self.view.version
        fast = _positional_types(args) if not kwargs else None
        entry = self._fast.get(fast) if fast is not None else None
        if entry is None:
            EAGER_CALL_TRACE[0] += 1
            try:
                program, recipe, leaves = self._entry(args, kwargs)
            except NeedsEagerForward:
                program = None
            finally:
                EAGER_CALL_TRACE[0] -= 1
            if program is None:  # forward registers tensor hooks: run it op by op
                run_op_by_op(self.module)
                return self.module(*args, **kwargs)
            if fast is not None and id(program) not in self._volatile:
                self._fast[fast] = (program, recipe)  # not the leaves: they'd be kept alive
        else:
            (program, recipe), leaves = entry, args
        operands = self._operands(recipe, leaves)
        graph = program.graph
        outs = RECORDER.emit("call", operands, self._attrs, subgraphs=(graph,))
        n_out = len(graph.outputs)
        slots = self.view.buffer_slots
        for (k, _), new in zip(recipe[1], outs[n_out:], strict=True):
            m, b = slots[k]
            new.value.requires_grad = False  # running statistics are state, not autograd's
            m._buffers[b] = new.value  # pending; computed with the next cut
            RECORDER.pin(new)
        result, stored = tree_unflatten(program.out_tree, outs[:n_out])
        for (m, name), value in zip(recipe[2], stored, strict=True):
            object.__setattr__(m, name, value)  # this call's value; not a setting
            stored_tensors.STORED[id(value)] = value
        return result

    def _entry(self, args: tuple, kwargs: dict) -> tuple:
        """(program, recipe, input leaves): the traced program for this signature and how
        its graph inputs are found (data leaf, parameter or buffer by index, rng)."""
        module = self.module
        signature, leaves = CallSignature.of((tuple(args), dict(kwargs)), keep_tensors=True)
        key = (signature, self.view.signature)
        program = self.programs.get(key)
        if program is None and self._config is not None:
            program = _STATELESS_PROGRAMS.get((self._config, key))
            if program is not None:
                self.programs.adopt(key, program)
                self._attributes[key] = ()
        if program is None:
            names = call_names(module.forward, signature)
            written: list = []

            def forward(tree):
                """The module's outputs, and the tensors its forward stored on modules."""
                with stored_tensors.collect() as collected:
                    out = module(*tree[0], **tree[1])
                    # tensors of this trace (not of a loop body traced inside it)
                    root = current_builder()
                    writes = [w for w in collected.values() if w[2].builder is root]
                    running = stored_tensors.read_and_overwritten(writes)
                    outside = stored_tensors.embedded_from_outside(module.modules())
                for tensor, (file, line) in outside:
                    _warn_frozen_outside_tensor(module, tensor, file, line)
                if running:
                    raise root.error(
                        TraceError(
                            f"forward reads and overwrites the plain tensor attribute(s) "
                            f"{running}: the cached program would keep reading the first "
                            "value; fix: self.register_buffer(name, tensor) in __init__ "
                            "(buffers written in forward are carried from call to call)"
                        )
                    )
                written.extend((m, name, value) for m, name, value, _ in writes)
                return out, [value for _, _, value in written]

            draws = python_random.DRAWS[0]
            with parameter_hooks_left_to_backward():  # parameters are leaves of backward()
                program = build_program(
                    forward,
                    signature,
                    self.view.roots,
                    training=module.training,
                    names=names,
                    graph_name=type(module).__name__,
                )
            # one graph object per traced structure: a module made anew every iteration
            # (`loss = nn.BCELoss()(out, y)` in the loop) records the same `call` sub-graph,
            # so the cuts that contain it keep their key and their compiled program
            graph = intern_graph(("call", print_graph(program.graph)), lambda: program.graph)
            program = dataclasses.replace(program, graph=graph)
            if python_random.DRAWS[0] != draws:
                # forward drew from Python's random: trace it anew at every call, as PyTorch
                # runs it; equal traces share one program (and one compiled cut)
                program = self._drawn.setdefault(str(program.graph), program)
                self._volatile.add(id(program))
            else:
                self.programs.add(
                    key,
                    program,
                    "__call__",
                    describe_inputs(signature, names),
                    describe_context(signature, self.view),
                )
            self._attributes[key] = tuple((m, name) for m, name, _ in written)
            if self._config is not None and not written and id(program) not in self._volatile:
                _STATELESS_PROGRAMS[(self._config, key)] = program
        param_index = {n: i for i, n in enumerate(self.view.param_names)}
        buffer_index = {n: i for i, n in enumerate(self.view.buffer_names)}
        inputs = []
        for gi in program.graph.inputs:
            if gi.kind == "param":
                inputs.append(("param", param_index[gi.name], gi.value.type))
            elif gi.kind == "buffer":
                inputs.append(("buffer", buffer_index[gi.name], gi.value.type))
            else:
                inputs.append((gi.kind, None, None))
        updates = tuple((buffer_index[name], value) for name, value in program.graph.updates)
        return program, (tuple(inputs), updates, self._attributes[key]), leaves

    def _operands(self, recipe: tuple, leaves) -> list:
        params, slots = self.view.params, self.view.buffer_slots
        data = iter(leaves)
        operands = []
        for kind, index, want in recipe[0]:
            if kind == "data":
                operands.append(lazy_lib.as_lazy(next(data)))
            elif kind == "param":
                operands.append(_as_declared(params[index], want))
            elif kind == "buffer":
                m, b = slots[index]
                operands.append(_as_declared(m._buffer_tensor(b, handed_out=False), want))
            else:
                operands.append(RECORDER.rng_tensor())
        return operands


class FloatArguments:
    """Python floats passed to a module call, by argument position. A float is a static
    value of the traced forward, one program per value, until the same position brings a
    second value (a diffusion sampler's `model(x, i / n_T)`, a progressive GAN's fade-in
    `alpha`); from then on it is a 0-d data tensor, one program for all values (PyTorch's
    0-d promotion keeps `x * t` in x's dtype). A forward that needs the number in Python
    fails to trace that way, and the position stays static."""

    def __init__(self):
        self._first: dict = {}
        self._data: set = set()
        self._static: set = set()

    @staticmethod
    def _positions(args: tuple, kwargs: dict) -> list:
        found = [(i, a) for i, a in enumerate(args) if type(a) is float]
        return found + [(k, v) for k, v in kwargs.items() if type(v) is float]

    def as_data(self, args: tuple, kwargs: dict) -> tuple | None:
        """(args, kwargs) with the varying floats as data tensors; None: none varies."""
        chosen = []
        for pos, value in self._positions(args, kwargs):
            if pos in self._static:
                continue
            if pos not in self._data and self._first.setdefault(pos, value) != value:
                self._data.add(pos)
            if pos in self._data:
                chosen.append(pos)
        if not chosen:
            return None
        from ember.nn.functional.creation import tensor

        args, kwargs = list(args), dict(kwargs)
        for pos in chosen:
            if isinstance(pos, int):
                args[pos] = tensor(args[pos])
            else:
                kwargs[pos] = tensor(kwargs[pos])
        return tuple(args), kwargs

    def keep_static(self, args: tuple, kwargs: dict) -> None:
        for pos, _ in self._positions(args, kwargs):
            if pos in self._data:
                self._data.discard(pos)
                self._static.add(pos)


def _positional_types(args: tuple):
    """The types of positional lazy tensors (None when any argument is something else)."""
    types = []
    for a in args:
        if type(a) is not Tensor:
            return None
        v = a._current().value
        if not isinstance(v, LazyValue):
            return None
        types.append(v.type)
    return tuple(types)


def _as_declared(state: Tensor, want) -> Tensor:
    """A parameter or buffer in the dtype the traced body declares for it: the one JAX
    computes in (a float64 parameter is float32 without x64, `dtypes.effective`)."""
    return state if state.dtype == want.dtype else state.to(want.dtype)


def lazy_call(module: Module, args: tuple, kwargs: dict):
    runner = module._programs.get("lazy")
    if runner is None:
        runner = module._programs["lazy"] = LazyCall(module)
    return runner(args, kwargs)


module_lib.EAGER_CALL[0] = lazy_call


def concrete(tensor: Tensor) -> np.ndarray:
    """The value of a tensor as numpy (one cut if it is pending)."""
    return np.asarray(tensor._array())
