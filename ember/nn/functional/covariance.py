"""`cov` and `corrcoef`: PyTorch's (weighted) covariance of the rows of a matrix."""

from __future__ import annotations

from ember.errors import DTypeError, ShapeError
from ember.frontend.tensor import Tensor, tensor_method
from ember.graphdef import dtypes
from ember.nn.functional._core import as_tensor, to_float
from ember.nn.functional.elementwise import clamp, maximum, sqrt
from ember.nn.functional.linalg import matmul
from ember.nn.functional.shape import reshape

__all__ = ["cov", "corrcoef"]


def _weights(name: str, w, x: Tensor) -> Tensor | None:
    if w is None:
        return None
    t = as_tensor(w, x.builder)
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != x.shape[1]):
        raise x.builder.error(
            ShapeError(
                f"cov: {name} must be 0-D or 1-D with one weight per observation "
                f"({x.shape[1]}), got shape {t.shape}"
            )
        )
    if name == "fweights" and not dtypes.is_integer(t.dtype):
        raise x.builder.error(DTypeError(f"cov: fweights must be integers, got {t.dtype}"))
    if name == "aweights" and not dtypes.is_floating(t.dtype):
        raise x.builder.error(DTypeError(f"cov: aweights must be floating, got {t.dtype}"))
    return t.to(x.dtype)


@tensor_method()
def cov(input, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:
    """`torch.cov`: the covariance of the variables in the rows of `input` (observations
    in columns; a 1-D input is one variable, giving a 0-d result).

    `fweights` (integer repeat counts) and `aweights` (float importance) weight the
    observations; `correction=1` is Bessel's correction. Integer inputs give floats.

    >>> em.cov(em.stack([x, y]))           # (2, 2)
    """
    x = to_float(as_tensor(input))
    if x.ndim > 2:
        raise x.builder.error(ShapeError(f"cov: expects a 1-D or 2-D input, got {x.shape}"))
    if x.ndim < 2:
        x = reshape(x, (1, x.numel()))
    fw, aw = _weights("fweights", fweights, x), _weights("aweights", aweights, x)
    w = fw if aw is None else (aw if fw is None else fw * aw)
    if w is None:
        avg = x.mean(1)
        w_sum = None
        norm = float(x.shape[1] - correction)
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
        if correction == 0:
            norm = w_sum
        elif aw is None:
            norm = w_sum - correction
        else:
            norm = w_sum - correction * (w * aw).sum() / w_sum
    norm = max(norm, 0.0) if isinstance(norm, float) else maximum(norm, 0.0)
    centered = x - reshape(avg, (x.shape[0], 1))
    weighted = centered if w is None else centered * w
    c = matmul(centered, weighted.mT) / norm
    return reshape(c, ()) if c.shape == (1, 1) else c


@tensor_method()
def corrcoef(input) -> Tensor:
    """`torch.corrcoef`: Pearson correlation coefficients of the rows (clipped to
    [-1, 1]); a single variable gives 1 (NaN if it is constant)."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    std = sqrt(c.diagonal())
    c = c / reshape(std, (-1, 1)) / reshape(std, (1, -1))
    return clamp(c, -1.0, 1.0)
