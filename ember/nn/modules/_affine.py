"""The per-feature affine parameters shared by the normalization layers."""

from __future__ import annotations

import numpy as np

from ember.nn.module import Module
from ember.nn.parameter import Parameter


def ones_init(rng, shape, dtype):
    return np.ones(shape, dtype)


def zeros_init(rng, shape, dtype):
    return np.zeros(shape, dtype)


def add_affine(module: Module, shape: tuple, affine: bool, bias: bool, dtype) -> None:
    """Register `weight` (ones) and `bias` (zeros) of `shape`, or None, as PyTorch's norms do."""
    if affine:
        module.weight = Parameter(shape=shape, dtype=dtype, init=ones_init)
        if bias:
            module.bias = Parameter(shape=shape, dtype=dtype, init=zeros_init)
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def reset_affine(module: Module) -> None:
    if module.weight is not None:
        module.weight.set_initializer(ones_init)
    if module.bias is not None:
        module.bias.set_initializer(zeros_init)
