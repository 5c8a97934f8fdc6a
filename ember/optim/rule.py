"""`RuleOptimizer`: an optimizer written as a per-parameter update rule (see `base`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ember.optim.base import (
    Optimizer,
    OptimizerState,
    _as_list,
    _like,
    stack_entries,
    unstack_entries,
)
from ember.optim.parameter_state import ParameterStates

# -- per-parameter rules -------------------------------------------------------

# A guarded step of an optimizer with at most this many parameters puts each parameter's
# update under its own `lax.cond` (XLA:CPU runs such a small branch inline); above it, one
# `lax.cond` around the whole update (see `RuleOptimizer._apply`).
PER_PARAMETER_GUARD_MAX = 64


class RuleState(NamedTuple):
    count: jax.Array  # int32 steps taken; the rule sees step = count + 1, like torch
    slots: tuple  # per parameter: the rule's state; () for parameters in no group


def lerp(start: jax.Array, end: jax.Array, weight: jax.Array) -> jax.Array:
    """`torch.lerp` for a scalar weight, in ATen's two-sided form so EMAs round alike."""
    small = jnp.abs(weight) < 0.5
    base = jnp.where(small, start, end)
    return base + jnp.where(small, weight, weight - 1) * (end - start)


def one_minus_pow(one_minus_beta: jax.Array, step: jax.Array) -> jax.Array:
    """`1 - beta**step` (a bias correction) without cancellation when beta is near 1."""
    return -jnp.expm1(step * jnp.log1p(-one_minus_beta))


def _pairs(x: jax.Array) -> jax.Array:
    """A complex array as (real, imag) pairs on a new last axis; others as they are."""
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1) if jnp.iscomplexobj(x) else x


def _unpairs(new: jax.Array, like: jax.Array) -> jax.Array:
    if jnp.iscomplexobj(like):
        return jax.lax.complex(new[..., 0], new[..., 1]).astype(like.dtype)
    return new.astype(like.dtype)


def _compute_dtype(dtype) -> jnp.dtype:
    # torch does its arithmetic on low-precision tensors in float32 ("opmath").
    return jnp.promote_types(dtype, jnp.float32)


