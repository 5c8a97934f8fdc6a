"""Assemble the compiled steps from programs (ember's functional core).

An objective program (`objective.py`) returns `{"losses", "count", "outputs",
"targets", "logs", "carry"}`. The train step is forward + loss +
`jax.value_and_grad` + the optimizer update + metric sums in ONE `jax.jit`,
with the state donated:

    train_step(params, buffers, opt_states, run, hypers, rng, inputs)
        -> (params, buffers, opt_states, run, logs)

`params`/`buffers` are the module trees' flat lists (a `StateView`);
`opt_states`/`hypers` hold one entry per optimizer (its own optax state, and its
hyperparameters packed in one float32 vector that is read, not donated: changing
a learning rate never retraces). `run` is the compiled model's `{"step", "sums",
"carry"[, "grad_acc"]}`. With several optimizers the updates run in their given
order inside the one program, each on the parameters the previous ones produced
(PyTorch's sequential loop). Only an optimizer's own parameters are
differentiated. `sums` is one vector of (sum, count) pairs, so epoch means need
no host sync.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.compiler.lowering.composite import torch_convention
from ember.graphdef.pytree import tree_unflatten
from ember.training.guard import OK, grad_sum, guard_status, keep_if_bad, pending_status
from ember.training.stacked_storage import StorageLayout, expander

# An unguarded CPU step orders its updates after the whole backward (see
# `train_step_function`) when a parameter has at least this many elements.
ORDER_MIN_SIZE = 1 << 14


def step_key(base_key, step):
    """One key per step: `fold_in(base, step)`; nodes fold in their own salt."""
    key = jax.random.fold_in(jax.random.wrap_key_data(base_key, impl="threefry2x32"), step)
    return jax.random.key_data(key)


@dataclass(frozen=True)
class SumsLayout:
    """Where each logged name's accumulators sit in the one `sums` vector.

    Losses and logged scalars are means: (sum of value * count, count); a metric has
    its own `size` accumulators and turns them into a number with `result`.
    """

    names: tuple[str, ...]
    metrics: dict[str, Any]  # name -> Metric, for the entries that are metrics

    def sizes(self) -> list[int]:
        return [self.metrics[n].size if n in self.metrics else 2 for n in self.names]

    @property
    def size(self) -> int:
        return sum(self.sizes())

    def read(self, sums) -> dict[str, float]:
        values = np.asarray(jax.device_get(sums), dtype=np.float64)
        out, at = {}, 0
        for name, size in zip(self.names, self.sizes(), strict=True):
            part = values[at : at + size]
            at += size
            if name in self.metrics:
                out[name] = self.metrics[name].result(part)
            else:
                out[name] = float(part[0] / part[1]) if part[1] else float("nan")
        return out


def empty_sums(layout: SumsLayout) -> jax.Array:
    return jnp.zeros((layout.size,), jnp.float32)


def read_sums(sums, layout: SumsLayout) -> dict[str, float]:
    return layout.read(sums)


@dataclass(frozen=True)
class OptimizerPlan:
    """One optimizer's part of a train step.

    `loss` names the objective's loss it minimizes; `opt_index[k]` is the position,
    in the module parameter list, of its k-th parameter; `frozen[k]` says it has
    `requires_grad=False` (no gradient reaches it and its value is kept).
    """

    optimizer: Any
    loss: str
    opt_index: tuple[int, ...]
    frozen: tuple[bool, ...]
    # stacked storage: per entry of `opt_index`, its positions in `optimizer.params`
    entries: tuple[tuple[int, ...], ...] | None = None


@dataclass(frozen=True)
class StepPlan:
    """The static decisions of the steps of one compiled model."""

    optimizers: tuple[OptimizerPlan, ...]
    layout: SumsLayout  # what `sums` accumulates, in order
    grad_transform: Callable | None = None
    accumulate_steps: int = 1
    guard: str = "raise"  # "raise" | "skip" | "off": see `guard.py`
    # on a mesh: (params, buffers, opt_states) -> the same, constrained to their layout
    state_layout: Callable | None = None
    # stacked storage: `params` arrive in this stored form (see stacked_storage.py)
    storage: StorageLayout | None = None


def per_layer(storage: StorageLayout | None) -> Callable[[list], list]:
    """The programs' parameter list from the stored one (identity without stacking)."""
    return list if storage is None else expander(storage)


def _accumulate(sums, result: dict, layout: SumsLayout):
    """Add this batch's accumulators; return the new sums and the step's logs (losses and
    logged scalars; metrics are read per epoch)."""
    count = jnp.asarray(result["count"], jnp.float32)
    logs = {**result["losses"], **(result.get("logs") or {})}
    parts = []
    for name in layout.names:
        metric = layout.metrics.get(name)
        if metric is not None:
            part = metric.update(result["outputs"], result["targets"]).astype(jnp.float32)
            parts.append(part)
            if metric.size == 2 and _plain_mean(metric):  # a per-step value is cheap: log it
                logs[name] = part[0] / jnp.maximum(part[1], 1.0)
        else:  # a batch with nothing to count (all targets ignored) adds nothing
            total = jnp.where(count > 0, logs[name].astype(jnp.float32) * count, 0.0)
            parts.append(jnp.stack([total, count]))
    return sums + jnp.concatenate(parts), logs


