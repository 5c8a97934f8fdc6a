"""InstanceNorm1d/2d/3d: per-sample, per-channel statistics over the spatial dims.

Defaults as in PyTorch: `affine=False`, `track_running_stats=False`. With
tracked statistics, train mode updates `running_mean`/`running_var` (averaged
over the batch) and eval mode normalizes with them; `num_batches_tracked` is
registered but, as in PyTorch, never incremented.
"""

from __future__ import annotations

import warnings

from ember.errors import ShapeError
from ember.nn.functional._core import as_tensor
from ember.nn.functional.batchnorm import instance_norm_with_stats
from ember.nn.modules.batchnorm import _NormBase


class _InstanceNorm(_NormBase):
    _input_dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def forward(self, input):
        x = as_tensor(input)
        self._check_input_dim(x)
        unbatched = x.ndim == self._input_dims[0]
        channels = x.shape[0 if unbatched else 1]
        if channels != self.num_features:
            message = (
                f"{type(self).__name__}: expected input's size at dim="
                f"{0 if unbatched else 1} to match num_features ({self.num_features}), "
                f"but got: {channels}"
            )
            if self.affine or self.track_running_stats:
                raise x.builder.error(ShapeError(message + f"; fix: num_features={channels}"))
            warnings.warn(
                message + " (num_features is not used because affine=False)", stacklevel=2
            )
        if unbatched:
            return self._normalize(x.unsqueeze(0)).squeeze(0)
        return self._normalize(x)

    def _normalize(self, x):
        use_input_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        y, mean, var = instance_norm_with_stats(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_input_stats,
            momentum,
            self.eps,
        )
        if mean is not None:
            self.running_mean = mean
            self.running_var = var
        return y


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or unbatched (C, L) input.

    >>> norm = InstanceNorm1d(8, affine=True)
    """

    _input_dims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or unbatched (C, H, W) input.

    >>> norm = InstanceNorm2d(3, track_running_stats=True)   # eval mode uses running stats
    """

    _input_dims = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance norm over (N, C, D, H, W) or unbatched (C, D, H, W) input.

    >>> norm = InstanceNorm3d(4)
    """

    _input_dims = (4, 5)
