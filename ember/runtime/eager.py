"""Helpers for calls outside compiled steps: IR input names of a call, and its RNG keys.

`net(x)` on arrays or tensors records a lazy `call` node (`runtime/lazy.py`);
`em.func.functional_call` runs the same programs as pure functions.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np

from ember.frontend.trace import input_names
from ember.nn.parameter import initial_seed
from ember.training.steps import step_key

from .program import (
    CallSignature,
    canonical_array,
)
from .stats import COMPILES

_eager_calls = itertools.count()


def _canonical_input(x):
    """Host arrays in JAX's default precision (float64 -> float32, int64 -> int32)."""
    return canonical_array(x)


def call_names(forward, signature: CallSignature) -> list[str]:
    """IR input names of a `(args, kwargs)` call: `x`, `mask`, `hidden.0`, ..."""
    positional = input_names(forward, 64)
    names = []
    for path in signature.array_paths():
        part, _, rest = path.partition(".")
        index, _, rest = rest.partition(".")
        head = (
            (positional[int(index)] if int(index) < 64 else f"input{index}")
            if part == "0"
            else index
        )
        names.append(".".join(p for p in (head, rest) if p))
    return names


def eager_rng():
    """The next key of the calls outside compiled steps: `fold_in(seed key, call number)`."""
    base = np.asarray(jax.random.key_data(jax.random.PRNGKey(initial_seed())))
    return step_key(base, next(_eager_calls))


__all__ = ["call_names", "eager_rng", "COMPILES", "_canonical_input"]
