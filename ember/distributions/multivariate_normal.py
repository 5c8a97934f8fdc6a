"""`MultivariateNormal(loc, covariance_matrix= | precision_matrix= | scale_tril=)`."""

from __future__ import annotations

import math
from typing import Any

from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.linalg import cholesky, diagonal, inverse_lower, matvec, solve_lower
from ember.distributions.utils import as_shape
from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.graphdef.ops.common import broadcast_shapes
from ember.nn import functional as F
from ember.nn.functional._core import promote_all, to_float

__all__ = ["MultivariateNormal"]


class MultivariateNormal(Distribution):
    """Gaussian over vectors of size D with a full covariance (event shape (D,)).

    Give exactly one of `scale_tril` (lower Cholesky factor, the cheapest),
    `covariance_matrix` or `precision_matrix`. The Cholesky factorization and the
    triangular solves are unrolled over D (see `ember.distributions.linalg`), so this
    suits event sizes up to a few dozen.

    >>> d = MultivariateNormal(em.zeros(2), scale_tril=em.tensor([[1.0, 0.0], [0.5, 2.0]]))
    >>> d.rsample((3,)).shape, d.log_prob(em.zeros(2)).shape
    ((3, 2), ())
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc: Any,
        covariance_matrix: Any = None,
        precision_matrix: Any = None,
        scale_tril: Any = None,
        validate_args: bool | None = None,
    ):
        given = {
            name: value
            for name, value in (
                ("covariance_matrix", covariance_matrix),
                ("precision_matrix", precision_matrix),
                ("scale_tril", scale_tril),
            )
            if value is not None
        }
        if len(given) != 1:
            raise ValueError(
                "MultivariateNormal takes exactly one of covariance_matrix, precision_matrix "
                f"or scale_tril, got {sorted(given) or 'none'}; fix: e.g. "
                "MultivariateNormal(loc, scale_tril=L)"
            )
        ((name, raw),) = given.items()
        loc_t, matrix = _as_pair(loc, raw)
        if loc_t.ndim < 1 or matrix.ndim < 2 or matrix.shape[-2:] != loc_t.shape[-1:] * 2:
            raise ShapeError(
                f"MultivariateNormal: loc of shape {loc_t.shape} needs a {name} of shape "
                f"(..., D, D) with D = loc.shape[-1], got {matrix.shape}; fix: loc (..., D) "
                "and a square (..., D, D) matrix"
            )
        n = loc_t.shape[-1]
        batch = broadcast_shapes(loc_t.shape[:-1], matrix.shape[:-2])
        super().__init__(batch, (n,), validate_args=validate_args)
        self.loc = F.broadcast_to(loc_t, batch + (n,))
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)
        self._given = name
        self._validate_params({"loc": loc, name: raw})

    def _repr_shapes(self) -> dict[str, tuple[int, ...]]:
        n = self.event_shape[0]
        return {"loc": self.loc.shape, self._given: self.batch_shape + (n, n)}

    def expand(self, batch_shape: Any, _instance: Distribution | None = None) -> Distribution:
        new = super().expand(as_shape(batch_shape))  # expands loc; the factor stays shared
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        return new

    def _full(self, matrix: Tensor) -> Tensor:
        return F.broadcast_to(matrix, self.batch_shape + matrix.shape[-2:])

    @property
    def scale_tril(self) -> Tensor:
        return self._full(self._unbroadcasted_scale_tril)

    @property
    def covariance_matrix(self) -> Tensor:
        factor = self._unbroadcasted_scale_tril
        return self._full(factor @ factor.mT)

    @property
    def precision_matrix(self) -> Tensor:
        inverse = inverse_lower(self._unbroadcasted_scale_tril)
        return self._full(inverse.mT @ inverse)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        variance = self._unbroadcasted_scale_tril.square().sum(-1)
        return F.broadcast_to(variance, self.batch_shape + self.event_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        eps = F.randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + matvec(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self) -> Tensor:
        return diagonal(self._unbroadcasted_scale_tril).log().sum(-1)

    def log_prob(self, value: Any) -> Tensor:
        value = self._validate_sample(value)
        whitened = solve_lower(self._unbroadcasted_scale_tril, value - self.loc)
        n = self.event_shape[0]
        mahalanobis = whitened.square().sum(-1)
        return -0.5 * (n * math.log(2 * math.pi) + mahalanobis) - self._half_log_det()

    def entropy(self) -> Tensor:
        n = self.event_shape[0]
        value = 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return F.broadcast_to(value, self.batch_shape)


def _as_pair(loc: Any, matrix: Any) -> tuple[Tensor, Tensor]:
    """loc and matrix as tensors of one float dtype (their shapes broadcast separately)."""
    loc_t, matrix_t = (to_float(t) for t in promote_all(loc, matrix))
    return loc_t, matrix_t


def _precision_to_scale_tril(precision: Tensor) -> Tensor:
    # flipping rows and columns turns the Cholesky factor of P into the inverse factor
    # of the covariance: Σ = P⁻¹ = L Lᵀ with L = inverse of flip(chol(flip(P)))ᵀ
    flipped = cholesky(F.flip(precision, (-2, -1)))
    inverse_factor = F.flip(flipped, (-2, -1)).mT
    return inverse_lower(inverse_factor)
