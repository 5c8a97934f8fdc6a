"""ember: write PyTorch-style modules, train them as one fused XLA program.

import ember as em
from ember import nn, optim

model = em.compile(net, loss=nn.CrossEntropyLoss(),
                   optimizer=optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
                   metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=64, epochs=10)
"""

from __future__ import annotations

import inspect as _inspect
from typing import Any

import numpy as _np

# importing JAX draws from numpy's global generator (its cluster detection): a program that
# seeds numpy and then imports ember must see the same numbers as under PyTorch
_NUMPY_RANDOM_STATE = _np.random.get_state()

from ember import errors, graphdef  # noqa: E402,F401
from ember.errors import (  # noqa: F401
    CheckpointError,
    DTypeError,
    EmberError,
    GraphParseError,
    IndexOutOfRangeError,
    NonFiniteError,
    ShapeError,
    StateDictError,
    TargetRangeError,
    TraceError,
    UnsupportedOpError,
    VerifyError,
)
from ember.frontend.tensor import Tensor  # noqa: F401
from ember.frontend.legacy_constructors import (  # noqa: F401
    BoolTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
)
from ember.graphdef import Graph, TensorSpec, TensorType, verify  # noqa: F401
from ember.graphdef.dtypes import ALL as _DTYPES
from ember.graphdef.dtypes import DType as _DType
from ember.graphdef.dtypes import as_dtype as _as_dtype
from ember.nn.functional import *  # noqa: F401,F403
from ember.nn.functional import all, any, max, min, pow, round, sum  # noqa: F401
from ember.nn import functional as _functional  # noqa: E402
from ember.frontend.out_argument import accepting_out as _accepting_out  # noqa: E402

# `em.add(x, y, out=result)`: the namespace's tensor functions take PyTorch's `out=`
_WITH_OUT = {}  # id(function) -> its `out=` form (em.special shares them)
for _name in _functional.__all__:
    _fn = globals().get(_name)
    if _inspect.isfunction(_fn) and _fn is getattr(_functional, _name):
        globals()[_name] = _WITH_OUT.setdefault(id(_fn), _accepting_out(_fn))
del _name, _fn
from ember.nn.module import Module  # noqa: F401
from ember.nn.parameter import Parameter, initial_seed, manual_seed  # noqa: F401
from ember.runtime import CompiledModel, compile, compile_count  # noqa: F401

from ember import accelerator, autograd, cuda, func, nn, optim, utils  # noqa: E402,F401
from ember import distributions  # noqa: E402,F401
from ember.training import metrics  # noqa: E402,F401
from ember.runtime.checkpoint import CheckpointManager  # noqa: E402,F401
from ember import callbacks  # noqa: E402,F401
from ember.runtime.summary import summary  # noqa: E402,F401
from ember.frontend.device import device, get_default_device, set_default_device  # noqa: E402,F401
from ember.frontend.generator import Generator  # noqa: E402,F401
from ember.frontend.lazy import graph_of  # noqa: E402,F401
from ember.serialization import load, load_safetensors, save, save_safetensors  # noqa: E402,F401
from ember.autograd import (  # noqa: E402,F401
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from ember.func import functional_call, functionalize, vmap  # noqa: E402,F401
from ember.runtime.mesh import mesh  # noqa: E402,F401
from ember import distributed  # noqa: E402,F401
from ember import fft, linalg  # noqa: E402,F401
from ember.frontend.size import Size  # noqa: E402,F401
from ember import amp, backends, fx, jit, onnx  # noqa: E402,F401
from ember.amp import autocast  # noqa: E402,F401
from ember.numerics import (  # noqa: E402,F401
    finfo,
    get_default_dtype,
    get_num_interop_threads,
    get_num_threads,
    iinfo,
    is_tensor,
    numel,
    seed,
    set_default_dtype,
    set_float32_matmul_precision,
    set_num_interop_threads,
    set_num_threads,
    use_deterministic_algorithms,
)
from ember.frontend.print_options import set_printoptions  # noqa: E402,F401
from ember.memory_format import (  # noqa: E402,F401
    channels_last,
    channels_last_3d,
    contiguous_format,
    memory_format,
    preserve_format,
)
from ember import testing  # noqa: E402,F401
from ember import special  # noqa: E402,F401

for _name in special.__all__:  # `em.special.logit is em.logit`, both taking `out=`
    setattr(special, _name, _WITH_OUT.get(id(getattr(special, _name)), getattr(special, _name)))
del _name, _WITH_OUT


__version__ = "0.1.0"

_d = _as_dtype
float16, bfloat16, float32, float64 = _d("float16"), _d("bfloat16"), _d("float32"), _d("float64")
int8, int16, int32, int64 = _d("int8"), _d("int16"), _d("int32"), _d("int64")
uint8, bool_, bool = _d("uint8"), _d("bool"), _d("bool")  # noqa: A001
float, double, half, long = float32, float64, float16, int64  # noqa: A001
int, short = int32, int16  # noqa: A001
complex64, complex128 = _d("complex64"), _d("complex128")
cfloat, cdouble = complex64, complex128
dtype = _DType
assert set(_DTYPES) >= {float16, bfloat16, float32, float64, int8, int16, int32, int64, uint8}


def trace(module: Module, *inputs: Any, name: str | None = None) -> Graph:
    """Trace `module` on specs or example arrays into ember's IR (readable with print).

    >>> print(em.trace(net, em.TensorSpec((64, 1, 28, 28))))
    """
    from ember.frontend.trace import trace as trace_module
    from ember.runtime.eager import _canonical_input

    inputs = tuple(i if isinstance(i, TensorType) else _canonical_input(i) for i in inputs)
    return trace_module(module, *inputs, name=name)


def _public_names() -> list[str]:
    """`from ember import *` exports every public name except those that would shadow a
    Python builtin (`em.int`, `em.float`, `em.bool`, `em.sum`, `em.max`, `em.compile`...):
    those stay reachable as `em.<name>`."""
    import builtins

    skip = {"annotations", "Any"}
    return sorted(
        n for n in globals() if not n.startswith("_") and n not in skip and not hasattr(builtins, n)
    )


__all__ = _public_names()
_np.random.set_state(_NUMPY_RANDOM_STATE)
del _NUMPY_RANDOM_STATE

# einops (if installed) takes ember tensors: `rearrange(x, ...)` in ported models
import importlib.util as _importlib_util  # noqa: E402

if _importlib_util.find_spec("einops") is not None:
    from ember.nn.einops_backend import register as _register_einops

    _register_einops()
