"""`F.group_norm` and `F.local_response_norm`: normalizations across groups of channels."""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, emit, to_float
from ember.nn.functional.batchnorm import channel_view
from ember.nn.functional.shape import slice_dims

__all__ = ["group_norm", "local_response_norm"]


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize (N, C, *) over each group of C // num_groups channels and the spatial dims.

    >>> y = F.group_norm(x, 2, weight, bias)   # x (N, 6, H, W): groups of 3 channels
    """
    x = to_float(as_tensor(input))
    if x.ndim < 2:
        raise x.builder.error(
            ShapeError(f"group_norm: expected an input of shape (N, C, *), got {x.shape}")
        )
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise x.builder.error(
            ShapeError(
                f"group_norm: the {c} channels of input {x.shape} cannot be split into "
                f"num_groups={num_groups} equal groups; fix: use a num_groups that divides {c}"
            )
        )
    if n * (c // num_groups) * math.prod(x.shape[2:]) == 1:  # PyTorch's check, kept as is
        raise x.builder.error(
            ShapeError(
                f"group_norm: expected more than 1 value per channel when training, got input of "
                f"shape {x.shape}"
            )
        )
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(v.shape) != (c,):
            raise x.builder.error(
                ShapeError(
                    f"group_norm: {name} of shape {tuple(v.shape)} does not match the {c} channels "
                    f"of the input {x.shape}; fix: GroupNorm(num_groups, num_channels={c})"
                )
            )
    groups = x.reshape(n, num_groups, (c // num_groups) * math.prod(x.shape[2:]))
    mean = groups.mean(2, keepdim=True)
    var = groups.var(2, keepdim=True, correction=0)
    y = ((groups - mean) * (var + eps).rsqrt()).reshape(x.shape)
    if weight is not None:
        y = y * channel_view(as_tensor(weight, x.builder).to(x.dtype), x.ndim)
    if bias is not None:
        y = y + channel_view(as_tensor(bias, x.builder).to(x.dtype), x.ndim)
    return y


def local_response_norm(
    input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """`x / (k + alpha * mean(x^2 over `size` neighbouring channels))^beta`.

    The window is centred like PyTorch's (zero padding of size//2 before and
    (size-1)//2 after) and the mean always divides by `size`.
    """
    x = to_float(as_tensor(input))
    if x.ndim < 3:
        raise x.builder.error(
            ShapeError(
                f"local_response_norm: expected an input of shape (N, C, *spatial) with 3 or more "
                f"dims, got {x.shape}"
            )
        )
    if size < 1:
        raise ValueError(f"local_response_norm: size must be positive, got {size}")
    if x.numel() == 0:
        return x
    c = x.shape[1]
    pads = [0] * (2 * x.ndim)
    pads[2], pads[3] = size // 2, (size - 1) // 2
    padded = emit("pad", [x * x], pads=tuple(pads), mode="constant", value=0.0)
    # the window sum as `size` shifted slices: sizes are small (AlexNet uses 5)
    window = slice_dims(padded, {1: (0, c, 1)})
    for shift in range(1, size):
        window = window + slice_dims(padded, {1: (shift, shift + c, 1)})
    div = (window * (alpha / size) + k) ** beta
    return x / div
