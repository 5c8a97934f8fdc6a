"""Assemble the compiled step functions from lowered graphs.

The train step is forward + loss + `jax.value_and_grad` + optax update +
metric accumulation in ONE `jax.jit`, with the whole train state donated:

    state = {"params", "buffers", "opt_state", "step", "rng", "sums"}
    train_step(state, x, y) -> (state, logs)

The graph's outputs are `[loss, *model_outputs]`; metrics read the first model
output. `sums` holds per-epoch (sum, count) accumulators so epoch means need
no host synchronisation inside the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from .lower import LoweredGraph


def step_key(base_key, step):
    """One key per step: `fold_in(base, step)`; nodes fold in their own salt."""
    key = jax.random.fold_in(jax.random.wrap_key_data(base_key, impl="threefry2x32"), step)
    return jax.random.key_data(key)


def empty_sums(metric_names) -> dict:
    names = ["loss", *metric_names]
    return {n: (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32)) for n in names}


def _accumulate(sums, loss, batch, outputs, targets, metric_fns):
    new = {"loss": (sums["loss"][0] + loss.astype(jnp.float32) * batch, sums["loss"][1] + batch)}
    logs = {"loss": loss}
    for name, fn in metric_fns.items():
        s, c = fn(outputs, targets)
        new[name] = (sums[name][0] + s, sums[name][1] + c)
        logs[name] = s / jnp.maximum(c, 1.0)
    return new, logs


def build_train_step(
    lowered: LoweredGraph,
    tx: optax.GradientTransformation,
    metric_fns: dict[str, Callable],
    grad_transform: Callable | None = None,
    accumulate_steps: int = 1,
    frozen: tuple[bool, ...] = (),
) -> Callable:
    """The fused step. With `accumulate_steps=N` each call is a micro-batch:
    gradients are averaged in `state["grad_acc"]` and the optimizer (after
    `grad_transform`, e.g. clipping) runs on every N-th call only."""
    fn = lowered.fn

    def update(grads, state):
        if grad_transform is not None:
            grads = grad_transform(grads)
        if any(frozen):  # requires_grad=False: no gradient reaches the optimizer, no update
            grads = [jnp.zeros_like(g) if f else g for g, f in zip(grads, frozen, strict=True)]
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        if any(frozen):
            params = [
                old if f else new
                for old, new, f in zip(state["params"], params, frozen, strict=True)
            ]
        return params, opt_state

    def train_step(state, x, y):
        key = step_key(state["rng"], state["step"]) if lowered.uses_rng else None

        def loss_of(params):
            outs, new_buffers = fn(params, state["buffers"], [x, y], key)
            return outs[0], (outs[1:], new_buffers)

        (loss, (outs, new_buffers)), grads = jax.value_and_grad(loss_of, has_aux=True)(
            state["params"]
        )
        new_state = dict(state)
        if accumulate_steps == 1:
            params, opt_state = update(grads, state)
        else:
            acc = jax.tree_util.tree_map(jnp.add, state["grad_acc"], grads)
            apply_now = (state["step"] + 1) % accumulate_steps == 0

            def do_update(acc):
                mean = jax.tree_util.tree_map(lambda g: g / accumulate_steps, acc)
                params, opt_state = update(mean, state)
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
