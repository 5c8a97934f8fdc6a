"""`Distribution`: the base class of `ember.distributions` (PyTorch's `torch.distributions`).

A distribution holds parameter tensors of shape `batch_shape + <per-parameter event
dims>`. Samples have shape `sample_shape + batch_shape + event_shape`; `log_prob(value)`
returns one number per batch element (`batch_shape`, broadcast with the value's leading
dims). It is built from ember ops only, so the same object works inside a compiled
forward (randomness from the step's key), on lazy tensors outside a model (the
`em.manual_seed` stream, gradients through `loss.backward()`), and on plain values.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ember.distributions import constraints
from ember.distributions.utils import as_shape, concrete_array
from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn import functional as F
from ember.nn.functional._core import as_tensor

__all__ = ["Distribution"]

_FIX_HINTS = {
    "GreaterThan(lower_bound=0.0)": "e.g. F.softplus(x) or x.exp() gives a positive scale",
    "Interval(0.0, 1.0)": "e.g. x.sigmoid(), or pass logits= instead of probs=",
}


class Distribution:
    """Base class: shapes, sampling entry points, validation and the statistics' API.

    >>> d = Normal(em.zeros(3), em.ones(3))
    >>> d.batch_shape, d.event_shape, d.sample((5,)).shape
    ((3,), (), (5, 3))
    """

    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict[str, constraints.Constraint] = {}
    _validate_default = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for distributions created afterwards."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args expects True or False, got {value!r}")
        Distribution._validate_default = value

    def __init__(
        self,
        batch_shape: tuple[int, ...] = (),
        event_shape: tuple[int, ...] = (),
        validate_args: bool | None = None,
    ):
        self._batch_shape = as_shape(batch_shape)
        self._event_shape = as_shape(event_shape)
        if validate_args is not None:
            self._validate_args = bool(validate_args)
        # parameters set as attributes before this call (PyTorch's subclassing pattern)
        known = {k: v for k, v in vars(self).items() if k in self.arg_constraints}
        self._validate_params(known)

    @property
    def _validate_args(self) -> bool:
        return self.__dict__.get("_validate_flag", Distribution._validate_default)

    @_validate_args.setter
    def _validate_args(self, value: bool) -> None:
        self.__dict__["_validate_flag"] = value

    # -- shapes ------------------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    def _extended_shape(self, sample_shape: Any = ()) -> tuple[int, ...]:
        return as_shape(sample_shape) + self._batch_shape + self._event_shape

    def expand(self, batch_shape: Any, _instance: Distribution | None = None) -> Distribution:
        """The same distribution broadcast to a larger `batch_shape` (parameters expanded).

        >>> Normal(0.0, 1.0).expand((4, 2)).batch_shape
        (4, 2)
        """
        batch_shape = as_shape(batch_shape)
        try:
            broadcast_to = broadcast_shapes(batch_shape, self._batch_shape)
        except ShapeError:
            broadcast_to = None
        if broadcast_to != batch_shape:
            raise ShapeError(
                f"{type(self).__name__}.expand: batch_shape {self._batch_shape} cannot be "
                f"expanded to {batch_shape}; fix: a shape whose trailing dims equal "
                "the current ones or expand dims of size 1"
            )
        new = copy.copy(self)
        n = len(self._batch_shape)
        for name, value in vars(self).items():
            if isinstance(value, Tensor):
                setattr(new, name, F.broadcast_to(value, batch_shape + value.shape[n:]))
        new._batch_shape = batch_shape
        return new

    # -- sampling ------------------------------------------------------------------------------
    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Draw `sample_shape + batch_shape + event_shape` values; no gradient flows back."""
        if not self.has_rsample:
            raise NotImplementedError(f"{type(self).__name__} does not implement sample")
        return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """A reparameterized sample: gradients flow to the parameters (`has_rsample`)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no reparameterized sampler (has_rsample is False); "
            "fix: use sample() with a score-function (REINFORCE) loss through log_prob, "
            "or F.gumbel_softmax for a relaxed categorical"
        )

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    # -- statistics ----------------------------------------------------------------------------
    def log_prob(self, value: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement cdf")

    def icdf(self, value: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement icdf")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no enumerable support")

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    @property
    def support(self) -> constraints.Constraint | None:
        return None

    # -- validation ----------------------------------------------------------------------------
    def _support_to_check(self) -> constraints.Constraint | None:
        """The support host values are checked against (None: nothing checkable)."""
        support = self.support
        return None if support is constraints.dependent else support

    def _validate_params(self, params: dict[str, Any]) -> None:
        """Check parameters whose values are on the host against `arg_constraints`."""
        if not self._validate_args:
            return
        for name, value in params.items():
            constraint = self.arg_constraints.get(name)
            arr = None if constraint is None else concrete_array(value)
            if arr is None or constraint is constraints.dependent:
                continue
            ok = np.asarray(constraint.check(arr))
            if not ok.all():
                bad = np.asarray(arr)[~ok] if ok.shape == np.shape(arr) else arr
                hint = _FIX_HINTS.get(repr(constraint), "pass values that satisfy it")
                raise ValueError(
                    f"{type(self).__name__}: parameter {name} of shape {np.shape(arr)} must "
                    f"satisfy {constraint!r}, but has invalid values {_preview(bad)}; fix: "
                    f"{hint}, or validate_args=False to skip this check"
                )

    def _validate_sample(self, value: Any) -> Tensor:
        """The value as a tensor; its shape must end with `event_shape` and broadcast with
        `batch_shape`, and (host values, when validating) lie in the support."""
        arr = concrete_array(value) if self._validate_args else None
        tensor = as_tensor(value)
        shape, event = tuple(tensor.shape), self._event_shape
        if len(shape) < len(event) or shape[len(shape) - len(event) :] != event:
            raise ShapeError(
                f"{type(self).__name__}: a value of shape {shape} must end with the event "
                f"shape {event}; fix: pass values of shape (..., *{event})"
            )
        try:
            broadcast_shapes(shape, self._batch_shape + event)
        except ShapeError as err:
            raise ShapeError(
                f"{type(self).__name__}: a value of shape {shape} does not broadcast with "
                f"batch_shape + event_shape {self._batch_shape + event}; fix: reshape the "
                "value or expand() the distribution"
            ) from err
        support = self._support_to_check() if arr is not None else None
        if support is not None:
            ok = np.asarray(support.check(arr))
            if not ok.all():
                raise ValueError(
                    f"{type(self).__name__}: the value must be within the support {support!r}, "
                    f"got {_preview(arr)}; fix: pass values in the support, or "
                    "validate_args=False to skip this check"
                )
        return tensor

    def _repr_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter shapes `repr` shows: the stored ones (properties are not computed)."""
        return {
            name: tuple(value.shape)
            for name in self.arg_constraints
            if isinstance(value := self.__dict__.get(name), Tensor)
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}: {shape}" for name, shape in self._repr_shapes().items())
        return f"{type(self).__name__}({shown})"


def _preview(values: Any) -> str:
    flat = np.asarray(values).ravel()
    text = np.array2string(flat[:6], precision=4, separator=", ")
    return text[:-1] + ", ...]" if flat.size > 6 else text
