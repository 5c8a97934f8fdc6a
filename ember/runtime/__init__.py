"""Running ember models: compile(), the compiled model, loops, data, optimizers."""

from . import eager  # noqa: F401  (installs Module.__call__ on arrays)
from .model import CompiledModel, compile  # noqa: F401
from .stats import compile_count  # noqa: F401
