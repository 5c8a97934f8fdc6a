"""Constraints: the sets a parameter or a sample must lie in (`torch.distributions.constraints`).

`check(value)` returns a boolean array/tensor (one entry per event) and works on numpy
arrays and ember tensors alike, so validation can run on host values without compiling.

>>> from ember.distributions import constraints
>>> constraints.positive.check(np.array([1.0, -2.0]))
array([ True, False])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Constraint",
    "boolean",
    "dependent",
    "greater_than",
    "greater_than_eq",
    "half_open_interval",
    "independent",
    "integer_interval",
    "interval",
    "lower_cholesky",
    "nonnegative",
    "nonnegative_integer",
    "one_hot",
    "positive",
    "positive_definite",
    "real",
    "real_vector",
    "simplex",
    "unit_interval",
]


def _all_last(ok: Any, n: int) -> Any:
    for _ in range(n):
        ok = ok.all(-1)
    return ok


def _is_integral(value: Any) -> Any:
    return value % 1 == 0


class Constraint:
    """A set of valid values; `event_dim` trailing dims form one event."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__.lstrip("_") + "()"


class _Dependent(Constraint):
    """Depends on other parameters (Uniform's support); has no check of its own."""

    def check(self, value: Any) -> Any:
        raise ValueError("a dependent constraint cannot be checked on its own")


class _Real(Constraint):
    def check(self, value: Any) -> Any:
        return value == value  # False only for NaN


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value: Any) -> Any:
        return (value == 0) | (value == 1)


class _GreaterThan(Constraint):
    def __init__(self, lower_bound: float):
        self.lower_bound = lower_bound

    def check(self, value: Any) -> Any:
        return value > self.lower_bound

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _GreaterThanEq(_GreaterThan):
    def check(self, value: Any) -> Any:
        return value >= self.lower_bound

    def __repr__(self) -> str:
        return f"GreaterThanEq(lower_bound={self.lower_bound})"


class _Interval(Constraint):
    def __init__(self, lower_bound: Any, upper_bound: Any):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value: Any) -> Any:
        return (value >= self.lower_bound) & (value <= self.upper_bound)

    def __repr__(self) -> str:
        return f"{type(self).__name__.lstrip('_')}({self.lower_bound}, {self.upper_bound})"


class _HalfOpenInterval(_Interval):
    def check(self, value: Any) -> Any:
        return (value >= self.lower_bound) & (value < self.upper_bound)


class _IntegerInterval(_Interval):
    is_discrete = True

    def check(self, value: Any) -> Any:
        return _is_integral(value) & super().check(value)


class _IntegerGreaterThanEq(_GreaterThanEq):
    is_discrete = True

    def check(self, value: Any) -> Any:
        return _is_integral(value) & super().check(value)


class _Independent(Constraint):
    """`base` applied elementwise, with `reinterpreted_batch_ndims` more dims per event."""

    def __init__(self, base: Constraint, reinterpreted_batch_ndims: int):
        self.base, self.reinterpreted_batch_ndims = base, reinterpreted_batch_ndims
        self.is_discrete = base.is_discrete
        self.event_dim = base.event_dim + reinterpreted_batch_ndims

    def check(self, value: Any) -> Any:
        return _all_last(self.base.check(value), self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"Independent({self.base!r}, {self.reinterpreted_batch_ndims})"


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value: Any) -> Any:
        return (value >= 0).all(-1) & (abs(value.sum(-1) - 1) < 1e-6)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value: Any) -> Any:
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value: Any) -> Any:
        upper = np.triu(np.ones(value.shape[-2:], bool), 1)
        zero_above = _all_last((value * upper) == 0, 2)
        n = value.shape[-1]
        diagonal = (value * np.eye(n, dtype=bool)).sum(-1)
        return zero_above & (diagonal > 0).all(-1)


class _PositiveDefinite(Constraint):
    """Symmetric with a Cholesky factor (checked on host values only)."""

    event_dim = 2

    def check(self, value: Any) -> Any:
        arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value, np.float64)
        symmetric = np.isclose(arr, np.swapaxes(arr, -1, -2), atol=1e-6).all((-2, -1))
        flat = arr.reshape((-1, *arr.shape[-2:]))
        ok = np.array([_has_cholesky(m) for m in flat], bool).reshape(arr.shape[:-2])
        return symmetric & ok


def _has_cholesky(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


dependent = _Dependent()
real = _Real()
real_vector = _Independent(real, 1)
boolean = _Boolean()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
nonnegative_integer = _IntegerGreaterThanEq(0)
unit_interval = _Interval(0.0, 1.0)
simplex = _Simplex()
one_hot = _OneHot()
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval
independent = _Independent
