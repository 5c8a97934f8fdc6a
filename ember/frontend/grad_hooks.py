"""Gradient hooks: `Tensor.register_hook(hook)` and `Tensor.retain_grad()`.

`hook(grad)` returns a new gradient or None (keep it), as in PyTorch. Three cases:

- a tensor of a traced forward: the tensor becomes an identity `custom_vjp` whose
  backward is the hook, traced into the program. Uses of the tensor recorded before
  `register_hook` would bypass it, so that is an error.
- a lazy tensor (outside a model): `backward()` / `em.autograd.grad` split the
  differentiation at hooked values (`gradients_with_hooks`), so the hook runs on the
  value's whole gradient as a lazy tensor (it may keep or print it), and on a leaf's
  gradient before it is accumulated into `.grad`.
- a parameter (registered outside forward): lazy backward runs it like any leaf hook;
  traced programs (compiled steps, `em.functionalize`) wrap the parameter's input in
  the identity `custom_vjp` (`hooked_parameter`), so the hook sees its whole gradient;
  the hooks are part of those programs' cache keys (`parameter_hook_key`).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ember.errors import ShapeError, TraceError
from ember.frontend.lazy import RECORDER, LazyValue, as_lazy
from ember.frontend.tensor import Tensor
from ember.frontend.tracer import EAGER_CALL_TRACE, current_builder
from ember.graphdef import dtypes

Hook = Callable[[Tensor], Any]

_VALUE_HOOKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # non-leaf lazy values
_LEAF_HOOKS: dict[int, tuple[weakref.ref, dict[int, Hook]]] = {}  # leaf tensors, by identity
_next_id = itertools.count(1)
_local = threading.local()


class HookHandle:
    """What `register_hook` returns: `.remove()` (or leaving a `with` block) unregisters."""

    def __init__(self, table: dict[int, Hook] | None, on_remove: Callable[[], None] | None = None):
        self.id = next(_next_id)
        self._table = table
        self._on_remove = on_remove

    def remove(self) -> None:
        if self._on_remove is not None:
            self._on_remove()
        elif self._table is not None and self._table.pop(self.id, None) is not None:
            _forget_empty()

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# EAGER_CALL_TRACE > 0 while an eager call (`net(x)` on lazy tensors) traces its module's
# forward: a tensor hook registered there must run on every call with real gradients, so
# the call gives up the trace and runs that module op by op (see `runtime/lazy.py`)


class NeedsEagerForward(Exception):  # noqa: N818 (a signal, not an error users see)
    """Raised inside an eager call's trace by `register_hook`/`retain_grad`."""


def register_hook(tensor: Tensor, hook: Hook) -> HookHandle:
    """`tensor.register_hook(hook)`: see the module docstring for where the hook runs.

    >>> h = net.fc.weight.register_hook(lambda g: g.clamp(-1, 1))
    >>> h.remove()
    """
    if not callable(hook):
        raise TypeError(f"register_hook expects a function of the gradient, got {hook!r}")
    from ember.nn.parameter import Parameter

    builder = current_builder()
    if builder is not None:
        if EAGER_CALL_TRACE[0]:
            raise NeedsEagerForward
        if isinstance(tensor, Parameter) or _is_state(builder, tensor):
            raise builder.error(
                TraceError(
                    "Parameter.register_hook inside a traced forward would add a hook on every "
                    "trace; fix: register it once after building the model "
                    "(model.fc.weight.register_hook(fn)); compiled steps and backward() apply it"
                )
            )
        return _hook_traced(tensor, hook)
    if not tensor.requires_grad:
        raise RuntimeError(
            "cannot register a hook on a tensor that doesn't require gradient; fix: create it "
            "with requires_grad=True or compute it from tensors that require gradient"
        )
    if tensor.is_leaf:
        return _hook_leaf(tensor, hook, isinstance(tensor, Parameter))
    table = _VALUE_HOOKS.get(tensor.value)
    if table is None:
        table = _VALUE_HOOKS[tensor.value] = {}
    handle = HookHandle(table)
    table[handle.id] = hook
    return handle


def retain_grad(tensor: Tensor) -> None:
    """`tensor.retain_grad()`: a non-leaf lazy tensor keeps its gradient in `.grad` after
    `backward()` (leaves always do)."""
    builder = current_builder()
    if builder is not None and EAGER_CALL_TRACE[0]:
        raise NeedsEagerForward
    if builder is not None:
        raise builder.error(
            TraceError(
                "retain_grad() inside a compiled step's forward: a compiled step keeps no "
                "gradients of intermediate tensors; fix: call the model itself on tensors "
                "(net(em.tensor(x)), then loss.backward()), where it works as in PyTorch, or "
                "return the tensor and use em.autograd.grad"
            )
        )
    if not tensor.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if tensor.is_leaf:
        return
    table = _VALUE_HOOKS.get(tensor.value)
    if table is not None and any(isinstance(h, _Retain) for h in table.values()):
        return
    register_hook(tensor, _Retain(tensor))


