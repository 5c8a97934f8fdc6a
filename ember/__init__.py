"""ember: write PyTorch-style modules, train them as one fused XLA program.

import ember as em
from ember import nn, optim

model = em.compile(net, loss=nn.CrossEntropyLoss(),
                   optimizer=optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
                   metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=64, epochs=10)
"""

from __future__ import annotations

from typing import Any

from . import errors, graphdef  # noqa: F401
from .graphdef import Graph, Module, Parameter, Tensor, TensorSpec, TensorType  # noqa: F401
from .graphdef import manual_seed, initial_seed, verify  # noqa: F401
from .graphdef.dtypes import ALL as _DTYPES
from .graphdef.errors import (  # noqa: F401
    CheckpointError,
    DTypeError,
    EmberError,
    ShapeError,
    StateDictError,
    TraceError,
    UnsupportedOpError,
    VerifyError,
)
from .graphdef.functional import *  # noqa: F401,F403
from .graphdef.functional import all, any, max, min, pow, round, sum  # noqa: F401
from .runtime import CompiledModel, compile, compile_count  # noqa: F401

from . import nn, optim  # noqa: E402,F401  (after runtime: optimizers need it)

__version__ = "0.1.0"

float16, bfloat16, float32, float64 = "float16", "bfloat16", "float32", "float64"
int8, int16, int32, int64, uint8, bool_ = "int8", "int16", "int32", "int64", "uint8", "bool"
float, double, half, long = "float32", "float64", "float16", "int64"  # noqa: A001
assert set(_DTYPES) >= {float16, bfloat16, float32, float64, int8, int16, int32, int64, uint8}


def trace(module: Module, *inputs: Any, name: str | None = None) -> Graph:
    """Trace `module` on specs or example arrays into ember's IR (readable with print).

    >>> print(em.trace(net, em.TensorSpec((64, 1, 28, 28))))
    """
    from .runtime.eager import _canonical_input

    inputs = tuple(i if isinstance(i, TensorType) else _canonical_input(i) for i in inputs)
    return graphdef.trace(module, *inputs, name=name)
