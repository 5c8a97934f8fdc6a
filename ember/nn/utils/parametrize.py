"""`nn.utils.parametrize`: a module's tensor computed from other parameters on access.

`register_parametrization(module, "weight", P)` moves `module.weight` to
`module.parametrizations.weight.original` (or `original0`, `original1`, ... when
`P.right_inverse` returns several tensors) and makes `module.weight` mean
`P(original)` from then on, recomputed on every access, as in PyTorch: inside a
compiled step it is traced (gradients reach `original`), in eager calls it is
computed lazily. State-dict keys are PyTorch's, so checkpoints of parametrized
PyTorch models load unchanged.

>>> m = nn.Linear(4, 3)
>>> class Symmetric(nn.Module):
...     def forward(self, X):
...         return X.triu() + X.triu(1).transpose(0, 1)
>>> parametrize.register_parametrization(nn.Linear(3, 3), "weight", Symmetric())
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from ember.autograd.grad_mode import no_grad
from ember.frontend.tensor import Tensor
from ember.nn.module import Module
from ember.nn.modules.container import ModuleDict, ModuleList
from ember.nn.parameter import Parameter, bump_state_version
from ember.nn.utils.weight_norm import own_parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "type_before_parametrizations",
]


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order to its `original` tensor(s)."""

    def __init__(self, modules: list[Module], original: Any, unsafe: bool = False):
        super().__init__(modules)
        self.unsafe = unsafe
        if isinstance(original, (tuple, list)):
            self.is_tensor = False
            self.ntensors = len(original)
            for i, value in enumerate(original):
                self.register_parameter(f"original{i}", _as_parameter(value))
        else:
            self.is_tensor = True
            self.ntensors = 1
            self.register_parameter("original", _as_parameter(original))

    def forward(self) -> Tensor:
        first, *rest = list(self)
        if self.is_tensor:
            x = first(self.original)
        else:
            x = first(*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for parametrization in rest:
            x = parametrization(x)
        return x

    def right_inverse(self, value: Any) -> None:
        """Set the original tensor(s) so that the parametrized value is `value`."""
        with no_grad():
            for parametrization in reversed(list(self)):
                if hasattr(parametrization, "right_inverse"):
                    value = parametrization.right_inverse(value)
            originals = (value,) if self.is_tensor else tuple(value)
            names = ["original"] if self.is_tensor else [f"original{i}" for i in range(len(value))]
            for name, new in zip(names, originals, strict=True):
                getattr(self, name).copy_(new)


def _as_parameter(value: Any) -> Parameter:
    if isinstance(value, Parameter):
        return value
    data = value.detach() if isinstance(value, Tensor) else value
    return Parameter(data)


def _parametrized_value(name: str):
    def compute(module: Module) -> Tensor:
        return module.parametrizations[name]()

    return compute


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Make `module.<tensor_name>` the output of `parametrization` applied to the original
    parameter (moved to `module.parametrizations.<tensor_name>.original`). A second call
    on the same name appends to its list of parametrizations."""
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
        bump_state_version()
        return module
    if tensor_name in module._buffers:
        raise NotImplementedError(
            f"register_parametrization: {type(module).__name__}.{tensor_name} is a buffer; "
            "ember parametrizes parameters only. fix: make it an nn.Parameter with "
            "requires_grad=False"
        )
    original = own_parameter(module, tensor_name, "register_parametrization")
    value: Any = original
    if hasattr(parametrization, "right_inverse"):
        with no_grad():
            value = parametrization.right_inverse(original)
    if not unsafe:
        with no_grad():
            check = parametrization(*value) if isinstance(value, (tuple, list)) else None
            check = parametrization(value) if check is None else check
        if tuple(check.shape) != tuple(original.shape) or check.dtype != original.dtype:
            raise ValueError(
                f"register_parametrization: {type(parametrization).__name__} turns "
                f"{type(module).__name__}.{tensor_name} of shape {tuple(original.shape)} "
                f"({original.dtype}) into shape {tuple(check.shape)} ({check.dtype}). "
                "fix: return the original shape and dtype, or pass unsafe=True"
            )
    if isinstance(value, Tensor) and value is original:
        value = Parameter(original.detach(), requires_grad=original.requires_grad)
    plist = ParametrizationList([parametrization], value, unsafe=unsafe)
    if "parametrizations" not in module._modules:
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = plist
    del module._parameters[tensor_name]
    computed = module.__dict__.setdefault("_computed_attributes", {})
    computed[tensor_name] = _parametrized_value(tensor_name)
    bump_state_version()
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether `module` has parametrizations (on `tensor_name`, if given)."""
    plists = module._modules.get("parametrizations")
    if plists is None:
        return False
    return tensor_name is None or tensor_name in plists._modules


def remove_parametrizations(
    module: Module, tensor_name: str, leave_parametrized: bool = True
) -> Module:
    """Turn `module.<tensor_name>` back into a plain parameter: its current parametrized
    value (`leave_parametrized=True`) or its original tensor."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"{type(module).__name__} has no parametrization on {tensor_name!r}")
    plist = module.parametrizations[tensor_name]
    if leave_parametrized:
        with no_grad():
            value = plist()
    elif plist.is_tensor:
        value = plist.original
    else:
        raise ValueError(
            "remove_parametrizations(leave_parametrized=False) needs a single original tensor; "
            f"{tensor_name!r} has {plist.ntensors}"
        )
    del module.parametrizations._modules[tensor_name]
    del module.__dict__["_computed_attributes"][tensor_name]
    if not module.parametrizations._modules:
        del module._modules["parametrizations"]
    module.register_parameter(tensor_name, _as_parameter(value))
    bump_state_version()
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class (ember does not swap classes when parametrizing)."""
    return type(module)


@contextmanager
def cached():
    """Accepted for PyTorch compatibility: inside a compiled step XLA already computes a
    parametrized tensor once however often it is read."""
    yield
