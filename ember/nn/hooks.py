"""Forward hooks of modules, with PyTorch's names and calling conventions.

`register_forward_pre_hook(hook)` runs `hook(module, args)` before `forward` (a
returned value replaces the positional arguments); `register_forward_hook(hook)`
runs `hook(module, args, output)` after it (a returned value replaces the output).
`with_kwargs=True` passes the keyword arguments too, `prepend=True` runs the hook
first, `always_call=True` runs a forward hook even when `forward` raised. Each
returns a `RemovableHandle`.

Where hooks run:

- in a compiled step (`em.compile`, `functionalize`), while the step is traced: a
  hook's tensors are the traced values and what it returns becomes part of the
  program. Registering or removing a hook retraces the cached steps.
- in an eager call (`net(x)` on arrays or tensors), on every call: a module whose
  subtree has hooks runs its `forward` op by op on lazy tensors (its hook-free
  children still run as one cached program each), so a hook that keeps
  `output.detach()` keeps a real value, as in PyTorch's feature-extraction recipes.

Backward hooks (`register_full_backward_hook`) are not supported: ember derives the
backward pass with `jax.grad` over the whole step, where no per-module Python runs;
the error says what to use instead.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ember.nn.parameter import bump_state_version

_next_id = itertools.count()
# Set once any hook is registered (never reset: copies of hooked modules keep theirs), so
# eager calls of programs that never use hooks skip the subtree walk.
_HOOKS_REGISTERED = [False]


class RemovableHandle:
    """What `register_*_hook` returns: `.remove()` (or leaving a `with` block) unregisters.

    >>> handle = net.fc.register_forward_hook(lambda m, args, out: print(out.shape))
    >>> handle.remove()
    """

    def __init__(self, table: OrderedDict):
        self.id = next(_next_id)
        self._table = table

    def remove(self) -> None:
        if self._table.pop(self.id, None) is not None:
            bump_state_version()  # cached steps were traced with the hook

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _tables(module: Any) -> tuple[OrderedDict, OrderedDict]:
    d = module.__dict__
    if "_forward_pre_hooks" not in d:
        object.__setattr__(module, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(module, "_forward_hooks", OrderedDict())
    return d["_forward_pre_hooks"], d["_forward_hooks"]


def has_hooks(module: Any) -> bool:
    """Whether `module` itself has a forward pre-hook or forward hook."""
    d = module.__dict__
    return bool(d.get("_forward_pre_hooks")) or bool(d.get("_forward_hooks"))


def hook_ids(module: Any) -> tuple:
    """Which hooks `module` has, in calling order: part of a compiled program's key,
    because hooks run when a step is traced."""
    pre, post = _tables(module)
    return tuple(pre), tuple(post)


def _register(table: OrderedDict, entry: tuple, prepend: bool) -> RemovableHandle:
    if not callable(entry[0]):
        raise TypeError(f"a hook must be callable, got {type(entry[0]).__name__}")
    handle = RemovableHandle(table)
    table[handle.id] = entry
    if prepend:
        table.move_to_end(handle.id, last=False)
    _HOOKS_REGISTERED[0] = True
    bump_state_version()
    return handle


def subtree_has_hooks(module: Any) -> bool:
    """Whether `module` or a module under it has a forward hook, or registers tensor
    hooks in its forward (cheap when none has)."""
    if not _HOOKS_REGISTERED[0]:
        return False
    return any(has_hooks(m) or "_eager_forward" in m.__dict__ for m in module.modules())


def run_op_by_op(module: Any) -> None:
    """Eager calls of `module` run its forward op by op from now on: it registers tensor
    hooks (`t.register_hook`, `t.retain_grad()`) that must see every call's gradients."""
    object.__setattr__(module, "_eager_forward", True)
    _HOOKS_REGISTERED[0] = True


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """`module.forward(*args, **kwargs)` between its pre-hooks and its forward hooks."""
    pre, post = _tables(module)
    for hook, with_kwargs in list(pre.values()):
        if with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise TypeError(
                        f"forward pre-hook {_name(hook)} with with_kwargs=True must return "
                        f"None or a tuple (args, kwargs), got {type(result).__name__}"
                    )
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    try:
        output = module.forward(*args, **kwargs)
    except BaseException:
        for hook, with_kwargs, always in list(post.values()):
            if always:
                try:
                    hook(module, args, kwargs, None) if with_kwargs else hook(module, args, None)
                except Exception:  # noqa: BLE001 (forward's error is the one to report)
                    pass
        raise
    for hook, with_kwargs, _ in list(post.values()):
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    return output


def _name(hook: Callable) -> str:
    return getattr(hook, "__qualname__", type(hook).__name__)


class HookMixin:
    """The hook registration methods of `nn.Module`."""

    def register_forward_pre_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Run `hook(module, args)` before each forward; a returned tuple (or single value)
        replaces the positional arguments. `with_kwargs=True`: `hook(module, args, kwargs)`
        returning None or `(args, kwargs)`.

        >>> h = net.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        """
        pre, _ = _tables(self)
        return _register(pre, (hook, with_kwargs), prepend)

    def register_forward_hook(
        self,
        hook: Callable,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Run `hook(module, args, output)` after each forward; a returned value replaces
        the output. `with_kwargs=True`: `hook(module, args, kwargs, output)`.

        >>> features = {}
        >>> h = net.fc1.register_forward_hook(
        ...     lambda m, args, out: features.__setitem__("fc1", out.detach()))
        >>> _ = net(x)          # features["fc1"] holds fc1's output of this call
        >>> h.remove()
        """
        _, post = _tables(self)
        return _register(post, (hook, with_kwargs, always_call), prepend)

    def register_full_backward_hook(self, hook: Callable, *, prepend: bool = False):
        """Not supported: see `_backward_hooks_unsupported`."""
        _backward_hooks_unsupported(self, "register_full_backward_hook")

    def register_full_backward_pre_hook(self, hook: Callable, *, prepend: bool = False):
        """Not supported: see `_backward_hooks_unsupported`."""
        _backward_hooks_unsupported(self, "register_full_backward_pre_hook")

    def register_backward_hook(self, hook: Callable):
        """Not supported: see `_backward_hooks_unsupported`."""
        _backward_hooks_unsupported(self, "register_backward_hook")


def _backward_hooks_unsupported(module: Any, name: str):
    raise NotImplementedError(
        f"{type(module).__name__}.{name}: ember derives the backward pass with jax.grad over "
        "the whole step, where no per-module Python runs, so backward hooks cannot be called. "
        "fix: to read or change gradients, use the tensors' .grad after loss.backward() "
        "(eager), or em.compile(..., grad_transform=...) for a compiled step; to see an "
        "output's gradient, keep the output with a forward hook and call "
        "em.autograd.grad(loss, output)"
    )