class RuleOptimizer(Optimizer):
    """An optimizer given as a per-parameter rule; `build` does the plumbing.

    Subclasses define `_init_slots(param, group)` (the per-parameter state) and
    `_update(grad, param, slots, hp, group, step) -> (new_param, new_slots)`.
    `hp` holds the group's traced hyperparameters plus what `_scalars` derives
    from them (bias corrections...: computed once per group, not per parameter),
    `group` the snapshot of its dict for static decisions only (plus
    `"param_dtype"`, the parameter's own dtype), `step` the 1-based step as a
    float. All arrays arrive in the compute dtype (float32 at least); results
    are cast back to their own dtypes.

    Example (plain gradient descent):
        >>> class GD(RuleOptimizer):
        ...     def __init__(self, params=None, lr=0.1):
        ...         super().__init__(params, {"lr": lr})
        ...     def _update(self, grad, param, slots, hp, group, step):
        ...         return param - hp["lr"] * grad, slots
    """

    # A stacked unit (stacked storage) is updated by the rule vmapped over its layers; an
    # elementwise rule (per-group scalars only, no norms or per-parameter scalars) runs on
    # the stack as it is, which is the same arithmetic in one kernel.
    stackable = True
    elementwise = False
    takes_complex = True

    # PyTorch's per-parameter state (`optimizer.state[p]`, `state_dict()["state"]`): the
    # slots' names (see `slot_names`), plus a "step" entry where torch keeps one.
    torch_step_count = True

    def slot_names(self, group: dict) -> tuple[str, ...] | str | None:
        """torch's names for a parameter's slots: one per entry of a tuple, or one for a
        single array; None for dict slots (their keys are the names) or generic names."""
        return None

    @property
    def state(self) -> ParameterStates:
        """`optimizer.state[param]` as in torch: `{"step": ..., "exp_avg": ...}` (writable)."""
        return ParameterStates(self)

    def fresh_slots(self) -> tuple:
        """Every parameter's slots as before the first step."""
        self.transform()
        return tuple(
            self._init_slots(jnp.asarray(p._materialized()), self._groups[lb]) if lb >= 0 else ()
            for p, lb in zip(self.params, self._labels, strict=True)
        )

    def _init_slots(self, param: jax.Array, group: dict) -> Any:
        return ()

    def _scalars(self, hp: dict, group: dict, step: jax.Array) -> dict[str, jax.Array]:
        return {}

    def _update(self, grad, param, slots, hp, group, step) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def build(self, named_params: list[tuple[str, Any]]) -> optax.GradientTransformation:
        labels = self.group_labels(named_params)
        groups = self._groups = self._mark_built()
        self._labels, self._rules, self._stacked_steps = tuple(labels), {}, {}

        def init(params):
            params = _as_list(params, len(labels))
            slots = tuple(
                self._init_slots(jnp.asarray(p), groups[lb]) if lb >= 0 else ()
                for p, lb in zip(params, labels, strict=True)
            )
            inner = RuleState(jnp.zeros([], jnp.int32), slots)
            return OptimizerState(self.hyperparams_state(), inner)

        step = self._rule_step = self._make_step(tuple(labels))

        def update(grads, state, params=None):
            if params is None:
                raise ValueError(f"{type(self).__name__} needs the current params")
            new_params, state = step(grads, state, params)
            # Returning new_p - p (exact by Sterbenz's lemma while p changes by less
            # than 2x) makes optax.apply_updates land on new_p bit for bit.
            updates = [
                n - p for n, p in zip(new_params, _as_list(params, len(labels)), strict=True)
            ]
            return _like(grads, updates), state

        return optax.GradientTransformation(init, update)

    def _rule_of(self, lb: int):
        """The update of one parameter of group `lb`, jitted so that JAX traces it once
        per shape and dtype (a 48-layer model repeats the same few hundred times)."""
        if lb not in self._rules:
            groups = self._groups

            def rule(g, p, s, hyper, count):
                if jnp.iscomplexobj(p):  # PyTorch updates it as its (real, imag) pairs
                    new_p, s2 = rule(_pairs(g), _pairs(p), jax.tree.map(_pairs, s), hyper, count)
                    return _unpairs(new_p, p), jax.tree.map(_unpairs, s2, s)
                # Everything scalar is derived here, inside the branch: XLA:CPU then
                # fuses it into the update's kernel instead of running one tiny kernel
                # per hyperparameter, and a guarded and an unguarded step compile to
                # the same arithmetic. `hyper`: the packed vector, or the groups' dicts.
                per_group = hyper if isinstance(hyper, tuple) else self.unpack_hyperparams(hyper)
                dt = _compute_dtype(p.dtype)
                group = {**groups[lb], "param_dtype": p.dtype}
                hp = {k: v.astype(dt) for k, v in per_group[lb].items()}
                step = optax.safe_int32_increment(count).astype(dt)
                hp.update(self._scalars(hp, group, step))
                cast = jax.tree.map(lambda x: x.astype(_compute_dtype(x.dtype)), s)
                new_p, s2 = self._update(g.astype(dt), p.astype(dt), cast, hp, group, step)
                return new_p.astype(p.dtype), jax.tree.map(lambda n, o: n.astype(o.dtype), s2, s)

            self._rules[lb] = jax.jit(rule)
        return self._rules[lb]

    def _stacked_rule_of(self, lb: int):
        """`_rule_of(lb)` for a stacked unit: each layer's update, vmapped over the stack."""
        if self.elementwise:
            return self._rule_of(lb)
        key = ("stacked", lb)
        if key not in self._rules:
            self._rules[key] = jax.jit(jax.vmap(self._rule_of(lb), in_axes=(0, 0, 0, None, None)))
        return self._rules[key]

    def _make_step(self, labels: tuple[int, ...], stacked: tuple[bool, ...] | None = None):
        """The update over units with these group labels: parameters, or (where `stacked`
        says so) stacks of them."""
        stacked = stacked or (False,) * len(labels)

        def step(grads, state, params, ok=None, hyper_vec=None):
            """(new params, new state); with `ok` (a traced bool) each unit's update
            runs under its own `lax.cond`, so a bad step keeps every array bit for bit.
            `hyper_vec`: the packed hyperparameters (`state.hyperparams` is then None)."""
            grads, params = _as_list(grads, len(labels)), _as_list(params, len(labels))
            if self._hyper_treedef is None:  # a state made elsewhere: hyperparameters inside
                hyper_vec = None
            hyper = tuple(state.hyperparams) if hyper_vec is None else hyper_vec
            new_params, new_slots = [], []
            units = zip(grads, params, state.inner.slots, labels, stacked, strict=True)
            for g, p, s, lb, is_stack in units:
                if lb < 0:
                    new_params.append(p)
                    new_slots.append(s)
                    continue
                rule = self._stacked_rule_of(lb) if is_stack else self._rule_of(lb)
                operands = (g, p, s, hyper, state.inner.count)
                if ok is None:
                    new_p, s2 = rule(*operands)
                else:
                    # One small conditional per parameter, not one around the whole update:
                    # XLA:CPU runs a branch of at most 8 kernels inline, while a big branch
                    # is farmed out to its thread pool and waited on (see guard.py).
                    new_p, s2 = jax.lax.cond(ok, rule, lambda g, p, s, *_: (p, s), *operands)
                new_params.append(new_p)
                new_slots.append(s2)
            count = optax.safe_int32_increment(state.inner.count)
            if ok is not None:
                count = jnp.where(ok, count, state.inner.count)
            inner = RuleState(count, tuple(new_slots))
            return new_params, OptimizerState(state.hyperparams, inner)

        return step

    def _apply_stacked(self, grads, opt_state, params, hyper_vec, ok, entries) -> tuple:
        self.transform()  # builds the per-group rules
        labels = tuple(self._labels[e[0]] for e in entries)
        stacked = tuple(len(e) > 1 for e in entries)
        step = self._stacked_steps.get((labels, stacked))
        if step is None:
            step = self._stacked_steps[(labels, stacked)] = self._make_step(labels, stacked)
        if ok is not None and len(entries) > PER_PARAMETER_GUARD_MAX:
            return jax.lax.cond(
                ok,
                lambda g, s, p, h: step(g, s, p, None, h),
                lambda g, s, p, h: (p, s),
                grads,
                opt_state,
                params,
                hyper_vec,
            )
        return step(grads, opt_state, params, ok, hyper_vec)

    def keep_state(self, new_state: Any, old_state: Any, keep: list[bool]) -> Any:
        if not any(keep):
            return new_state
        slots = zip(new_state.inner.slots, old_state.inner.slots, keep, strict=True)
        kept = tuple(old if k else new for new, old, k in slots)
        return new_state._replace(inner=new_state.inner._replace(slots=kept))

    def _stack_state(self, state: Any, entries: tuple) -> Any:
        slots = tuple(stack_entries(state.inner.slots, entries))
        return state._replace(inner=RuleState(state.inner.count, slots))

    def _unstack_state(self, state: Any, entries: tuple) -> Any:
        slots = tuple(unstack_entries(state.inner.slots, entries))
        return state._replace(inner=RuleState(state.inner.count, slots))

    def _apply(self, grads: list, opt_state: Any, params: list, hyper_vec, ok: Any) -> tuple:
        # Past PER_PARAMETER_GUARD_MAX parameters the base class's one conditional around
        # the whole update: each per-parameter one costs compile time (48-layer GPT: 29 ->
        # 37 s), while the nested executor's wait is then a negligible part of the step.
        if ok is None or len(params) > PER_PARAMETER_GUARD_MAX:
            return super()._apply(grads, opt_state, params, hyper_vec, ok)
        self.transform()  # builds `_rule_step`
        return self._rule_step(grads, opt_state, params, ok, hyper_vec)

    def _update_all(self, grads: list, opt_state: Any, params: list, hyper_vec) -> tuple:
        self.transform()  # builds `_rule_step`
        return self._rule_step(grads, opt_state, params, None, hyper_vec)