class _Retain:
    """The hook behind `retain_grad`: accumulates the gradient into the tensor's `.grad`."""

    def __init__(self, tensor: Tensor):
        self.tensor = weakref.ref(tensor)

    def __call__(self, grad: Tensor) -> None:
        t = self.tensor()
        if t is not None:
            t.grad = grad if t.grad is None else t.grad + grad


# -- leaves and parameters ---------------------------------------------------------------------


def _hook_leaf(tensor: Tensor, hook: Hook, is_parameter: bool) -> HookHandle:
    key = id(tensor)
    entry = _LEAF_HOOKS.get(key)
    if entry is None or entry[0]() is not tensor:
        entry = _LEAF_HOOKS[key] = (weakref.ref(tensor, lambda _: _LEAF_HOOKS.pop(key, None)), {})
    table = entry[1]

    def remove() -> None:
        if table.pop(handle.id, None) is not None and is_parameter:
            _parameters_changed()

    handle = HookHandle(table, remove)
    table[handle.id] = hook
    if is_parameter:
        _parameters_changed()
    return handle


def _parameters_changed() -> None:
    from ember.nn.parameter import bump_state_version

    bump_state_version()  # programs traced with (or without) the hook are stale


def _leaf_table(tensor: Any) -> dict[int, Hook] | None:
    entry = _LEAF_HOOKS.get(id(tensor))
    return entry[1] if entry is not None and entry[0]() is tensor else None


def parameter_hook_key(param: Any) -> tuple:
    """The hooks of `param` (ids), for the cache keys of programs that apply them."""
    if not _LEAF_HOOKS:
        return ()
    table = _leaf_table(param)
    return tuple(table) if table else ()


@contextmanager
def parameter_hooks_left_to_backward():
    """Trace without wrapping hooked parameters: for module calls on lazy tensors, whose
    parameters are leaves of the lazy graph, so `backward()` runs their hooks once on the
    whole gradient."""
    old = getattr(_local, "deferred", False)
    _local.deferred = True
    try:
        yield
    finally:
        _local.deferred = old


def hooked_parameter(param: Any, tensor: Tensor, name: str) -> Tensor:
    """`tensor` (a traced parameter input) behind its parameter's hooks, if it has any."""
    if not _LEAF_HOOKS or getattr(_local, "deferred", False) or not param.requires_grad:
        return tensor
    table = _leaf_table(param)
    if not table:
        return tensor
    return _identity_with_hooks(tensor, list(table.values()), f"gradient hook of {name}")


# -- traced tensors ------------------------------------------------------------------------------


def _is_state(builder, tensor: Tensor) -> bool:
    """Is `tensor` a traced parameter or buffer (as `self.fc.weight` reads inside forward)?"""
    if builder.input_kinds.get(tensor.value) in ("param", "buffer"):
        return True
    return any(t.value is tensor.value for t in builder.state_tensors.values())


def _hook_traced(tensor: Tensor, hook: Hook) -> HookHandle:
    builder = current_builder()
    if tensor.builder is not builder:
        raise builder.error(
            TraceError(
                "register_hook on a tensor this trace did not compute (a closed-over tensor, "
                "or one from outside the current em.cond/em.scan body or autograd.Function); "
                "fix: register it where the tensor is computed"
            )
        )
    if not dtypes.is_floating(tensor.dtype):
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if any(tensor.value in node.inputs for node in builder.nodes):
        raise builder.error(
            TraceError(
                "register_hook on a tensor that forward has already used: in a traced forward "
                "the hook sees the gradient of the uses recorded after it; fix: call "
                "register_hook right after computing the tensor, before using it"
            )
        )
    name = getattr(hook, "__qualname__", type(hook).__name__)
    hooked = _identity_with_hooks(tensor, [hook], f"gradient hook {name}")
    tensor.value, tensor.builder = hooked.value, hooked.builder

    def remove() -> None:
        if builder in _active_builders():
            raise TraceError(
                "removing a gradient hook while its forward is traced: the hook is already "
                "part of the program; fix: do not register it in this forward"
            )

    return HookHandle(None, remove)


def _active_builders() -> list:
    from ember.frontend import tracer

    return list(getattr(tracer._local, "stack", ()))


