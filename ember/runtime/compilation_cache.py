"""Keep compiled XLA programs on disk between runs (JAX's persistent compilation cache).

XLA:CPU takes seconds to tens of seconds to compile a training step (a 2+2-layer
`nn.Transformer` step: ~20 s on 2 cores; bench/RESULTS.md), and a script rerun compiles
the same programs again. ember turns on JAX's persistent cache, as `torch.compile` keeps
its own on disk: a rerun loads the step instead (the same step: ~19 s -> ~3 s). Only
programs that took at least `jax_persistent_cache_min_compile_time_secs` (1 s by
default) to compile are written. The cache is capped at 2 GiB (least recently used
entries are evicted; the cap also makes JAX lock the directory, so processes sharing
it never read a half-written entry).

Where: `$EMBER_COMPILATION_CACHE` if it names a directory, else
`$XDG_CACHE_HOME/ember/xla` (`~/.cache/ember/xla`). `EMBER_COMPILATION_CACHE=0` turns
it off; a directory the user gave JAX (`JAX_COMPILATION_CACHE_DIR`,
`jax.config.update("jax_compilation_cache_dir", ...)`) is kept as it is.
"""

from __future__ import annotations

import os

import jax

_OFF = ("0", "off", "false", "no")
MAX_BYTES = 2 * 1024**3


def default_directory() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ember", "xla")


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent cache at ember's directory (idempotent); the directory in
    use, or None when the cache is off."""
    setting = os.environ.get("EMBER_COMPILATION_CACHE", "").strip()
    if setting.lower() in _OFF:
        return None
    chosen = jax.config.jax_compilation_cache_dir
    if chosen:  # the user's own choice
        return chosen
    path = setting or default_directory()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:  # read-only home, no permission: run without a cache
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    if jax.config.jax_compilation_cache_max_size == -1:
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path


__all__ = ["MAX_BYTES", "default_directory", "enable_compilation_cache"]
