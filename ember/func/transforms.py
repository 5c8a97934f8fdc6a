"""torch.func's function transforms (`grad`, `vmap`, `jacrev`, ...) over ember tensors.

ember's eager tensors are lazy: their ops are recorded and run as jitted JAX programs, and
those programs run as well on JAX tracers as on arrays. So a transform here is JAX's own:
the arguments go in as JAX arrays, the user's function sees them as ember tensors (whose
values are the transform's tracers), and what it returns goes back to JAX. Transforms
nest (`vmap(grad(f))`), and `em.func.functional_call` inside them differentiates a
module's parameters, as in PyTorch's per-sample-gradient recipe:

    >>> params = {k: v.detach() for k, v in net.named_parameters()}      # doctest: +SKIP
    >>> def loss(params, x, y):                                          # doctest: +SKIP
    ...     out = em.func.functional_call(net, params, (x.unsqueeze(0),))
    ...     return F.cross_entropy(out, y.unsqueeze(0))
    >>> per_sample = em.func.vmap(em.func.grad(loss), in_dims=(None, 0, 0))(params, x, y)

Differences from PyTorch: random ops inside `vmap` draw the same values for every
example (torch's `randomness="same"`; its default "error" is not enforced), and
`chunk_size` is accepted and ignored (JAX batches the whole dimension at once).
Python control flow on values (`if x.sum() > 0`, `.item()`) fails under a transform, as
it does in torch.func.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import jax

from ember.compiler.lowering.composite import torch_gradient
from ember.errors import TraceError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor


def _to_jax(tree: Any) -> Any:
    """ember tensors -> JAX arrays (their values: tracers inside a transform)."""
    return jax.tree.map(
        lambda x: x._concrete("a transform's input or output") if isinstance(x, Tensor) else x,
        tree,
    )


def _to_ember(tree: Any) -> Any:
    """JAX arrays (and tracers) -> ember tensors; other leaves as they are."""
    return jax.tree.map(lambda x: as_tensor(x) if isinstance(x, jax.Array) else x, tree)


def _jax_function(func: Callable, kwargs: dict, has_aux: bool = False) -> Callable:
    """`func` as a function of JAX arrays: ember tensors in, JAX arrays out."""

    def run(*args):
        try:
            out = func(*_to_ember(args), **kwargs)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError) as e:
            name = getattr(func, "__qualname__", type(func).__name__)
            raise TraceError(
                f"{name} reads a tensor's value (.item(), .numpy(), `if tensor:`, float()) "
                "under an em.func transform, where values are not known; fix: keep the "
                "computation in tensor ops (em.where for choices), as torch.func requires"
            ) from e
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ValueError(
                    "has_aux=True: the function must return a pair (output, aux); got "
                    f"{type(out).__name__}"
                )
            return _to_jax(out[0]), _to_jax(out[1])
        return _to_jax(out)

    return run


def _argnums(argnums: int | tuple[int, ...], n_args: int) -> int | tuple[int, ...]:
    for i in (argnums,) if isinstance(argnums, int) else argnums:
        if not -n_args <= i < n_args:
            raise ValueError(
                f"argnums={argnums!r} names an argument the call does not have (it got {n_args}); "
                "fix: count positional arguments from 0"
            )
    return argnums


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """`torch.func.grad`: the gradient of a scalar-valued `func` with respect to its
    `argnums` argument(s) (tensors or pytrees of them), as ember tensors.

    >>> em.func.grad(lambda x: (x.sin() ** 2).sum())(em.tensor([0.5, 1.0]))  # doctest: +SKIP
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        transformed = jax.grad(
            _jax_function(func, kwargs, has_aux),
            argnums=_argnums(argnums, len(args)),
            has_aux=has_aux,
        )
        out = transformed(*_to_jax(args))
        gradient = jax.tree_util.tree_map(torch_gradient, out[0] if has_aux else out)
        return _to_ember((gradient, out[1]) if has_aux else gradient)

    return wrapper


def grad_and_value(
    func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable:
    """`torch.func.grad_and_value`: `(gradient, value)`, or `(gradient, (value, aux))`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        transformed = jax.value_and_grad(
            _jax_function(func, kwargs, has_aux),
            argnums=_argnums(argnums, len(args)),
            has_aux=has_aux,
        )
        value, gradient = transformed(*_to_jax(args))
        return _to_ember((jax.tree_util.tree_map(torch_gradient, gradient), value))

    return wrapper


def vjp(func: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """`torch.func.vjp`: `(output, vjp_fn)` (plus `aux` with `has_aux`); `vjp_fn(cotangents)`
    returns one gradient per primal."""
    out = jax.vjp(_jax_function(func, {}, has_aux), *_to_jax(primals), has_aux=has_aux)

    def vjp_fn(cotangents: Any) -> tuple:
        return _to_ember(out[1](_to_jax(cotangents)))

    return (_to_ember(out[0]), vjp_fn, *(_to_ember(out[2:]) if has_aux else ()))


def jvp(
    func: Callable, primals: Any, tangents: Any, *, strict: bool = False, has_aux: bool = False
) -> tuple:
    """`torch.func.jvp`: `(output, jvp_out)` (plus `aux` with `has_aux`)."""
    primals, tangents = tuple(_to_jax(primals)), tuple(_to_jax(tangents))
    if has_aux:
        out, tangent_out, aux = jax.jvp(
            _jax_function(func, {}, True), primals, tangents, has_aux=True
        )
        return _to_ember((out, tangent_out, aux))
    return _to_ember(jax.jvp(_jax_function(func, {}), primals, tangents))


def _jacobian(transform: Callable, func, argnums, has_aux: bool) -> Callable:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        transformed = transform(
            _jax_function(func, kwargs, has_aux),
            argnums=_argnums(argnums, len(args)),
            has_aux=has_aux,
        )
        return _to_ember(transformed(*_to_jax(args)))

    return wrapper


def jacrev(
    func: Callable,
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
    _preallocate_and_copy: bool = False,
) -> Callable:
    """`torch.func.jacrev`: the Jacobian by reverse mode (`output.shape + input.shape`)."""
    return _jacobian(jax.jacrev, func, argnums, has_aux)


def jacfwd(
    func: Callable,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
) -> Callable:
    """`torch.func.jacfwd`: the Jacobian by forward mode (`output.shape + input.shape`)."""
    return _jacobian(jax.jacfwd, func, argnums, has_aux)


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """`torch.func.hessian`: the Hessian of a scalar-valued `func` (forward over reverse)."""
    return _jacobian(jax.hessian, func, argnums, False)


def vmap(
    func: Callable,
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable:
    """`torch.func.vmap` (also `em.vmap`): `func` mapped over a dimension of its inputs.

    `in_dims`: an int, None (not mapped) or a tuple/pytree of them per positional argument;
    `out_dims` likewise for the outputs.

    >>> em.vmap(em.dot)(em.ones(4, 3), em.ones(4, 3))   # 4 dot products  # doctest: +SKIP
    """
    if randomness not in ("error", "different", "same"):
        raise ValueError(f"randomness must be 'error', 'different' or 'same', got {randomness!r}")

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        in_axes = in_dims if not isinstance(in_dims, list) else tuple(in_dims)
        mapped = jax.vmap(_jax_function(func, kwargs), in_axes=in_axes, out_axes=out_dims)
        return _to_ember(mapped(*_to_jax(args)))

    return wrapper


__all__ = ["grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "vjp", "vmap"]