def _identity_with_hooks(tensor: Tensor, hooks: list[Hook], what: str) -> Tensor:
    from ember.frontend.custom_vjp import record_custom_vjp

    def forward(args: list[Tensor]) -> list[Tensor]:
        return [args[0]]

    def backward(cotangents: list[Tensor]) -> list[Tensor]:
        return [run_hooks(hooks, cotangents[0], what)]

    (out,) = record_custom_vjp("grad_hook", [tensor], forward, backward, what)
    return out


def run_hooks(hooks: Sequence[Hook], grad: Tensor, what: str = "gradient hook") -> Tensor:
    """Apply `hooks` in order; each returns a replacement of the same shape or None."""
    for hook in hooks:
        new = hook(grad)
        if new is None:
            continue
        if not isinstance(new, Tensor):
            raise TypeError(
                f"{what} returned a {type(new).__name__}; fix: return a tensor of shape "
                f"{tuple(grad.shape)} (the new gradient) or None (keep it)"
            )
        if tuple(new.shape) != tuple(grad.shape):
            raise ShapeError(
                f"{what} changed the gradient's shape from {tuple(grad.shape)} to "
                f"{tuple(new.shape)}; fix: return a gradient of the tensor's shape"
            )
        grad = new if new.dtype == grad.dtype else new.to(grad.dtype)
    return grad


# -- lazy backward: the differentiation split at hooked values -----------------------------------


def has_hooks() -> bool:
    return bool(_VALUE_HOOKS) or bool(_LEAF_HOOKS)


def _forget_empty() -> None:
    for value in [v for v, table in _VALUE_HOOKS.items() if not table]:
        _VALUE_HOOKS.pop(value, None)


def _hooks_of(value: LazyValue) -> list[Hook]:
    table = _VALUE_HOOKS.get(value)
    if table:
        return list(table.values())
    owner = value.owner() if value.node is None and value.owner is not None else None
    table = _leaf_table(owner) if owner is not None else None
    return list(table.values()) if table else []


def gradients_with_hooks(
    output: LazyValue,
    wrt: Sequence[LazyValue],
    gradient: LazyValue | None,
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
    nodes: list | None = None,
) -> list[LazyValue | None]:
    """`autograd.gradients` with tensor hooks: differentiate from `output` to `wrt` and to
    every hooked value in between; then, from the hooked value nearest the output back,
    run its hooks on its now complete gradient and continue from it."""
    from ember.frontend import autograd as engine

    if nodes is None:
        nodes, _ = engine._differentiable_slice([output], {id(v) for v in wrt})
    engine.check_used(nodes, output, wrt, allow_unused)
    wrt_ids = {id(v) for v in wrt}
    hooked = [
        v for node in nodes for v in node.outputs if id(v) not in wrt_ids and _VALUE_HOOKS.get(v)
    ]
    with engine._grad_mode(create_graph):
        if hooked and hooked[-1] is output:  # loss.register_hook: it sees d(loss)/d(loss)
            hooked.pop()
            ones = gradient or as_lazy(np.ones(output.type.shape, np.float32), output.type).value
            gradient = _run_on(output, ones)
    totals: dict[int, LazyValue] = {}

    def differentiate(out: LazyValue, cot: LazyValue | None, targets: list) -> None:
        grads = engine.gradients(out, targets, cot, True, create_graph, True, hooks=False)
        for v, g in zip(targets, grads, strict=True):
            if g is not None:
                old = totals.get(id(v))
                totals[id(v)] = g if old is None else _sum(old, g, create_graph)

    differentiate(output, gradient, [*wrt, *hooked])
    for k in range(len(hooked) - 1, -1, -1):
        grad = totals.pop(id(hooked[k]), None)
        if grad is not None:
            with engine._grad_mode(create_graph):
                grad = _run_on(hooked[k], grad)
            differentiate(hooked[k], grad, [*wrt, *hooked[:k]])
    if not retain_graph:
        engine.free(nodes)
    out = []
    for v in wrt:
        grad = totals.get(id(v))
        if grad is not None and _hooks_of(v):
            with engine._grad_mode(create_graph):
                grad = _run_on(v, grad)
        out.append(grad)
    return out


def _run_on(value: LazyValue, grad: LazyValue) -> LazyValue:
    return run_hooks(_hooks_of(value), Tensor(grad, RECORDER)).value


def _sum(a: LazyValue, b: LazyValue, create_graph: bool) -> LazyValue:
    from ember.frontend import autograd as engine

    with engine._grad_mode(create_graph):
        return (Tensor(a, RECORDER) + Tensor(b, RECORDER)).value
