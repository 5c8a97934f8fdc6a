"""Activations and the softmax family (`torch.nn.functional` names and defaults)."""

from __future__ import annotations

import numpy as np

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef.ops.common import normalize_dim
from ember.nn.functional._core import as_tensor, emit, in_place, to_float
from ember.nn.functional.embeddings import one_hot
from ember.nn.functional.random import rand


def _dim_default(x, dim):
    # PyTorch's legacy implicit-dim rule: 0 for 0-, 1- and 3-D inputs, else 1
    return dim if dim is not None else (0 if x.ndim in (0, 1, 3) else 1)


@tensor_method()
def softmax(input, dim=None, dtype=None):
    x = to_float(as_tensor(input) if dtype is None else as_tensor(input).to(dtype))
    return emit("softmax", [x], dim=int(_dim_default(x, dim)))


@tensor_method()
def log_softmax(input, dim=None, dtype=None):
    x = to_float(as_tensor(input) if dtype is None else as_tensor(input).to(dtype))
    return emit("log_softmax", [x], dim=int(_dim_default(x, dim)))


def softmin(input, dim=None, dtype=None):
    return softmax(-as_tensor(input), dim, dtype)


def gumbel_softmax(
    logits, tau: float = 1.0, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """`softmax((logits + g) / tau)` with Gumbel(0, 1) noise `g`: a relaxed categorical sample.

    `hard=True` returns one-hot vectors in the forward pass and the soft sample's gradient
    (straight-through: `y_hard - y_soft.detach() + y_soft`). `eps` is unused, as in PyTorch.

    >>> y = F.gumbel_softmax(logits, tau=0.5, hard=True)    # one-hot rows, differentiable
    """
    x = to_float(as_tensor(logits))
    if x.ndim == 0:
        raise x.builder.error(
            ShapeError(
                "gumbel_softmax: logits of shape () have no category dimension; fix: pass "
                "logits of shape (..., num_classes)"
            )
        )
    d = normalize_dim(dim, x.ndim)
    # g = -log(E), E ~ Exponential(1) = -log(1 - U); E is kept above 0 so g stays finite
    exponential = -(-rand(*x.shape, dtype=x.dtype)).log1p()
    tiny = np.finfo(np.float16 if x.dtype == "float16" else np.float32).tiny
    gumbels = -exponential.clamp(min=float(tiny)).log()
    y_soft = softmax((x + gumbels) / tau, d)
    if not hard:
        return y_soft
    y_hard = one_hot(y_soft.argmax(d), x.shape[d]).to(x.dtype).movedim(-1, d)
    return y_hard - y_soft.detach() + y_soft


@tensor_method()
def relu(input, inplace: bool = False):
    return in_place(input, emit("relu", [as_tensor(input)]), inplace)


def relu6(input, inplace: bool = False):
    return in_place(input, emit("relu6", [to_float(as_tensor(input))]), inplace)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    return in_place(
        input,
        emit("leaky_relu", [to_float(as_tensor(input))], negative_slope=float(negative_slope)),
        inplace,
    )


def elu(input, alpha: float = 1.0, inplace: bool = False):
    return in_place(input, emit("elu", [to_float(as_tensor(input))], alpha=float(alpha)), inplace)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    return in_place(input, emit("celu", [to_float(as_tensor(input))], alpha=float(alpha)), inplace)


def selu(input, inplace: bool = False):
    return in_place(input, emit("selu", [to_float(as_tensor(input))]), inplace)


def gelu(input, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return emit("gelu" if approximate == "none" else "gelu_tanh", [to_float(as_tensor(input))])


def silu(input, inplace: bool = False):
    return in_place(input, emit("silu", [to_float(as_tensor(input))]), inplace)


def mish(input, inplace: bool = False):
    return in_place(input, emit("mish", [to_float(as_tensor(input))]), inplace)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    return emit(
        "softplus", [to_float(as_tensor(input))], beta=float(beta), threshold=float(threshold)
    )


def softsign(input):
    return emit("softsign", [to_float(as_tensor(input))])


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    return in_place(
        input,
        emit(
            "hardtanh", [to_float(as_tensor(input))], min_val=float(min_val), max_val=float(max_val)
        ),
        inplace,
    )


def hardswish(input, inplace: bool = False):
    return in_place(input, emit("hardswish", [to_float(as_tensor(input))]), inplace)


def hardsigmoid(input, inplace: bool = False):
    return in_place(input, emit("hardsigmoid", [to_float(as_tensor(input))]), inplace)


def logsigmoid(input):
    return emit("logsigmoid", [to_float(as_tensor(input))])


def glu(input, dim: int = -1):
    x = as_tensor(input)
    if x.shape[dim] % 2:
        raise x.builder.error(ShapeError(f"glu: dim {dim} of shape {x.shape} must be even"))
    a, b = x.chunk(2, dim)
    return a * b.sigmoid()


def prelu(input, weight):
    x = as_tensor(input)
    w = as_tensor(weight, x.builder)
    if w.numel() > 1 and x.ndim >= 2:
        w = w.reshape((1, w.numel()) + (1,) * (x.ndim - 2))
    from ember.nn.functional.elementwise import where

    return where(x >= 0, x, x * w)


def threshold(input, threshold: float, value: float, inplace: bool = False):
    from ember.nn.functional.elementwise import where

    x = as_tensor(input)
    return in_place(input, where(x > threshold, x, value), inplace)
