"""BatchNorm1d/2d/3d: per-channel batch statistics and running estimates in buffers.

Buffers follow PyTorch's names and updates: `running_mean`, `running_var`
(updated in train mode with the unbiased batch variance) and
`num_batches_tracked` (int64 in PyTorch; ember stores int32 unless JAX runs
with x64, and `load_state_dict` casts PyTorch's int64 counts).
"""

from __future__ import annotations

import numpy as np

from ember.errors import ShapeError
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor
from ember.nn.functional.batchnorm import batch_norm_with_stats
from ember.nn.module import Module
from ember.nn.modules._affine import add_affine, reset_affine
from ember.nn.modules._checks import check_size


def count_dtype() -> str:
    """num_batches_tracked's dtype: PyTorch's int64 only where JAX keeps 64-bit integers."""
    return "int64" if dtypes.x64_enabled() else "int32"


class _NormBase(Module):
    """Parameters and buffers shared by BatchNorm and InstanceNorm (PyTorch's `_NormBase`)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        check_size(type(self).__name__, "num_features", num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        add_affine(self, (num_features,), affine, bias, dtype)
        if track_running_stats:
            float_dtype = dtypes.canonical(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
            self.register_buffer("running_mean", np.zeros(num_features, float_dtype))
            self.register_buffer("running_var", np.ones(num_features, float_dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), count_dtype()))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = np.zeros_like(np.asarray(self.running_mean))
            self.running_var = np.ones_like(np.asarray(self.running_var))
            self.num_batches_tracked = np.zeros_like(np.asarray(self.num_batches_tracked))

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        reset_affine(self)

    def _check_input_dim(self, input) -> None:
        ndims = self._input_dims
        if input.ndim not in ndims:
            wanted = " or ".join(f"{d}D" for d in ndims)
            raise input.builder.error(
                ShapeError(
                    f"{type(self).__name__}: expected {wanted} input (got {input.ndim}D input of "
                    f"shape {input.shape})"
                )
            )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    _input_dims: tuple[int, ...] = ()

    def forward(self, input):
        x = as_tensor(input)
        self._check_input_dim(x)
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            factor = self.momentum
            if factor is None:  # cumulative moving average over the batches seen so far
                factor = 1.0 / self.num_batches_tracked.to(self.running_mean.dtype)
            y, mean, var = batch_norm_with_stats(
                x,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                True,
                factor,
                self.eps,
            )
            if mean is not None:
                self.running_mean = mean
                self.running_var = var
            return y
        # eval mode uses the running estimates; without them (track_running_stats=False),
        # batch statistics in both modes
        use_batch = self.training or self.running_mean is None
        stats = (None, None) if use_batch else (self.running_mean, self.running_var)
        y, _, _ = batch_norm_with_stats(x, *stats, self.weight, self.bias, use_batch, 0.0, self.eps)
        return y


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, per channel C.

    >>> bn = BatchNorm1d(16)     # weight/bias (16,), buffers running_mean/var (16,)
    >>> y = bn(np.random.randn(8, 16).astype(np.float32))   # train mode: updates buffers
    """

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, per channel C.

    >>> bn = BatchNorm2d(3, momentum=None)   # cumulative average of the batch statistics
    """

    _input_dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch norm over (N, C, D, H, W) input, per channel C.

    >>> bn = BatchNorm3d(4, affine=False, track_running_stats=False)
    """

    _input_dims = (5,)


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, *) input with statistics of the whole batch across devices.

    A compiled ember step sees the global batch even when it is split over a mesh (XLA
    inserts the reductions), so every `BatchNorm` already normalizes with the whole
    batch's statistics and `SyncBatchNorm` computes the same thing; it exists so DDP
    scripts port unchanged. `process_group` is accepted and not needed.

    >>> net = nn.SyncBatchNorm.convert_sync_batchnorm(net)   # BatchNorm*d -> SyncBatchNorm
    """

    _input_dims = tuple(range(2, 9))

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """`module` with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm holding the
        same parameters and buffers (a BatchNorm `module` itself is returned replaced)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            synced = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
            )
            for name, param in module._parameters.items():
                synced._parameters[name] = param
            for name, buffer in module._buffers.items():
                synced._buffers[name] = buffer
            synced.training = module.training
            return synced
        for name, child in list(module._modules.items()):
            if child is not None:
                converted = cls.convert_sync_batchnorm(child, process_group)
                if converted is not child:
                    setattr(module, name, converted)
        return module
