"""Running ember models: compile(), the compiled model, state views, programs, loops, data."""

from ember.runtime.compilation_cache import enable_compilation_cache
from ember.runtime.host_allocator import keep_freed_memory_mapped

keep_freed_memory_mapped()  # before any step runs: see host_allocator.py
enable_compilation_cache()  # compiled steps kept on disk between runs: see compilation_cache.py

from ember.runtime import lazy  # noqa: E402, F401  (executes lazy tensors, records module calls)
from ember.runtime.model import CompiledModel, compile  # noqa: E402, F401
from ember.runtime.stats import compile_count  # noqa: E402, F401
