"""Metrics computed inside the compiled step, as (sum, count) pairs.

Each metric is `fn(outputs, targets) -> (sum, count)`, so epoch averages are
exact for a ragged last batch and accumulate on device without host syncs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ember.graphdef import UnsupportedOpError


def accuracy(outputs, targets):
    """Top-1 accuracy: argmax over classes for integer targets, logit > 0 for binary ones."""
    if jnp.issubdtype(targets.dtype, jnp.integer) and outputs.ndim == targets.ndim + 1:
        hits = jnp.argmax(outputs, axis=1 if outputs.ndim > 1 else 0) == targets
    elif outputs.shape == targets.shape:
        if (
            jnp.issubdtype(targets.dtype, jnp.floating)
            and outputs.ndim == 2
            and outputs.shape[-1] > 1
        ):
            hits = jnp.argmax(outputs, -1) == jnp.argmax(targets, -1)  # one-hot / soft targets
        else:
            hits = (outputs > 0) == (targets > 0.5)
    else:
        raise UnsupportedOpError(
            f"accuracy: cannot compare outputs {outputs.shape} with targets {targets.shape}; "
            "fix: class logits (N, C) with integer targets (N,), or equal shapes for binary logits"
        )
    return jnp.sum(hits.astype(jnp.float32)), jnp.asarray(hits.size, jnp.float32)


def mean_absolute_error(outputs, targets):
    err = jnp.abs(outputs - targets.astype(outputs.dtype))
    return jnp.sum(err.astype(jnp.float32)), jnp.asarray(err.size, jnp.float32)


def mean_squared_error(outputs, targets):
    err = jnp.square(outputs - targets.astype(outputs.dtype))
    return jnp.sum(err.astype(jnp.float32)), jnp.asarray(err.size, jnp.float32)


METRICS: dict[str, Callable] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "mae": mean_absolute_error,
    "mse": mean_squared_error,
}


def resolve_metrics(metrics) -> dict[str, Callable]:
    """Names or callables -> {name: fn}; unknown names list what exists."""
    out = {}
    for m in metrics or ():
        if callable(m):
            out[getattr(m, "__name__", "metric")] = m
        elif m in METRICS:
            out["accuracy" if m == "acc" else m] = METRICS[m]
        else:
            raise UnsupportedOpError(f"unknown metric {m!r}; known metrics: {sorted(METRICS)}")
    return out
