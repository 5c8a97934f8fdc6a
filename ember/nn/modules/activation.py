"""Activation modules: thin wrappers over the functional ops, PyTorch signatures."""

from __future__ import annotations

import numpy as np

from ember.nn import functional as F
from ember.nn.module import Module
from ember.nn.modules._checks import check_size
from ember.nn.parameter import Parameter


def _activation(name: str, fn, _check=None, **defaults):
    """Build a Module class whose constructor takes `defaults` and calls `fn`.

    `_check(values)` validates the constructor's arguments (a ValueError naming them).
    """

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        values = dict(defaults)
        values.update(zip(defaults, args, strict=False))
        values.update(kwargs)
        unknown = set(values) - set(defaults)
        if unknown:
            raise TypeError(f"{name}() got unexpected arguments {sorted(unknown)}")
        if _check is not None:
            _check({k: v for k, v in values.items() if k != "inplace"})
        for k, v in values.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_options", tuple(defaults))

    def forward(self, input):
        return fn(input, **{k: getattr(self, k) for k in self._options})

    def extra_repr(self) -> str:
        shown = [f"{k}={getattr(self, k)}" for k in self._options if k != "inplace"]
        if getattr(self, "inplace", False):
            shown.append("inplace=True")  # as PyTorch prints it
        return ", ".join(shown)

    return type(
        name,
        (Module,),
        {
            "__init__": __init__,
            "forward": forward,
            "extra_repr": extra_repr,
            "__doc__": f"`nn.{name}` (see `ember.nn.functional`).",
        },
    )


ReLU = _activation("ReLU", F.relu, inplace=False)
ReLU6 = _activation("ReLU6", F.relu6, inplace=False)
LeakyReLU = _activation("LeakyReLU", F.leaky_relu, negative_slope=0.01, inplace=False)
ELU = _activation("ELU", F.elu, alpha=1.0, inplace=False)
CELU = _activation("CELU", F.celu, alpha=1.0, inplace=False)
SELU = _activation("SELU", F.selu, inplace=False)
GELU = _activation("GELU", F.gelu, approximate="none")
SiLU = _activation("SiLU", F.silu, inplace=False)
Mish = _activation("Mish", F.mish, inplace=False)
Softplus = _activation("Softplus", F.softplus, beta=1.0, threshold=20.0)
Softsign = _activation("Softsign", F.softsign)


def _ordered_bounds(values) -> None:
    if not values["max_val"] > values["min_val"]:
        raise ValueError(
            f"Hardtanh: max_val ({values['max_val']}) must be greater than min_val "
            f"({values['min_val']})"
        )


Hardtanh = _activation(
    "Hardtanh", F.hardtanh, _ordered_bounds, min_val=-1.0, max_val=1.0, inplace=False
)
Hardswish = _activation("Hardswish", F.hardswish, inplace=False)
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid, inplace=False)
LogSigmoid = _activation("LogSigmoid", F.logsigmoid)
Sigmoid = _activation("Sigmoid", F.sigmoid)
Tanh = _activation("Tanh", F.tanh)
GLU = _activation("GLU", F.glu, dim=-1)
Softmax = _activation("Softmax", F.softmax, dim=None)
LogSoftmax = _activation("LogSoftmax", F.log_softmax, dim=None)
Softmin = _activation("Softmin", F.softmin, dim=None)
Threshold = _activation("Threshold", F.threshold, threshold=0.0, value=0.0, inplace=False)


class PReLU(Module):
    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None, device=None):
        super().__init__()
        check_size("PReLU", "num_parameters", num_parameters)
        self.num_parameters = num_parameters
        self.weight = Parameter(
            shape=(num_parameters,),
            dtype=dtype,
            init=lambda rng, shape, dt: np.full(shape, init, dt),
        )

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softmax2d(Module):
    """Softmax over the channels of a (N, C, H, W) or (C, H, W) input, at every position.

    >>> probs = Softmax2d()(logits)     # logits (N, C, H, W)
    """

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(
                f"Softmax2d: expects a (C, H, W) or (N, C, H, W) input, got shape "
                f"{tuple(input.shape)}"
            )
        return F.softmax(input, dim=-3)
