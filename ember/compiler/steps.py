"""Assemble the compiled step functions from lowered graphs.

The train step is forward + loss + `jax.value_and_grad` + optax update +
metric accumulation in ONE `jax.jit`, with the train state donated:

    state = {"params", "buffers", "opt_state", "step", "sums"[, "grad_acc"]}
    train_step(state, hyper, rng, x, y) -> (state, logs)

`hyper` packs the optimizer's hyperparameters (learning rates, betas, ...)
into one float32 vector that is read, not donated nor returned: changing a
learning rate replaces that vector and never retraces. `rng` is the base key
(None when the graph has no stochastic op). The graph's outputs are
`[loss, *model_outputs]`; metrics read the first model output. `sums` is one
vector of per-epoch (sum, count) pairs, so epoch means need no host sync.
Few, packed leaves keep the per-step dispatch cost close to a hand-written step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from .lower import LoweredGraph


def step_key(base_key, step):
    """One key per step: `fold_in(base, step)`; nodes fold in their own salt."""
    key = jax.random.fold_in(jax.random.wrap_key_data(base_key, impl="threefry2x32"), step)
    return jax.random.key_data(key)


def empty_sums(metric_names) -> jax.Array:
    """Zeros for (sum, count) of the loss and each metric, in that order."""
    return jnp.zeros((2 * (1 + len(metric_names)),), jnp.float32)


def read_sums(sums, metric_names) -> dict[str, float]:
    values = jax.device_get(sums)
    out = {}
    for i, name in enumerate(["loss", *metric_names]):
        s, c = values[2 * i], values[2 * i + 1]
        out[name] = float(s / c) if c else float("nan")
    return out


def _accumulate(sums, loss, batch, outputs, targets, metric_fns):
    parts = [loss.astype(jnp.float32) * batch, batch]
    logs = {"loss": loss}
    for name, fn in metric_fns.items():
        s, c = fn(outputs, targets)
        parts += [s, c]
        logs[name] = s / jnp.maximum(c, 1.0)
    return sums + jnp.stack(parts), logs


class HyperparamPacking:
    """Moves an `OptimizerState.hyperparams` tree into one vector and back."""

    def __init__(self, hyperparams: Any):
        leaves, self.treedef = jax.tree_util.tree_flatten(hyperparams)
        self.size = len(leaves)

    def pack(self, hyperparams) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(hyperparams)
        return jnp.asarray([float(v) for v in leaves], jnp.float32)

    def unpack(self, vector):
        return jax.tree_util.tree_unflatten(self.treedef, [vector[i] for i in range(self.size)])


def build_train_step(
    lowered: LoweredGraph,
    tx: optax.GradientTransformation,
    metric_fns: dict[str, Callable],
    grad_transform: Callable | None = None,
    accumulate_steps: int = 1,
    frozen: tuple[bool, ...] = (),
    hyper: HyperparamPacking | None = None,
) -> Callable:
    """The fused step. With `accumulate_steps=N` each call is a micro-batch:
    gradients are averaged in `state["grad_acc"]` and the optimizer (after
    `grad_transform`, e.g. clipping) runs on every N-th call only."""
    fn = lowered.fn

    def update(grads, state, hyper_vec):
        if grad_transform is not None:
            grads = grad_transform(grads)
        if any(frozen):  # requires_grad=False: no gradient reaches the optimizer, no update
            grads = [jnp.zeros_like(g) if f else g for g, f in zip(grads, frozen, strict=True)]
        opt_state = state["opt_state"]
        if hyper is not None:
            opt_state = opt_state._replace(hyperparams=hyper.unpack(hyper_vec))
        updates, opt_state = tx.update(grads, opt_state, state["params"])
        if hyper is not None:
            opt_state = opt_state._replace(hyperparams=None)
        params = optax.apply_updates(state["params"], updates)
        if any(frozen):
            params = [
                old if f else new
                for old, new, f in zip(state["params"], params, frozen, strict=True)
            ]
        return params, opt_state

    def train_step(state, hyper_vec, rng, x, y):
        key = step_key(rng, state["step"]) if lowered.uses_rng else None

        def loss_of(params):
            outs, new_buffers = fn(params, state["buffers"], [x, y], key)
            return outs[0], (outs[1:], new_buffers)

        (loss, (outs, new_buffers)), grads = jax.value_and_grad(loss_of, has_aux=True)(
            state["params"]
        )
        new_state = dict(state)
        if accumulate_steps == 1:
            params, opt_state = update(grads, state, hyper_vec)
        else:
            acc = jax.tree_util.tree_map(jnp.add, state["grad_acc"], grads)
            apply_now = (state["step"] + 1) % accumulate_steps == 0

            def do_update(acc):
                mean = jax.tree_util.tree_map(lambda g: g / accumulate_steps, acc)
                params, opt_state = update(mean, state, hyper_vec)
                return params, opt_state, jax.tree_util.tree_map(jnp.zeros_like, acc)

            def skip(acc):
                return state["params"], state["opt_state"], acc

            params, opt_state, acc = jax.lax.cond(apply_now, do_update, skip, acc)
            new_state["grad_acc"] = acc
        batch = jnp.asarray(x.shape[0] if x.ndim else 1, jnp.float32)
        sums, logs = _accumulate(state["sums"], loss, batch, outs[0], y, metric_fns)
        new_state.update(
            params=params,
            buffers=new_buffers,
            opt_state=opt_state,
            step=state["step"] + 1,
            sums=sums,
        )
        return new_state, logs

    return jax.jit(train_step, donate_argnums=0)


def build_eval_step(lowered: LoweredGraph, metric_fns: dict[str, Callable]) -> Callable:
    """eval_step(params, buffers, sums, x, y) -> (sums, logs); sums are donated."""
    fn = lowered.fn

    def eval_step(params, buffers, sums, x, y):
        outs, _ = fn(params, buffers, [x, y], None)
        batch = jnp.asarray(x.shape[0] if x.ndim else 1, jnp.float32)
        return _accumulate(sums, outs[0], batch, outs[1], y, metric_fns)

    return jax.jit(eval_step, donate_argnums=2)


def build_predict_step(lowered: LoweredGraph) -> Callable:
    """predict_step(params, buffers, inputs, key) -> (outputs, new_buffers)."""
    return jax.jit(lowered.fn)
