"""OpInfo entries: `custom_vjp` (em.autograd.Function, tensor hooks). Gradient checks run
on functions whose hand-written backward is the true derivative; others check values."""

import numpy as np
import torch
from opinfo import ErrorSample, OpInfo, Sample
from opinfo_inputs import randn, reseed, t

import ember as em
from ember.errors import ShapeError
from ember.frontend.trace import trace_function

reseed(31)


class _Swish(em.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = x.sigmoid()
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        return grad * (s * (1 + x * (1 - s)))


class _MulAdd(em.autograd.Function):  # two inputs, two results, a broadcast gradient
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w + x, (x * w).sum()

    @staticmethod
    def backward(ctx, grad, grad_sum):
        x, w = ctx.saved_tensors
        return grad * (w + 1) + grad_sum * w, (grad + grad_sum) * x


class _GradReverse(em.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def _mismatched(x):
    body = trace_function(lambda a: a * 2, [np.zeros((3,), np.float32)], names=["a"])[0]
    attrs = {"name": "Bad", "num_residuals": 0, "grad_inputs": ()}
    return x.builder.emit("custom_vjp", [x], attrs, subgraphs=(body, body))[0]


CUSTOM_VJP = OpInfo(
    "custom_vjp",
    [
        Sample(
            lambda x: _Swish.apply(x),
            (randn(3, 4),),
            lambda x: t(x) * torch.sigmoid(t(x)),
            "swish-saved-tensors",
        ),
        Sample(
            lambda x, w: _MulAdd.apply(x, w),
            (randn(3, 4), randn(1, 4)),
            lambda x, w: (t(x) * t(w) + t(x), (t(x) * t(w)).sum()),
            "two-results-broadcast-grad",
        ),
        Sample(
            lambda x: _GradReverse.apply(x) * 2,
            (randn(5),),
            lambda x: t(x) * 2,
            "gradient-reversal-forward",
            grad=False,  # its backward is deliberately not the derivative
        ),
    ],
    errors=[ErrorSample(_mismatched, (randn(2, 3),), ShapeError, "the forward takes")],
)

OP_DB = [CUSTOM_VJP]
