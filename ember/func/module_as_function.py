"""`ember.func`: a module as a pure function of an explicit state (torch.func's names).

    apply, state = em.functionalize(net)
    outputs, new_buffers = apply(state, x, rng=None, training=True)

`state` is `{"params": {name: array}, "buffers": {name: array}}` keyed by
state-dict names; `apply` is pure JAX, so it composes with `jax.jit`,
`jax.grad`, `jax.vmap` and `shard_map`. ember's own compiled steps run on the
same functional core (`ember.runtime.program`). `functional_call` is
`torch.func.functional_call`: the module's forward with some parameters and
buffers replaced, returning only the outputs.

>>> apply, state = em.functionalize(net)
>>> def loss_fn(params, x, y):
...     logits, _ = apply({"params": params, "buffers": state["buffers"]}, x)
...     return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
>>> grads = jax.jit(jax.grad(loss_fn))(state["params"], x, y)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ember.errors import StateDictError, TraceError
from ember.frontend.tensor import Tensor
from ember.graphdef.pytree import tree_unflatten
from ember.nn.functional._core import as_tensor
from ember.nn.module import Module
from ember.runtime.eager import call_names, eager_rng
from ember.runtime.program import (
    CallSignature,
    ProgramCache,
    build_program,
    describe_context,
    describe_inputs,
)
from ember.runtime.state import StateView

__all__ = ["Functional", "functionalize", "functional_call"]


class Functional:
    """`apply(state, *args, rng=None, training=True, **kwargs) -> (outputs, new_buffers)`.

    Traces the module once per input signature and mode (under a JAX transform the
    inputs' shapes are the per-example ones, so `jax.vmap` works). `training=True`
    keeps the submodules' own train/eval flags when the module is in train mode
    (a frozen BatchNorm stays frozen), as compiled steps do; `training=False`
    evaluates everything in eval mode. Dropout needs `rng` (a JAX PRNG key).
    """

    def __init__(self, module: Module):
        if not isinstance(module, Module):
            raise TypeError(f"expected an ember nn.Module, got {type(module).__name__}")
        self.module = module
        self.view = StateView([("", module)])
        self.programs = ProgramCache(type(module).__name__)
        self._jitted: dict[int, Any] = {}

    @property
    def param_names(self) -> tuple[str, ...]:
        self.view.refresh()
        return self.view.param_names

    @property
    def buffer_names(self) -> tuple[str, ...]:
        self.view.refresh()
        return self.view.buffer_names

    def state(self) -> dict[str, dict[str, jax.Array]]:
        """A snapshot of the module's current parameters and buffers (fresh copies, so a
        later donated compiled step cannot invalidate it)."""
        current = self.view.as_dicts()
        return {
            kind: {k: jnp.array(v, copy=True) for k, v in d.items()} for kind, d in current.items()
        }

    def update(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Write `state` (or part of it) back into the module: `apply.update(new_state)`."""
        params = dict(zip(self.view.param_names, self.view.params, strict=True))
        slots = dict(zip(self.view.buffer_names, self.view.buffer_slots, strict=True))
        unknown = [n for n in state.get("params", {}) if n not in params]
        unknown += [n for n in state.get("buffers", {}) if n not in slots]
        if unknown:
            raise StateDictError(f"unknown state entries {unknown}; known: {list(params)}")
        for name, value in state.get("params", {}).items():
            params[name].data = value
        for name, value in state.get("buffers", {}).items():
            m, b = slots[name]
            m._set_buffer(b, value)

    def program(self, signature: CallSignature, training: bool):
        self.view.refresh()
        key = (signature, self.view.signature, bool(training))
        program = self.programs.get(key)
        if program is None:
            module = self.module
            names = call_names(module.forward, signature)
            program = build_program(
                lambda tree: module(*tree[0], **tree[1]),
                signature,
                self.view.roots,
                training=bool(training),
                names=names,
                graph_name=type(module).__name__,
            )
            context = describe_context(signature, self.view)
            context["training"] = str(bool(training))
            self.programs.add(key, program, "apply", describe_inputs(signature, names), context)
        return program

    def __call__(self, state: Mapping, *args, rng=None, training: bool = True, **kwargs):
        signature, arrays = CallSignature.of((tuple(args), dict(kwargs)))
        program = self.program(signature, training)
        lowered = program.lowered
        params = _pick(state, "params", lowered.param_names)
        buffers = _pick(state, "buffers", lowered.buffer_names)
        outs, new_buffers = _run(self, program, params, buffers, arrays, _key_data(rng, lowered))
        return (
            tree_unflatten(program.out_tree, outs),
            dict(zip(lowered.buffer_names, new_buffers, strict=True)),
        )


