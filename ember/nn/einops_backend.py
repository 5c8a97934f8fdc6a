"""einops on ember tensors: `rearrange`, `reduce`, `repeat`, `einsum`, `pack`/`unpack`,
`parse_shape`, as ported PyTorch models call them (ViT's patch embedding, Mamba's and
diffusion UNets' reshapes), eager, in the literal loop and inside traced forwards.

einops finds a backend among the subclasses of its `AbstractBackend` whose
`framework_name` is an imported module; `register()` (called by `import ember` when
einops is installed) defines ember's. Every operation is one of ember's own ops
(reshape, permute, expand, reductions), so the IR shows them as such.

>>> from einops import rearrange
>>> rearrange(em.ones(2, 3, 8, 8), "b c (h p) (w q) -> b (h w) (p q c)", p=4, q=4).shape
(2, 4, 48)
"""

from __future__ import annotations

from typing import Any

_REGISTERED: list[type] = []


def register() -> type:
    """Define ember's einops backend (once); einops picks it up for ember tensors."""
    if _REGISTERED:
        return _REGISTERED[0]
    from einops._backends import AbstractBackend

    import ember as em
    from ember.frontend.tensor import Tensor
    from ember.graphdef import dtypes

    class EmberBackend(AbstractBackend):
        framework_name = "ember"

        def is_appropriate_type(self, tensor: Any) -> bool:
            return isinstance(tensor, Tensor)

        def from_numpy(self, x):
            return em.tensor(x)

        def to_numpy(self, x):
            return x.detach().numpy()

        def arange(self, start, stop):
            return em.arange(start, stop)

        def shape(self, x):
            return tuple(x.shape)

        def reshape(self, x, shape):
            return x.reshape(*shape)

        def transpose(self, x, axes):
            return x.permute(*axes)

        def reduce(self, x, operation, axes):
            if operation in ("min", "max"):
                return getattr(em, "a" + operation)(x, dim=tuple(axes))
            if operation in ("sum", "mean"):
                return getattr(x, operation)(dim=tuple(axes))
            if operation in ("prod", "any", "all"):  # one dim at a time, as in PyTorch
                for axis in sorted(axes, reverse=True):
                    x = getattr(x, operation)(dim=axis)
                return x
            raise NotImplementedError(f"einops reduction {operation!r} on ember tensors")

        def stack_on_zeroth_dimension(self, tensors: list):
            return em.stack(tensors)

        def add_axis(self, x, new_position):
            return em.unsqueeze(x, new_position)

        def add_axes(self, x, n_axes, pos2len):
            sizes = [-1] * n_axes
            for position, length in pos2len.items():
                x = self.add_axis(x, position)
                sizes[position] = length
            return x.expand(*sizes)

        def tile(self, x, repeats):
            return x.repeat(*repeats)

        def concat(self, tensors, axis: int):
            return em.cat(tensors, dim=axis)

        def is_float_type(self, x) -> bool:
            return dtypes.is_floating(x.dtype)

        def layers(self):
            from ember.nn.modules import einops_layers

            return einops_layers

        def einsum(self, pattern, *x):
            return em.einsum(pattern, *x)

    _REGISTERED.append(EmberBackend)
    return EmberBackend
