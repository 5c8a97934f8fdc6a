"""`isclose` (elementwise) and `allclose` (one Python bool): PyTorch's closeness test
`|input - other| <= atol + rtol * |other|`, where equal infinities are close and NaN
is close to NaN only with `equal_nan=True`; `equal`: same shape and elements."""

from __future__ import annotations

from ember.errors import ShapeError, TraceError
from ember.frontend.tensor import Tensor, tensor_method
from ember.frontend.tracer import current_builder
from ember.graphdef import dtypes
from ember.nn.functional._core import active_builder, cast, promote_pair
from ember.nn.functional.elementwise import isfinite, isnan

__all__ = ["isclose", "allclose", "equal"]


@tensor_method()
def isclose(
    input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """`torch.isclose`: a bool tensor, True where `input` and `other` are close.

    Operands broadcast; mixed dtypes are promoted (PyTorch raises on them).

    >>> em.isclose(em.tensor([1.0, 2.0]), em.tensor([1.0 + 1e-7, 2.1]))   # [True, False]
    """
    builder = active_builder(input, other)
    if rtol < 0 or atol < 0:
        raise builder.error(
            ShapeError(
                f"isclose: rtol and atol must be non-negative, got rtol={rtol} and atol={atol}"
            )
        )
    a, b = promote_pair(input, other)
    close = a == b
    if equal_nan and dtypes.is_floating(a.dtype):
        close = close | (isnan(a) & isnan(b))
    if rtol == 0 and atol == 0:  # the test degenerates to equality, as in PyTorch
        return close
    if a.dtype == "bool":  # PyTorch measures the error of bools in the default float dtype
        a, b = cast(a, dtypes.DEFAULT_FLOAT), cast(b, dtypes.DEFAULT_FLOAT)
    # rtol * b promotes integers to float (a Python float is weakly typed), as in PyTorch
    allowed = abs(b * rtol) + atol
    error = abs(a - b)
    if dtypes.is_floating(error.dtype):
        # inf - inf is NaN and inf <= inf holds: only a finite error can make values close
        return close | (isfinite(error) & (error <= allowed))
    return close | (error <= allowed)


@tensor_method()
def allclose(
    input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """`torch.allclose`: True if every element pair is close (see `isclose`), as a Python bool.

    A Python bool needs concrete values, so this works outside a traced forward only (one
    host sync, as in PyTorch); inside one use `em.isclose(a, b).all()`, a bool tensor.

    >>> em.allclose(em.tensor([1.0, 2.0]), em.tensor([1.0, 2.0 + 1e-7]))   # True
    """
    _outside_a_trace("allclose", "em.isclose(a, b).all()", input, other)
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


@tensor_method()
def equal(input, other) -> bool:
    """`torch.equal`: True if both tensors have the same shape and elements, as a Python
    bool (outside a traced forward, like `allclose`).

    >>> em.equal(em.tensor([1, 2]), em.tensor([1, 2]))   # True
    """
    _outside_a_trace("equal", "(a == b).all()", input, other)
    if tuple(input.shape) != tuple(other.shape):
        return False
    a, b = promote_pair(input, other)
    return bool((a == b).all().item())


def _outside_a_trace(name: str, in_trace: str, input, other) -> None:
    """A Python bool needs concrete values: inside a trace, a clear error."""
    builder = current_builder()
    if builder is not None:
        shapes = [getattr(x, "shape", "a number") for x in (input, other)]
        raise builder.error(
            TraceError(
                f"{name}: returns a Python bool, which needs the concrete values of the "
                f"traced tensors {shapes[0]} and {shapes[1]}, not known while tracing; fix: "
                f"use {in_trace} (a bool tensor, em.where/em.cond can act on it), "
                f"or call {name} outside the traced forward"
            )
        )
