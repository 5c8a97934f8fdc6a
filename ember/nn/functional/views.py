"""Views: a tensor selected or reshaped from another writes its in-place updates back.

As in PyTorch, `x[i]`, `x[:, 1:3]`, `x.view(...)`, `x.t()`, `x.narrow(...)`,
`x.unbind()`, ... return views of `x`: an in-place op on one (`x[i][j] = v`,
`row = x[0]; row.zero_()`, `x.t().add_(1)`) changes `x`, and a view used after `x`
changed sees the change. ember's values are immutable arrays, so a view is a tensor
with a `ViewLink`: the tensor it came from (its root, never itself a view), the
selection steps, and the root's value it was computed from. An in-place op on the
view rebinds the view, then scatters its new value into the root (`root._assign`,
which writes back to a parameter's or buffer's slot in turn); a view whose root's
value changed is recomputed from the root before it is read (`Tensor._current`).

Advanced indexing (`x[idx_tensor]`, `x[mask]`) returns a copy, as in PyTorch.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable

from ember.frontend.tensor import Tensor

__all__: list[str] = []  # internal: the view ops use these

# a chain longer than this (`h = h[:, 1:]` in a loop) stops being a view: refreshing or
# writing through it would replay every step
_MAX_STEPS = 16

# steps that keep every element in place (writing back is a reshape, not a scatter)
_RESHAPES: set = set()


class ViewLink:
    """Where a view's values come from: `steps` applied to `root`, last computed from
    the root's value `seen` (a weak reference: a view does not keep old values alive,
    and host writes can tell a value nobody else holds, see host_writes.py)."""

    __slots__ = ("root", "steps", "seen")

    def __init__(self, root: Tensor, steps: tuple, seen):
        self.root, self.steps, self.seen = root, steps, seen

    def derive(self, root: Tensor) -> Tensor:
        out = root
        for fn, args, kwargs, pick in self.steps:
            out = fn(out, *args, **kwargs)
            if pick is not None:
                out = out[pick]
        return out

    def refresh(self, view: Tensor) -> None:
        """Recompute `view` from its root's current value."""
        root = self.root
        fresh = self.derive(root)
        view.value, view.builder = fresh.value, fresh.builder
        self.seen = weakref.ref(root.value)

    def write_back(self, view: Tensor) -> None:
        """Scatter the view's new value into its root (the root's in-place update)."""
        from ember.nn.functional.creation import arange
        from ember.nn.functional.shape import reshape

        root = self.root
        value = view if view.dtype == root.dtype else view.to(root.dtype)
        if all(step[0] in _RESHAPES for step in self.steps):
            new = reshape(value, root.shape)
        else:
            n = root.numel()
            positions = self.derive(reshape(arange(n), root.shape))
            k = positions.numel()
            flat = reshape(root, (n,))
            new = reshape(
                flat.scatter(0, reshape(positions, (k,)), reshape(value, (k,))), root.shape
            )
        root._assign(new)
        self.seen = weakref.ref(root.value)


def mark_view(out, input: Tensor, fn: Callable, args: tuple, kwargs: dict, pick=None) -> None:
    """Make `out` (a tensor, or one output `pick` of `fn`) a view of `input` through `fn`."""
    if out is input or not isinstance(out, Tensor):
        return
    step = (fn, args, kwargs, pick)
    link = input._view
    if link is None:
        out._view = ViewLink(input, (step,), weakref.ref(input.value))
    elif len(link.steps) < _MAX_STEPS:
        out._view = ViewLink(link.root, (*link.steps, step), link.seen)


def returns_view(fn: Callable | None = None, *, reshapes: bool = False):
    """Decorator: `fn(input, ...)` returns a view (or a tuple of views) of `input`.
    `reshapes`: the view holds the same elements in the same order (`view`, `flatten`)."""

    def wrap(fn: Callable) -> Callable:
        if reshapes:
            _RESHAPES.add(fn)

        @functools.wraps(fn)
        def viewing(input, *args, **kwargs):
            out = fn(input, *args, **kwargs)
            if isinstance(input, Tensor):
                if isinstance(out, (tuple, list)):
                    for k, piece in enumerate(out):
                        mark_view(piece, input, fn, args, kwargs, k)
                else:
                    mark_view(out, input, fn, args, kwargs)
            return out

        return viewing

    return wrap if fn is None else wrap(fn)
