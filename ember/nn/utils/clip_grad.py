"""`clip_grad_norm_` / `clip_grad_value_` between `loss.backward()` and `optimizer.step()`.

They act on the pending (lazy) gradients, so the clipping is fused into the same
compiled program as the forward, backward and update.
"""

from __future__ import annotations

from collections.abc import Iterable

from ember.frontend.tensor import Tensor
from ember.nn.functional.creation import tensor


def _grads(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _wide(t: Tensor) -> Tensor:
    """float64 stays float64 (as in PyTorch); 16-bit floats are summed in float32."""
    return t if t.dtype == "float64" else t.float()


def get_total_norm(tensors: Iterable[Tensor], norm_type: float = 2.0, **kwargs) -> Tensor:
    ts = list(tensors)
    if not ts:
        return tensor(0.0)
    norm_type = float(norm_type)
    if norm_type == float("inf"):
        from ember.nn.functional.shape import stack

        return stack([_wide(t.abs().max()) for t in ts]).max()
    total = sum((_wide(t.abs()) ** norm_type).sum() for t in ts)
    return total ** (1.0 / norm_type)


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """Scale all gradients by `min(1, max_norm / (total_norm + 1e-6))`; returns the norm."""
    params = _grads(parameters)
    total = get_total_norm([p.grad for p in params], norm_type)
    if error_if_nonfinite and not bool(total.isfinite()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped; fix: error_if_nonfinite=False"
        )
    coef = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad = p.grad * coef.to(p.grad.dtype)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient to [-clip_value, clip_value]."""
    for p in _grads(parameters):
        p.grad = p.grad.clamp(-float(clip_value), float(clip_value))