def _plain_mean(metric) -> bool:
    from ember.training.metrics import Metric

    return type(metric).result is Metric.result


def _carry(result: dict):
    carry = result.get("carry")
    return None if carry is None else jax.tree_util.tree_map(jax.lax.stop_gradient, carry)


def build_train_step(program: Any, plan: StepPlan, steps_per_execution: int = 1) -> Callable:
    """The fused, donated step. With `accumulate_steps=N` each call is a micro-batch:
    gradients are averaged in `run["grad_acc"]` and the optimizers (after
    `grad_transform`, e.g. clipping) run on every N-th call only. With
    `steps_per_execution=K` one call runs K steps (`lax.scan` over inputs stacked on a
    new leading axis) and returns the last step's logs."""
    step = train_step_function(program, plan)
    if steps_per_execution == 1:
        return jax.jit(step, donate_argnums=(0, 1, 2, 3))

    def multi_step(params, buffers, opt_states, run, hypers, rng, stacked):
        def body(carry, inputs):
            params, buffers, opt_states, run = carry
            params, buffers, opt_states, run, logs = step(
                params, buffers, opt_states, run, hypers, rng, inputs
            )
            run = {k: v for k, v in run.items() if k != "carry"}  # carries run one at a time
            return (params, buffers, opt_states, run), logs

        (params, buffers, opt_states, run), logs = jax.lax.scan(
            body, (params, buffers, opt_states, run), stacked
        )
        run = {**run, "carry": None}
        return params, buffers, opt_states, run, jax.tree_util.tree_map(lambda x: x[-1], logs)

    return jax.jit(multi_step, donate_argnums=(0, 1, 2, 3))


