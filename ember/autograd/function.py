"""`em.autograd.Function`: custom operations with a hand-written backward, PyTorch's API.

A subclass defines `forward` and `backward` as static methods; `Function.apply`
records one `custom_vjp` node (see `ember/graphdef/ops/custom_vjp.py`) whose
forward and backward are traced into sub-graphs. Inside a compiled model the
train step's `jax.grad` runs the given backward; on lazy tensors `loss.backward()`
does. Both bodies are traced (they see symbolic tensors): use ember ops in
them, not `.item()` or NumPy.

>>> class GradReverse(em.autograd.Function):
...     @staticmethod
...     def forward(ctx, x, lambd):
...         ctx.lambd = lambd
...         return x.view_as(x)
...
...     @staticmethod
...     def backward(ctx, grad):
...         return -ctx.lambd * grad, None
>>> y = GradReverse.apply(features, 0.5)
"""

from __future__ import annotations

import inspect
from typing import Any

from ember.errors import ShapeError, TraceError, UnsupportedOpError
from ember.frontend.custom_vjp import record_custom_vjp
from ember.frontend.tensor import Tensor
from ember.graphdef import dtypes
from ember.graphdef.types import TensorType

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """The `ctx` a Function's `forward` (or `setup_context`) and `backward` share.

    Any attribute may be set on it (`ctx.scale = 2.0`); tensors for the backward
    go through `save_for_backward`.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved: tuple = ()
        self._non_differentiable: set[int] = set()

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save tensors (or None), got a "
                    f"{type(t).__name__}; fix: store other values as ctx attributes "
                    "(ctx.value = ...)"
                )
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self._saved

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        """These outputs get no gradient; `backward` receives zeros for them."""
        self._non_differentiable.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for compatibility: ember always passes zero tensors, never None, for
        outputs that get no gradient (code written for either setting works)."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Tensor) -> None:
        raise UnsupportedOpError(
            "ctx.mark_dirty: in-place updates of a Function's inputs are not supported "
            "(ember tensors are values); fix: return the new value from forward and use it"
        )


def once_differentiable(fn):
    """PyTorch's decorator for backwards that are not themselves differentiable; ember
    differentiates a backward only when asked to (higher-order gradients), so it is the
    function unchanged."""
    return fn


class Function:
    """Base class of custom autograd operations; call them with `YourFunction.apply(...)`.

    Define `forward(ctx, *args)` (or `forward(*args)` plus `setup_context(ctx, inputs,
    output)`) and `backward(ctx, *grad_outputs)`, which returns one gradient per
    input of `forward` (None for non-tensor inputs or no gradient). A gradient may
    have a shape that broadcasts to its input's; it is summed to the input's shape.

    >>> class Exp(em.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = x.exp()
    ...         ctx.save_for_backward(y)
    ...         return y
    ...
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (y,) = ctx.saved_tensors
    ...         return grad * y
    >>> Exp.apply(x).sum().backward()
    """

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __call__(self, *args: Any, **kwargs: Any):
        raise TraceError(
            f"{type(self).__name__}(...)(x): calling an instance is the legacy autograd.Function "
            f"API; fix: make forward and backward @staticmethods and call "
            f"{type(self).__name__}.apply(x)"
        )

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static forward")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        raise NotImplementedError("setup_context is optional; forward(ctx, ...) does its work")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static backward")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run `forward` on `args` and record `backward` as its gradient rule."""
        return _Application(cls, args, kwargs).run()


def _uses_setup_context(cls: type) -> bool:
    return getattr(cls.setup_context, "__func__", cls.setup_context) is not getattr(
        Function.setup_context, "__func__", Function.setup_context
    )


class _Application:
    """One `Function.apply` call: the argument split, the traced bodies and the results."""

    def __init__(self, cls: type, args: tuple, kwargs: dict):
        self.cls = cls
        self.name = cls.__name__
        self.new_style = _uses_setup_context(cls)
        self.args = _bind(cls, args, kwargs, self.new_style)
        self.tensor_positions = [i for i, a in enumerate(self.args) if isinstance(a, Tensor)]
        self.structure: Any = None  # forward's result: one tensor, or a tuple/list of leaves
        self.result_positions: list[int] = []

    def run(self) -> Any:
        operands = [self.args[i] for i in self.tensor_positions]
        if not operands:  # nothing to differentiate: plain code
            return self._call_forward(_ctx(self.args, lazy=False), list(self.args))
        from ember.frontend.lazy import RECORDER
        from ember.nn.functional._core import active_builder

        lazy = active_builder() is RECORDER
        self.ctx = _ctx(self.args, lazy)
        outs = record_custom_vjp(self.name, operands, self._forward, self._backward, self.name)
        from ember.nn.functional.elementwise import stop_gradient

        leaves = list(self.leaves)
        for k, pos in enumerate(self.result_positions):
            out = outs[k]
            if self.non_differentiable[k]:
                out = stop_gradient(out)
            leaves[pos] = out
        if self.structure is None:
            return leaves[0]
        return type(self.structure)(leaves) if isinstance(self.structure, list) else tuple(leaves)

    # -- the bodies -----------------------------------------------------------------------
    def _forward(self, inner: list[Tensor]) -> list[Tensor]:
        args = list(self.args)
        for pos, t in zip(self.tensor_positions, inner, strict=True):
            args[pos] = t
        out = self._call_forward(self.ctx, args)
        if isinstance(out, (tuple, list)):
            self.structure, self.leaves = out, list(out)
        else:
            self.structure, self.leaves = None, [out]
        self.result_positions = [k for k, v in enumerate(self.leaves) if isinstance(v, Tensor)]
        if not self.result_positions:
            raise TraceError(
                f"{self.name}.forward returned no tensor ({type(out).__name__}); fix: return "
                "a tensor or a tuple of tensors"
            )
        marked = self.ctx._non_differentiable
        results = [self.leaves[k] for k in self.result_positions]
        # integer results need no marking: they never carry gradients
        self.non_differentiable = [id(t) in marked and dtypes.is_floating(t.dtype) for t in results]
        return results

    def _call_forward(self, ctx: FunctionCtx, args: list) -> Any:
        if not self.new_style:
            return self.cls.forward(ctx, *args)
        out = self.cls.forward(*args)
        self.cls.setup_context(ctx, tuple(args), out)
        return out

    def _backward(self, cotangents: list[Tensor]) -> list[Tensor | None]:
        grad_outputs: list[Any] = [None] * len(self.leaves)
        for pos, g in zip(self.result_positions, cotangents, strict=True):
            grad_outputs[pos] = g
        grads = self.cls.backward(self.ctx, *grad_outputs)
        grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
        n = len(self.args)
        if len(grads) > n and all(g is None for g in grads[n:]):
            grads = grads[:n]  # PyTorch allows trailing Nones
        if len(grads) != n:
            raise TraceError(
                f"{self.name}.backward returned an incorrect number of gradients (expected "
                f"{n}, one per input of forward, got {len(grads)}); fix: return a gradient "
                "per forward input, None for non-tensor inputs"
            )
        out = []
        for i, g in enumerate(grads):
            if i not in self.tensor_positions:
                if g is not None:
                    raise TraceError(
                        f"{self.name}.backward returned a gradient for input {i}, which is not "
                        f"a tensor ({type(self.args[i]).__name__}); fix: return None there"
                    )
                continue
            out.append(None if g is None else self._fit(i, g))
        return out

    def _fit(self, index: int, grad: Any) -> Tensor:
        """The gradient of input `index` in its input's shape and dtype (summing broadcast
        dimensions, as PyTorch does), or an error naming both shapes."""
        want: TensorType = self.args[index].value.type
        if not isinstance(grad, Tensor):
            raise TraceError(
                f"{self.name}.backward returned a {type(grad).__name__} as the gradient of input "
                f"{index}; fix: return a tensor of shape {want.shape} (or None for no gradient)"
            )
        shape = tuple(grad.shape)
        if shape != want.shape:
            dims = _summed_dims(shape, want.shape)
            if dims is None:
                raise ShapeError(
                    f"{self.name}.backward returned a gradient of shape {shape} for input "
                    f"{index} of shape {want.shape}; fix: return a gradient of the input's "
                    "shape (or of a shape it broadcasts to, which is summed back)"
                )
            lead = len(shape) - len(want.shape)
            if dims:
                grad = grad.sum(dim=dims, keepdim=True)
            if lead:
                grad = grad.reshape(want.shape)
        if grad.dtype != want.dtype:
            grad = grad.to(want.dtype)
        return grad


def _summed_dims(shape: tuple, target: tuple) -> tuple[int, ...] | None:
    """The dims of `shape` to sum so it becomes `target` (which broadcasts to it), or None."""
    lead = len(shape) - len(target)
    if lead < 0:
        return None
    dims = list(range(lead))
    for k, (have, want) in enumerate(zip(shape[lead:], target, strict=True)):
        if have != want:
            if want != 1:
                return None
            dims.append(lead + k)
    return tuple(dims)


def _ctx(args: list, lazy: bool) -> FunctionCtx:
    from ember.frontend.lazy import is_grad_enabled

    def needs(a: Any) -> bool:
        if not isinstance(a, Tensor) or not dtypes.is_floating(a.dtype):
            return False
        return is_grad_enabled() and (a.requires_grad if lazy else True)

    return FunctionCtx(tuple(needs(a) for a in args))


def _bind(cls: type, args: tuple, kwargs: dict, new_style: bool) -> list:
    """`args` and `kwargs` as forward's positional arguments (defaults filled in)."""
    if not kwargs:
        return list(args)
    try:
        sig = inspect.signature(cls.forward)
        params = list(sig.parameters.values())
        if not new_style:
            sig = sig.replace(parameters=params[1:])  # ctx is passed by apply
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}.apply: {e}") from None
    bound.apply_defaults()
    if bound.kwargs:
        raise TypeError(
            f"{cls.__name__}.apply: forward takes keyword-only arguments "
            f"{sorted(bound.kwargs)}; fix: make them positional"
        )
    return list(bound.args)
