"""Guarded steps: a bad batch never changes the model.

Inside the fused train step ember computes a small status: the loss and the
gradients' global norm are finite, and class targets are within range for the
losses that take them (`checks` from the objective). When the status is bad, the
step keeps the previous parameters, buffers, optimizer state and metric sums
(inside the program, no host sync: the optimizer update of a one-optimizer step runs
under `lax.cond`, so a clean step writes the donated buffers in place; ember's rule-based
optimizers use one small conditional per parameter, because XLA:CPU runs a branch of a
few kernels inline but hands a large one to its thread pool and blocks on it; with
several optimizers every state array is selected between old and new) and records the step in
`run["guard"] = [bad steps, first unreported bad step (-1: none), its status]`;
the runtime clears the unreported entry once it has reported it. The runtime reads that
record with the logs it already fetches and raises `NonFiniteError` /
`TargetRangeError` (guard="raise", the default) naming the step, the batch and
the check, or only counts skipped steps (guard="skip").

Status codes: 0 ok, 1 non-finite loss, 2 non-finite gradients, 3 targets out of range.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

OK, NONFINITE_LOSS, NONFINITE_GRADS, TARGET_RANGE = 0, 1, 2, 3
MESSAGES = {
    NONFINITE_LOSS: "the loss is NaN or infinite",
    NONFINITE_GRADS: "a gradient is NaN or infinite",
    TARGET_RANGE: "a class target is out of range for the loss",
}


def empty_record() -> jax.Array:
    return jnp.array([0, -1, OK], jnp.int32)


def guard_status(status, result: dict, loss_name: str, grads) -> jax.Array:
    """The first failing check (keeps an earlier failure)."""
    checks = result.get("checks") or {}
    targets_ok = checks.get("targets", True)
    loss_ok = jnp.isfinite(result["losses"][loss_name])
    # A plain sum is finite exactly when every element is (NaN and inf propagate; finite
    # values overflow it only past 3e38), and it is the cheapest reduction XLA can emit:
    # the global norm's squares would be materialized as one more pass over the gradients.
    total = sum(grad_sum(g) for g in grads) if grads else 0.0
    grads_ok = jnp.isfinite(total)
    # The first failing check by priority, as ONE reduction: XLA then computes the status
    # once (the gradient sums' last stages fused into it), where nested `where`s were
    # recomputed inside every consumer, each reading the sums as separate kernels.
    bad = jnp.stack([~jnp.asarray(targets_ok), ~loss_ok, ~grads_ok])
    rank = jnp.max(jnp.where(bad, jnp.array([3, 2, 1], jnp.int32), 0))
    code = jnp.array([OK, NONFINITE_GRADS, NONFINITE_LOSS, TARGET_RANGE], jnp.int32)[rank]
    return jnp.where(status != OK, status, code)


# Gradients at least this large are summed by a matrix-vector product on CPU (see `grad_sum`):
# below it the product's call costs more than the chain of adds (measured: 36,864
# elements slower, 65,536 faster, 100,352 ~20 us faster per step)
DOT_SUM_MIN_SIZE = 1 << 16


def grad_sum(g) -> jax.Array:
    """The sum of `g` in float32. On XLA:CPU a full reduction of a large array runs as one
    sequential chain of adds (float order is kept, so it is not vectorized: ~30 us for a
    784x128 gradient, a tenth of the seed MLP's step), while `ones @ g` runs as a
    vectorized matrix-vector product, leaving a reduction of one row. NaN and inf
    propagate through both, so their sums are finite for the same gradients."""
    if jnp.iscomplexobj(g):  # finite exactly when both parts are
        return grad_sum(jnp.real(g)) + grad_sum(jnp.imag(g))
    if g.ndim < 2 or g.size < DOT_SUM_MIN_SIZE or jax.default_backend() != "cpu":
        return jnp.sum(g, dtype=jnp.float32)
    rows = g.reshape(g.shape[0], -1).astype(jnp.float32)
    return jnp.sum(jnp.ones((1, rows.shape[0]), jnp.float32) @ rows)


def keep_if_bad(status, new: tuple, old: tuple, updates_skipped: bool = False) -> tuple:
    """`new` when the status is OK, else `old` with the guard record updated.
    `updates_skipped`: the step already skipped the parameter and optimizer update under
    `lax.cond` (see `train_step_function`), so only buffers and run state are selected."""
    ok = status == OK
    params, buffers, opt_states, run = new
    old_params, old_buffers, old_opts, old_run = old

    def pick(a, b):
        return jax.tree_util.tree_map(lambda x, y: jnp.where(ok, x, y), a, b)

    kept_run = dict(run)
    for key in ("sums", "grad_acc"):
        if run.get(key) is not None and old_run.get(key) is not None:
            kept_run[key] = pick(run[key], old_run[key])
    record = old_run["guard"]
    first = record[1] < 0  # no bad step waiting to be reported
    kept_run["guard"] = jnp.where(
        ok,
        record,
        jnp.stack(
            [
                record[0] + 1,
                jnp.where(first, old_run["step"], record[1]),
                jnp.where(first, status, record[2]),
            ]
        ),
    )
    if updates_skipped:
        return params, pick(buffers, old_buffers), opt_states, kept_run
    return (
        pick(params, old_params),
        pick(buffers, old_buffers),
        pick(opt_states, old_opts),
        kept_run,
    )


def pending_status(old_record, status) -> jax.Array:
    """What failed at the first bad step not yet reported (OK: none), from the record
    before this step and this step's status: the one the record now holds. Cumulative,
    so the runtime needs to read only the newest finished step's value, and only now and
    then. (Not read back from the new record: that made XLA copy the record.)"""
    return jnp.where(old_record[1] >= 0, old_record[2], status)


def reported(record: Any) -> jax.Array:
    """The record with its unreported step cleared (the count is kept)."""
    return jnp.array([int(record[0]), -1, OK], jnp.int32)


def describe(record: Any) -> tuple[int, int, str]:
    """(bad steps, first unreported bad step, what failed) from a host copy of the record."""
    count, step, code = (int(v) for v in record)
    return count, step, MESSAGES.get(code, "ok")
