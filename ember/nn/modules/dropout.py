"""Dropout modules; active in train mode only, randomness from the step's key."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.module import Module
from ember.nn.modules._checks import check_probability


def _dropout_module(name: str, fn):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        Module.__init__(self)
        check_probability(name, "dropout", p)
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    return type(
        name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr}
    )


Dropout = _dropout_module("Dropout", F.dropout)
Dropout1d = _dropout_module("Dropout1d", F.dropout1d)
Dropout2d = _dropout_module("Dropout2d", F.dropout2d)
Dropout3d = _dropout_module("Dropout3d", F.dropout3d)
AlphaDropout = _dropout_module("AlphaDropout", F.alpha_dropout)
