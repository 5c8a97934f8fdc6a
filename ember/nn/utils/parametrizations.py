"""`nn.utils.parametrizations`: weight and spectral normalization as parametrizations
(PyTorch's current API), with PyTorch's state-dict keys:
`parametrizations.weight.original0/1` for weight norm,
`parametrizations.weight.original` and `parametrizations.weight.0._u/_v` for spectral norm.

>>> from ember.nn.utils.parametrizations import spectral_norm, weight_norm
>>> conv = weight_norm(nn.Conv1d(4, 8, 3))
>>> sorted(conv.state_dict())
['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""

from __future__ import annotations

from ember.autograd.grad_mode import no_grad
from ember.frontend.tensor import Tensor
from ember.nn.functional.distance import normalize
from ember.nn.functional.random import randn
from ember.nn.module import Module
from ember.nn.utils.parametrize import register_parametrization
from ember.nn.utils.spectral_norm import default_dim, weight_matrix
from ember.nn.utils.weight_norm import norm_except_dim, own_parameter, weight_norm_value

__all__ = ["spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_norm_value(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return norm_except_dim(weight, 2, self.dim), weight


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int, dim: int, eps: float):
        super().__init__()
        if n_power_iterations <= 0:
            raise ValueError(
                f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}"
            )
        ndim = weight.ndim
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        if ndim > 1:
            with no_grad():
                mat = weight_matrix(weight, self.dim).detach()
                h, w = mat.shape
                self.register_buffer("_u", normalize(randn(h), dim=0, eps=eps).detach())
                self.register_buffer("_v", normalize(randn(w), dim=0, eps=eps).detach())
                self._power_method(mat, 15)  # start from a good estimate, as PyTorch does

    def _power_method(self, mat: Tensor, n: int) -> None:
        with no_grad():
            u, v = self._u, self._v
            for _ in range(n):
                u = normalize(mat @ v, dim=0, eps=self.eps)
                v = normalize(mat.t() @ u, dim=0, eps=self.eps)
            self._u, self._v = u.detach(), v.detach()

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        mat = weight_matrix(weight, self.dim)
        if self.training:
            self._power_method(mat.detach(), self.n_power_iterations)
        u, v = self._u.detach(), self._v.detach()
        sigma = (u * (mat @ v)).sum()
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparameterize `module.<name>` as magnitude (`original0`) times direction
    (`original1`) normalized over every dimension but `dim` (`None`: the whole tensor)."""
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Divide `module.<name>` by its spectral norm, refined by `n_power_iterations` power
    iteration steps on each access in train mode (buffers `_u`, `_v`)."""
    weight = own_parameter(module, name, "spectral_norm")
    dim = default_dim(module) if dim is None else dim
    return register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
