"""`parameters_to_vector` / `vector_to_parameters`."""

from __future__ import annotations

from collections.abc import Iterable

from ember.frontend.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    from ember.nn.functional.shape import cat

    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    from ember.autograd.grad_mode import no_grad

    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset : offset + n].reshape(p.shape))
            offset += n
