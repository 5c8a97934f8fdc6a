"""`nn.utils.spectral_norm`: a weight divided by its largest singular value, estimated
by power iteration (SN-GAN discriminators), with PyTorch's original API and names:
parameter `weight_orig`, buffers `weight_u` and `weight_v`.

In train mode each forward runs `n_power_iterations` steps that refine `weight_u` and
`weight_v` (no gradient flows through them) before `weight = weight_orig / sigma`,
`sigma = u . (W v)`; eval mode uses the stored vectors. Inside a compiled step the
iteration is part of the program and the vectors are updated like BatchNorm's running
statistics.

>>> d = nn.utils.spectral_norm(nn.Linear(20, 40))
>>> sorted(d.state_dict())
['bias', 'weight_orig', 'weight_u', 'weight_v']
"""

from __future__ import annotations

from ember.autograd.grad_mode import no_grad
from ember.frontend.tensor import Tensor
from ember.nn.functional.distance import normalize
from ember.nn.module import Module
from ember.nn.parameter import Parameter, bump_state_version
from ember.nn.utils.weight_norm import own_parameter

__all__ = ["default_dim", "remove_spectral_norm", "spectral_norm", "weight_matrix"]

_TRANSPOSED = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")


def default_dim(module: Module) -> int:
    """PyTorch's default: the output-channel dimension (1 for transposed convolutions)."""
    return 1 if type(module).__name__ in _TRANSPOSED else 0


def weight_matrix(weight: Tensor, dim: int) -> Tensor:
    """`weight` as a matrix with dimension `dim` as its rows."""
    if dim != 0:
        order = [dim] + [d for d in range(weight.ndim) if d != dim]
        weight = weight.permute(*order)
    return weight.reshape(weight.shape[0], -1)


class _SpectralNormHooks:
    """The forward hooks of one spectrally normalized parameter."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float):
        self.name, self.n, self.dim, self.eps = name, n_power_iterations, dim, eps

    def compute(self, module: Module, power_iteration: bool) -> Tensor:
        weight = getattr(module, f"{self.name}_orig")
        u, v = getattr(module, f"{self.name}_u"), getattr(module, f"{self.name}_v")
        if power_iteration and self.n > 0:
            with no_grad():
                mat = weight_matrix(weight, self.dim).detach()
                for _ in range(self.n):
                    v = normalize(mat.t() @ u, dim=0, eps=self.eps)
                    u = normalize(mat @ v, dim=0, eps=self.eps)
            setattr(module, f"{self.name}_u", u)
            setattr(module, f"{self.name}_v", v)
        u, v = u.detach(), v.detach()
        sigma = (u * (weight_matrix(weight, self.dim) @ v)).sum()
        return weight / sigma

    def before(self, module: Module, args: tuple) -> None:
        # the weight exists as an attribute only while forward runs (a traced value must
        # not outlive its trace); outside forward `module.weight` computes it afresh
        object.__setattr__(module, self.name, self.compute(module, module.training))

    def after(self, module: Module, args: tuple, output) -> None:
        module.__dict__.pop(self.name, None)


def _value_outside_forward(name: str):
    def compute(module: Module) -> Tensor:
        return module._spectral_norm[name].compute(module, power_iteration=False)

    return compute


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Normalize `module.<name>` by its spectral norm (power iteration, see module docs)."""
    weight = own_parameter(module, name, "spectral_norm")
    if n_power_iterations < 0:
        raise ValueError(
            f"spectral_norm: n_power_iterations must be >= 0, got {n_power_iterations}"
        )
    registry = module.__dict__.setdefault("_spectral_norm", {})
    if name in registry:
        raise RuntimeError(f"spectral_norm: {type(module).__name__}.{name} is already normalized")
    dim = default_dim(module) if dim is None else dim
    hooks = _SpectralNormHooks(name, n_power_iterations, dim, eps)
    with no_grad():
        h, w = weight_matrix(weight, dim).shape
        from ember.nn.functional.random import randn  # noqa: PLC0415 (seeded stream, at call)

        u = normalize(randn(h), dim=0, eps=eps)
        v = normalize(randn(w), dim=0, eps=eps)
    del module._parameters[name]
    module.register_parameter(f"{name}_orig", Parameter(weight.detach()))
    module.register_buffer(f"{name}_u", u.detach())
    module.register_buffer(f"{name}_v", v.detach())
    registry[name] = hooks
    module.__dict__.setdefault("_computed_attributes", {})[name] = _value_outside_forward(name)
    hooks.handles = (
        module.register_forward_pre_hook(hooks.before),
        module.register_forward_hook(hooks.after, always_call=True),
    )
    bump_state_version()
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Replace `<name>_orig` and its vectors by one parameter `<name>` (its normalized
    value with the stored vectors)."""
    registry = module.__dict__.get("_spectral_norm") or {}
    if name not in registry:
        raise ValueError(f"spectral_norm of '{name}' not found in {type(module).__name__}")
    hooks = registry.pop(name)
    with no_grad():
        value = hooks.compute(module, power_iteration=False).detach()
    for handle in hooks.handles:
        handle.remove()
    del module.__dict__["_computed_attributes"][name]
    del module._parameters[f"{name}_orig"]
    del module._buffers[f"{name}_u"]
    del module._buffers[f"{name}_v"]
    module.register_parameter(name, Parameter(value))
    bump_state_version()
    return module