def _pick(state: Mapping, kind: str, names: Sequence[str]) -> list:
    group = state.get(kind, {}) if isinstance(state, Mapping) else {}
    missing = [n for n in names if n not in group]
    if missing:
        raise StateDictError(
            f"state[{kind!r}] lacks {missing}; fix: pass the full state returned by "
            "em.functionalize(net) (or use em.func.functional_call for partial overrides)"
        )
    return [group[n] for n in names]


def _key_data(rng: Any, lowered) -> Any:
    if not lowered.uses_rng:
        return None
    if rng is None:
        raise TraceError(
            "this module uses randomness (dropout) in this mode; fix: pass "
            "rng=jax.random.key(seed), or training=False"
        )
    if jax.dtypes.issubdtype(getattr(rng, "dtype", None), jax.dtypes.prng_key):
        return jax.random.key_data(rng)
    return rng


def _run(owner: Functional, program, params, buffers, inputs, rng):
    """Inside a JAX transform, call the lowered function directly; on concrete values,
    run its jitted version (cached per program), so nothing runs op by op."""
    leaves = [*params, *buffers, *inputs]
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return program.lowered.fn(params, buffers, inputs, rng)
    jitted = owner._jitted.get(id(program))
    if jitted is None:
        jitted = owner._jitted[id(program)] = jax.jit(program.lowered.fn)
    return jitted(params, buffers, inputs, rng)


def _functional(module: Module) -> Functional:
    runner = module._programs.get("functional")
    if runner is None:
        runner = module._programs["functional"] = Functional(module)
    return runner


def functionalize(module: Module, *example_inputs: Any) -> tuple[Functional, dict]:
    """`apply, state = em.functionalize(net)`: a pure function and the current state.

    `example_inputs` (arrays or `em.TensorSpec`s) trace the train-mode program
    ahead of time; otherwise tracing happens on the first call.
    """
    runner = _functional(module)
    if example_inputs:
        runner.program(CallSignature.of((tuple(example_inputs), {}))[0], True)
    return runner, runner.state()


def functional_call(
    module: Module,
    parameter_and_buffer_dicts: Mapping | Sequence[Mapping],
    args: Any = (),
    kwargs: Mapping | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """`torch.func.functional_call`: run `module` with some parameters/buffers replaced.

    Missing entries use the module's current values (`strict=True` makes them an
    error); the module's own modes apply. Buffer updates (BatchNorm statistics)
    are not written anywhere: the module is left untouched. Tied weights are one
    parameter in ember, so `tie_weights` is always in effect. Given ember tensors (as
    inside `em.func.grad` / `vmap`), it returns ember tensors; given arrays, JAX arrays
    (it composes with `jax.jit` / `jax.grad` directly).
    """
    dicts = (
        [parameter_and_buffer_dicts]
        if isinstance(parameter_and_buffer_dicts, Mapping)
        else list(parameter_and_buffer_dicts)
    )
    given: dict[str, Any] = {}
    for d in dicts:
        overlap = set(given) & set(d)
        if overlap:
            raise ValueError(f"{sorted(overlap)} appear in more than one of the given dicts")
        given.update(d)
    runner = _functional(module)
    current = runner.view.as_dicts()
    known = set(current["params"]) | set(current["buffers"])
    unexpected = [k for k in given if k not in known]
    missing = [k for k in known if k not in given]
    if unexpected or (strict and missing):
        parts = []
        if unexpected:
            parts.append(f"unexpected key(s) {unexpected}")
        if strict and missing:
            parts.append(f"missing key(s) {missing}")
        raise StateDictError(
            f"functional_call on {type(module).__name__}: "
            + "; ".join(parts)
            + f"; its parameters and buffers are {sorted(known)}"
        )
    args = args if isinstance(args, tuple) else (args,)
    # ember tensors in (as under em.func.grad / vmap): their values go in, tensors come out
    from_tensors = any(isinstance(v, Tensor) for v in jax.tree.leaves((given, args, kwargs)))
    if from_tensors:
        given, args, kwargs = _arrays((given, args, kwargs))
    state = {
        kind: {k: given.get(k, v) for k, v in entries.items()} for kind, entries in current.items()
    }
    signature = CallSignature.of((args, dict(kwargs or {})))[0]
    rng = None
    if runner.program(signature, module.training).lowered.uses_rng:
        rng = eager_rng()  # like a PyTorch call: the global generator's next draw
    outputs, _ = runner(state, *args, rng=rng, training=module.training, **dict(kwargs or {}))
    if from_tensors:
        return jax.tree.map(as_tensor, outputs)
    return outputs


def _arrays(tree: Any) -> Any:
    return jax.tree.map(
        lambda x: x._concrete("functional_call's input") if isinstance(x, Tensor) else x, tree
    )
