"""GroupNorm and LocalResponseNorm: normalizations across groups of neighbouring channels."""

from __future__ import annotations

from ember.nn.functional import group_norm, local_response_norm
from ember.nn.module import Module
from ember.nn.modules._affine import add_affine, reset_affine
from ember.nn.modules._checks import check_size


class GroupNorm(Module):
    """Normalize (N, C, *) over groups of C // num_groups channels; per-channel affine.

    >>> gn = GroupNorm(2, 6)    # weight (6,) ones, bias (6,) zeros
    >>> y = gn(np.random.randn(4, 6, 8, 8).astype(np.float32))
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        check_size("GroupNorm", "num_groups", num_groups, positive=True)
        check_size("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups != 0:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                f"({num_groups})"
            )
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups,
            num_channels,
            eps,
            affine,
        )
        add_affine(self, (num_channels,), affine, bias, dtype)

    def reset_parameters(self) -> None:
        reset_affine(self)

    def forward(self, input):
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class LocalResponseNorm(Module):
    """Divide each channel by a power of the mean square over `size` neighbouring channels.

    >>> lrn = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)   # AlexNet's settings
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
