"""`F.batch_norm` and `F.instance_norm`: statistics per channel, optional running estimates.

Both compose `mean`, `var`, `rsqrt` and elementwise ops. Normalization uses the
biased batch variance; running variances are updated with the unbiased one,
as in PyTorch: `running = (1 - momentum) * running + momentum * batch_stat`.
"""

from __future__ import annotations

import math

from ember.errors import ShapeError
from ember.frontend.tensor import Tensor
from ember.nn.functional._core import as_tensor, to_float

__all__ = ["batch_norm", "instance_norm"]


def channel_view(v: Tensor, ndim: int) -> Tensor:
    """A per-channel vector (C,) shaped to broadcast against (N, C, *spatial)."""
    return v.reshape((v.shape[0],) + (1,) * (ndim - 2))


def normalize_channels(x: Tensor, mean: Tensor, var: Tensor, weight, bias, eps: float) -> Tensor:
    """`(x - mean) / sqrt(var + eps) * weight + bias`; mean/var already broadcast to x."""
    y = (x - mean) * (var + eps).rsqrt()
    if weight is not None:
        y = y * channel_view(as_tensor(weight, x.builder).to(x.dtype), x.ndim)
    if bias is not None:
        y = y + channel_view(as_tensor(bias, x.builder).to(x.dtype), x.ndim)
    return y


def running_update(running: Tensor, batch_stat: Tensor, momentum) -> Tensor:
    """PyTorch's exponential moving average; `momentum` may be a traced factor (1/n)."""
    return running * (1.0 - momentum) + batch_stat * momentum


def _check_channels(op: str, x: Tensor, **vectors) -> None:
    c = x.shape[1]
    for name, v in vectors.items():
        if v is not None and tuple(v.shape) != (c,):
            raise x.builder.error(
                ShapeError(
                    f"{op}: {name} of shape {tuple(v.shape)} does not match the {c} channels "
                    f"of the input {x.shape} (dim 1); fix: per-channel tensors of shape ({c},), "
                    f"i.e. num_features={c} for the layers"
                )
            )


def _check_eps(op: str, eps: float, training: bool) -> None:
    if eps < 0.0 or (training and eps == 0.0):
        raise ValueError(
            f"{op} eps must be positive during training and non-negative otherwise, but got {eps}"
        )


def batch_norm_with_stats(
    x: Tensor, running_mean, running_var, weight, bias, training: bool, momentum, eps: float
):
    """Batch norm that returns `(y, new_running_mean, new_running_var)` (None: no update)."""
    x = to_float(as_tensor(x))
    if x.ndim < 2:
        raise x.builder.error(
            ShapeError(
                f"batch_norm: expected an input of shape (N, C, *), got {x.shape}; fix: add a "
                "batch dim with x.unsqueeze(0)"
            )
        )
    _check_eps("batch_norm", eps, training)
    _check_channels(
        "batch_norm",
        x,
        running_mean=running_mean,
        running_var=running_var,
        weight=weight,
        bias=bias,
    )
    if not training:
        if running_mean is None or running_var is None:
            raise x.builder.error(
                ShapeError(
                    "batch_norm: running_mean and running_var must be given when training=False; "
                    "fix: pass training=True to normalize with the batch statistics"
                )
            )
        mean = channel_view(as_tensor(running_mean, x.builder).to(x.dtype), x.ndim)
        var = channel_view(as_tensor(running_var, x.builder).to(x.dtype), x.ndim)
        return normalize_channels(x, mean, var, weight, bias, eps), None, None
    count = x.shape[0] * math.prod(x.shape[2:])
    if count == 1:
        raise x.builder.error(
            ShapeError(
                f"batch_norm: expected more than 1 value per channel when training, got input of "
                f"shape {x.shape}; fix: use a batch of at least 2, or eval mode"
            )
        )
    dims = (0, *range(2, x.ndim))
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, correction=0)
    y = normalize_channels(x, mean, var, weight, bias, eps)
    if running_mean is None or running_var is None or count == 0:  # PyTorch skips empty batches
        return y, None, None
    unbiased = var * (count / (count - 1))
    new_mean = running_update(as_tensor(running_mean, x.builder), mean.reshape(-1), momentum)
    new_var = running_update(as_tensor(running_var, x.builder), unbiased.reshape(-1), momentum)
    return y, new_mean, new_var


def instance_norm_with_stats(
    x: Tensor, running_mean, running_var, weight, bias, use_input_stats: bool, momentum, eps: float
):
    """Instance norm that returns `(y, new_running_mean, new_running_var)` (None: no update)."""
    x = to_float(as_tensor(x))
    if x.ndim < 3:
        raise x.builder.error(
            ShapeError(
                f"instance_norm: expected an input of shape (N, C, *spatial), got {x.shape}; "
                "fix: add a batch dim with x.unsqueeze(0) (the InstanceNorm layers accept "
                "unbatched input)"
            )
        )
    _check_eps("instance_norm", eps, use_input_stats)
    _check_channels(
        "instance_norm",
        x,
        running_mean=running_mean,
        running_var=running_var,
        weight=weight,
        bias=bias,
    )
    if not use_input_stats:
        y, _, _ = batch_norm_with_stats(x, running_mean, running_var, weight, bias, False, 0.0, eps)
        return y, None, None
    count = math.prod(x.shape[2:])
    if count == 1:
        raise x.builder.error(
            ShapeError(
                f"instance_norm: expected more than 1 spatial element when training, got input of "
                f"shape {x.shape}"
            )
        )
    dims = tuple(range(2, x.ndim))
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, correction=0)
    y = normalize_channels(x, mean, var, weight, bias, eps)
    if running_mean is None or running_var is None:
        return y, None, None
    # PyTorch updates one running estimate per (sample, channel), then averages over samples
    n, c = x.shape[:2]
    unbiased = var * (count / (count - 1))
    new_mean = running_update(
        as_tensor(running_mean, x.builder), mean.reshape(n, c).mean(0), momentum
    )
    new_var = running_update(
        as_tensor(running_var, x.builder), unbiased.reshape(n, c).mean(0), momentum
    )
    return y, new_mean, new_var


def _write_back(stat, new: Tensor | None) -> None:
    """PyTorch updates running statistics in place: write the new value to the buffer."""
    if new is None or not isinstance(stat, Tensor):
        return
    builder = new.builder
    for obj in builder.state_objects.values():
        if isinstance(obj, tuple) and builder.buffer_tensor(*obj) is stat:
            builder.write_buffer(*obj, new)
            return


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each channel (dim 1) with batch or running statistics.

    In training mode the running statistics are updated like PyTorch's in-place
    update when they are buffers of the traced model (`self.running_mean`);
    other tensors are left unchanged.
    """
    y, new_mean, new_var = batch_norm_with_stats(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )
    _write_back(running_mean, new_mean)
    _write_back(running_var, new_var)
    return y


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each (sample, channel) over its spatial dims; running stats as in batch_norm."""
    y, new_mean, new_var = instance_norm_with_stats(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )
    _write_back(running_mean, new_mean)
    _write_back(running_var, new_var)
    return y