def train_step_function(program: Any, plan: StepPlan) -> Callable:
    """The pure train step (not jitted): see `build_train_step`."""
    fn, out_tree = program.lowered.fn, program.out_tree
    uses_rng = program.lowered.uses_rng
    n_acc = plan.accumulate_steps
    expand = per_layer(plan.storage)

    def evaluate(params, buffers, inputs, key):
        outs, new_buffers = fn(expand(params), buffers, inputs, key)
        return tree_unflatten(out_tree, outs), new_buffers

    def grads_of(op: OptimizerPlan, params, buffers, inputs, key):
        def loss_of(trained):
            full = list(params)
            for i, value in zip(op.opt_index, trained, strict=True):
                full[i] = value
            result, new_buffers = evaluate(full, buffers, inputs, key)
            return result["losses"][op.loss], (result, new_buffers)

        (_, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(
            [params[i] for i in op.opt_index]
        )
        return aux, list(torch_convention(grads))

    def update(op: OptimizerPlan, grads, params, opt_state, hyper, ok=None):
        if plan.grad_transform is not None:
            grads = plan.grad_transform(grads, op.entries)
        if any(op.frozen):
            grads = [jnp.zeros_like(g) if f else g for g, f in zip(grads, op.frozen, strict=True)]
        current = [params[i] for i in op.opt_index]
        new, new_state = op.optimizer.apply_gradients(
            grads, opt_state, current, hyper, ok, op.entries
        )
        if any(op.frozen):  # per update unit, stacked or not, as the state is stored
            new_state = op.optimizer.keep_state(new_state, opt_state, list(op.frozen))
        opt_state = new_state
        params = list(params)
        for i, old, value, f in zip(op.opt_index, current, new, op.frozen, strict=True):
            params[i] = old if f else value
        return params, opt_state

    # One optimizer: a bad step skips its update under `lax.cond` (the optimizer's own:
    # one per parameter for the rule-based ones), which lets a clean step update the
    # donated buffers in place (selecting old vs new afterwards made XLA copy them).
    # Several optimizers run in sequence, so a later failure must also undo an earlier
    # update: their state is selected at the end.
    skip_in_cond = plan.guard != "off" and len(plan.optimizers) == 1
    # An unguarded one-optimizer step on CPU runs its updates under the same conditionals,
    # on a predicate that is always true but reads every whole gradient: XLA:CPU's thunk
    # executor otherwise starts each update as soon as its gradient exists, concurrently
    # with the rest of the backward's multi-threaded matmuls (the bench GPT's step: 51-53
    # ms unordered, 37-40 ms ordered, as fast as the guarded step; bench/RESULTS.md).
    # Models of small arrays only have no multi-threaded matmuls to disturb, and there the
    # conditionals cost more than they save (bench_dispatch, 16 layers of 64x64: 1.24-1.39
    # ordered, 1.07-1.13 unordered).
    order_updates = (
        plan.guard == "off"
        and len(plan.optimizers) == 1
        and jax.default_backend() == "cpu"
        and _largest_parameter(plan) >= ORDER_MIN_SIZE
    )

    def train_step(params, buffers, opt_states, run, hypers, rng, inputs):
        key = step_key(rng, run["step"]) if uses_rng else None
        old = (params, buffers, tuple(opt_states), run)
        opt_states, new_run = list(opt_states), dict(run)
        first, losses, status = None, {}, jnp.zeros((), jnp.int32)
        new_buffers = None
        for k, op in enumerate(plan.optimizers):
            (result, buffers_k), grads = grads_of(op, params, buffers, inputs, key)
            first = first if first is not None else result
            # each forward updates buffers (BatchNorm statistics) once, as separate steps do:
            # the later evaluations exist for their gradients
            new_buffers = buffers_k if new_buffers is None else new_buffers
            losses[op.loss] = result["losses"][op.loss]  # each loss as its update saw it
            if plan.guard != "off":
                status = guard_status(status, result, op.loss, grads)
            if n_acc == 1 and skip_in_cond:
                params, opt_states[k] = update(
                    op, grads, params, opt_states[k], hypers[k], ok=status == OK
                )
            elif n_acc == 1 and order_updates:
                params, opt_states[k] = update(
                    op, grads, params, opt_states[k], hypers[k], ok=after_all(grads)
                )
            elif n_acc == 1:
                params, opt_states[k] = update(op, grads, params, opt_states[k], hypers[k])
            else:
                acc = [a + g for a, g in zip(run["grad_acc"][k], grads, strict=True)]
                apply_now = (run["step"] + 1) % n_acc == 0
                if skip_in_cond:
                    apply_now = apply_now & (status == OK)

                def do_update(acc, op=op, k=k, params=params):
                    mean = [g / n_acc for g in acc]
                    new_params, new_opt = update(op, mean, params, opt_states[k], hypers[k])
                    return new_params, new_opt, [jnp.zeros_like(g) for g in acc]

                def skip(acc, k=k, params=params):
                    return list(params), opt_states[k], acc

                params, opt_states[k], acc = jax.lax.cond(apply_now, do_update, skip, acc)
                new_run["grad_acc"] = [
                    acc if j == k else a for j, a in enumerate(new_run["grad_acc"])
                ]
        buffers = new_buffers
        first = {**first, "losses": {**first["losses"], **losses}}
        sums, logs = _accumulate(run["sums"], first, plan.layout)
        new_run.update(step=run["step"] + 1, sums=sums, carry=_carry(first))
        new = (params, buffers, tuple(opt_states), new_run)
        if plan.guard != "off":  # a bad batch changes nothing but the guard's record
            new = keep_if_bad(status, new, old, updates_skipped=skip_in_cond)
            logs["status"] = pending_status(run["guard"], status)
        if plan.state_layout is not None:
            new = (*plan.state_layout(*new[:3]), new[3])
        return (*new, logs)

    return train_step


def _largest_parameter(plan: StepPlan) -> int:
    sizes = (math.prod(p.shape) for op in plan.optimizers for p in op.optimizer.params)
    return max(sizes, default=0)


def after_all(grads) -> jax.Array:
    """True, computed from a sum of every gradient (so it exists only once they all do).
    XLA cannot fold it: it does not know that finite, NaN and inf cover every float."""
    total = sum(grad_sum(g) for g in grads) if grads else jnp.zeros((), jnp.float32)
    return jnp.isfinite(total) | jnp.isnan(total) | jnp.isinf(total)


def build_eval_step(program: Any, plan: StepPlan) -> Callable:
    """eval_step(params, buffers, sums, inputs, rng, count) -> (sums, logs, carry); sums
    donated. Random draws in the objective (a VAE samples in eval too) use
    `fold_in(rng, count)`."""
    fn, out_tree = program.lowered.fn, program.out_tree
    uses_rng = program.lowered.uses_rng
    expand = per_layer(plan.storage)

    def eval_step(params, buffers, sums, inputs, rng, count):
        outs, _ = fn(expand(params), buffers, inputs, step_key(rng, count) if uses_rng else None)
        result = tree_unflatten(out_tree, outs)
        sums, logs = _accumulate(sums, result, plan.layout)
        return sums, logs, _carry(result)

    return jax.jit(eval_step, donate_argnums=2)


def build_predict_step(program: Any, storage: StorageLayout | None = None) -> Callable:
    """predict_step(params, buffers, inputs, rng, count) -> (outputs, new_buffers)."""
    fn, uses_rng = program.lowered.fn, program.lowered.uses_rng
    expand = per_layer(storage)

    def predict_step(params, buffers, inputs, rng, count):
        return fn(expand(params), buffers, inputs, step_key(rng, count) if uses_rng else None)

    return jax.jit(predict_step)
