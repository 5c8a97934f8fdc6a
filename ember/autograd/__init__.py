"""`ember.autograd`: gradients of lazy tensors with PyTorch's names.

>>> x = em.randn(3, requires_grad=True)
>>> (gx,) = em.autograd.grad((x ** 2).sum(), [x])
>>> with em.no_grad():
...     y = x * 2          # y does not require grad

Custom gradients: `em.autograd.Function` (see `ember/autograd/function.py`).
"""

from ember.autograd.function import Function
from ember.autograd.functional import backward, grad
from ember.autograd.grad_mode import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from ember.autograd.variable import Variable

__all__ = [
    "Function",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "set_detect_anomaly",
    "set_grad_enabled",
    "Variable",
]
