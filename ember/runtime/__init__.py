"""Running ember models: compile(), the compiled model, state views, programs, loops, data."""

from ember.runtime import lazy  # noqa: F401  (executes lazy tensors, records module calls)
from ember.runtime.model import CompiledModel, compile  # noqa: F401
from ember.runtime.stats import compile_count  # noqa: F401
