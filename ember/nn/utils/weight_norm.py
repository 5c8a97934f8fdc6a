"""`nn.utils.weight_norm`: a weight split into a magnitude `weight_g` and a direction
`weight_v`, `weight = weight_g * weight_v / ||weight_v||` (norms over every dimension
but `dim`), as PyTorch's original API does it (HiFi-GAN, WaveNet-style vocoders).

`module.weight` is computed from the two parameters on every access, so it is traced
into compiled steps and its gradients reach `weight_g` and `weight_v`.

>>> conv = nn.utils.weight_norm(nn.Conv1d(4, 8, 3))
>>> [name for name, _ in conv.named_parameters()]
['bias', 'weight_g', 'weight_v']
"""

from __future__ import annotations

from ember.autograd.grad_mode import no_grad
from ember.frontend.tensor import Tensor
from ember.nn.module import Module
from ember.nn.parameter import Parameter, bump_state_version

__all__ = [
    "norm_except_dim",
    "own_parameter",
    "remove_weight_norm",
    "weight_norm",
    "weight_norm_value",
]


def own_parameter(module: Module, name: str, caller: str) -> Parameter:
    """`module`'s parameter `name`, or a ValueError naming the parameters it has."""
    param = module._parameters.get(name)
    if param is None:
        raise ValueError(
            f"{caller}: {type(module).__name__} has no parameter {name!r} "
            f"(its parameters: {sorted(module._parameters)})"
        )
    return param


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:
    """The `pow`-norm of `v` over every dimension but `dim` (keeping `dim`'s size and 1
    elsewhere); `dim=-1`: the norm of the whole tensor (shape `()`)."""
    if dim == -1:
        return v.norm(pow)
    dim = dim % v.ndim
    axes = tuple(a for a in range(v.ndim) if a != dim)
    if not axes:
        return v.abs()
    return v.abs().pow(pow).sum(dim=axes, keepdim=True).pow(1.0 / pow)


def weight_norm_value(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """`v * (g / ||v||)` with the norm of `norm_except_dim` (PyTorch's `_weight_norm`)."""
    return v * (g / norm_except_dim(v, 2, dim))


def _weight_norm_attribute(name: str, dim: int):
    def compute(module: Module) -> Tensor:
        return weight_norm_value(getattr(module, f"{name}_v"), getattr(module, f"{name}_g"), dim)

    return compute


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparameterize `module.<name>` as `<name>_g * <name>_v / ||<name>_v||`.
    `dim=None` normalizes over the whole tensor."""
    weight = own_parameter(module, name, "weight_norm")
    computed = module.__dict__.setdefault("_computed_attributes", {})
    if name in computed:
        raise RuntimeError(f"weight_norm: {type(module).__name__}.{name} is already normalized")
    dim = -1 if dim is None else dim
    with no_grad():
        g = norm_except_dim(weight, 2, dim)
    del module._parameters[name]
    module.register_parameter(f"{name}_g", Parameter(g.detach()))
    module.register_parameter(f"{name}_v", Parameter(weight.detach()))
    computed[name] = _weight_norm_attribute(name, dim)
    bump_state_version()
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Fold `<name>_g` and `<name>_v` back into one parameter `<name>`."""
    computed = module.__dict__.get("_computed_attributes") or {}
    if f"{name}_g" not in module._parameters or name not in computed:
        raise ValueError(f"weight_norm of '{name}' not found in {type(module).__name__}")
    with no_grad():
        value = getattr(module, name).detach()
    del computed[name]
    del module._parameters[f"{name}_g"]
    del module._parameters[f"{name}_v"]
    module.register_parameter(name, Parameter(value))
    bump_state_version()
    return module
