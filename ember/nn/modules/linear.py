"""Linear, Bilinear, Identity (PyTorch layouts and default initialization)."""

from __future__ import annotations

import math

from ember.nn import init
from ember.nn.functional import bilinear, linear
from ember.nn.module import Module
from ember.nn.modules._checks import check_size
from ember.nn.parameter import Parameter


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """`y = x W^T + b`, weight (out_features, in_features), PyTorch's default init.

    >>> fc = Linear(784, 128)
    >>> fc.weight.shape
    (128, 784)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype=None, device=None
    ):
        super().__init__()
        check_size("Linear", "in_features", in_features)
        check_size("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        # kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(in), 1/sqrt(in)), as in PyTorch
        self.weight = Parameter(
            shape=(out_features, in_features), dtype=dtype, init=init.fan_in_uniform(in_features)
        )
        if bias:
            self.bias = Parameter(
                shape=(out_features,), dtype=dtype, init=init.fan_in_uniform(in_features)
            )
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            self.bias.set_initializer(init.fan_in_uniform(self.in_features))

    def forward(self, input):
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Bilinear(Module):
    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        dtype=None,
        device=None,
    ):
        super().__init__()
        check_size("Bilinear", "in1_features", in1_features, positive=True)  # as PyTorch
        check_size("Bilinear", "in2_features", in2_features)
        check_size("Bilinear", "out_features", out_features)
        self.in1_features, self.in2_features, self.out_features = (
            in1_features,
            in2_features,
            out_features,
        )
        bound = init.fan_in_uniform(in1_features)
        self.weight = Parameter(
            shape=(out_features, in1_features, in2_features), dtype=dtype, init=bound
        )
        if bias:
            self.bias = Parameter(shape=(out_features,), dtype=dtype, init=bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
