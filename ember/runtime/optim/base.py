"""The `Optimizer` base: PyTorch-style param groups over an optax transform.

An ember optimizer is a description (param groups + hyperparameters) that the
compiler turns into one optax `GradientTransformation` running inside the fused
train step. Numeric hyperparameters live in the optimizer *state*, so changing
`group["lr"]` (by hand or from a scheduler) never recompiles the step.

Contract used by the compiler (`ember.compiler.steps`) and the schedulers:

- `param_groups`: list of `ParamGroup` dicts, each with `"params"` (list of
  parameter objects, matched by identity) and its hyperparameters.
- `build(named_params)` -> `optax.GradientTransformation` over *flat lists* of
  arrays in the order of `named_params` ([(name, param_object), ...]).
  Its state is `OptimizerState(hyperparams, inner)`; `hyperparams[g][key]` is
  a float32 scalar the update reads. Refresh it only with `hyperparams_state()`:
  that also fills derived entries (`one_minus_<key>`, see `complements`).
- `hyperparams()` -> per-group dict of the numeric hyperparameters now set;
  `dirty` is True when one changed since the runtime last read them.

Non-numeric options (booleans such as `nesterov`, `None` entries) and the
numeric options a subclass lists in `static_keys` shape the compiled step; they
are fixed by `build`, and `hyperparams_state()` raises if one changed since
(rebuild the optimizer instead). `RuleOptimizer` turns a per-parameter update
rule into the full transform, so each PyTorch family only writes its rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class OptimizerState(NamedTuple):
    hyperparams: tuple  # per group: dict[str, f32 scalar]
    inner: Any


class ParamGroup(dict):
    """A dict that tells its optimizer when a hyperparameter changes."""

    def __init__(self, owner: Optimizer, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._owner = owner

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if key != "params":
            self._owner.dirty = True


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NOT_HYPERPARAMS = ("params", "initial_lr", "name")


def _signature(value):
    """What of an option the compiled step depends on: numbers are traced."""
    if _is_number(value):
        return "<number>"
    if isinstance(value, (tuple, list)):
        return tuple(_signature(v) for v in value)
    return value


class Optimizer:
    """Base class: PyTorch's param-group handling; subclasses define the update.

    Subclasses override `build`, or derive from `RuleOptimizer` and write the
    per-parameter rule. `static_keys` names numeric options that are baked into
    the compiled step rather than read from the state.
    """

    static_keys: tuple[str, ...] = ()
    # Keys whose `1 - value` the state also holds (as "one_minus_<key>"), computed in
    # double precision as torch does: float32(1 - 0.999) is accurate, while
    # 1 - float32(0.999) is off by 1.3e-5 relative.
    complements: tuple[str, ...] = ()

    def __init__(self, params: Iterable | None, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.dirty = True
        self.param_groups: list[ParamGroup] = []
        self._all_params = params is None
        if params is None:
            self.add_param_group({"params": []})
            return
        params = list(params)
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        ps = group.get("params", [])
        group["params"] = [ps] if not isinstance(ps, (list, tuple, set)) else list(ps)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr", "name"}
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown option(s) {sorted(unknown)} in a param "
                f"group; known options are {sorted(self.defaults)}"
            )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(ParamGroup(self, group))
        self.dirty = True

    # -- what the compiler uses -------------------------------------------------
    def hyperparams(self) -> tuple[dict[str, float], ...]:
        """The numeric hyperparameters of each group, as the step reads them."""
        self.dirty = False
        out = []
        for g in self.param_groups:
            hp = {}
            for k, v in g.items():
                if k in _NOT_HYPERPARAMS or k in self.static_keys:
                    continue
                if _is_number(v):
                    hp[k] = float(v)
                elif isinstance(v, tuple):
                    # `None` entries (Adafactor's eps=(None, 1e-3)) are static options.
                    for i, x in enumerate(v):
                        if _is_number(x):
                            hp[f"{k}{i}"] = float(x)
            out.append(hp)
        return tuple(out)

    def group_labels(self, named_params: list[tuple[str, Any]]) -> list[int]:
        """Group index per parameter; -1 for parameters no group lists (frozen)."""
        if self._all_params:
            return [0] * len(named_params)
        index = {id(p): gi for gi, g in enumerate(self.param_groups) for p in g["params"]}
        return [index.get(id(obj), -1) for _, obj in named_params]

    def hyperparams_state(self) -> tuple:
        """`hyperparams()` as float32 scalars: what `OptimizerState.hyperparams` holds."""
        built = getattr(self, "_built_signature", None)
        if built is not None and len(built) != len(self.param_groups):
            raise ValueError(
                f"{type(self).__name__}: param groups were added after the step was built; "
                "rebuild the optimizer."
            )
        if built is not None and built != self.static_signature():
            raise ValueError(
                f"{type(self).__name__}: a static option (a boolean, a None, or one of "
                f"{list(self.static_keys)}) changed after the step was built; only numeric "
                "hyperparameters can change during training. Rebuild the optimizer."
            )
        out = []
        for hp in self.hyperparams():
            for k in self.complements:
                if k in hp:
                    hp[f"one_minus_{k}"] = 1.0 - hp[k]
            out.append({k: jnp.asarray(v, jnp.float32) for k, v in hp.items()})
        return tuple(out)

    def static_signature(self) -> list[dict[str, Any]]:
        """Per group, everything the compiled step bakes in (see `static_keys`)."""
        out = []
        for g in self.param_groups:
            sig = {}
            for k, v in g.items():
                if k not in _NOT_HYPERPARAMS:
                    sig[k] = v if k in self.static_keys else _signature(v)
            sig.update(self._structure(g))
            out.append(sig)
        return out

    def _structure(self, group: dict) -> dict[str, Any]:
        """Extra build-time decisions a subclass derives from numbers (e.g. buffers)."""
        return {}

    def _mark_built(self) -> list[dict]:
        """Snapshot the groups a `build` compiles against."""
        self._built_signature = self.static_signature()
        return [dict(g) for g in self.param_groups]

    def build(self, named_params: list[tuple[str, Any]]) -> optax.GradientTransformation:
        raise NotImplementedError(f"{type(self).__name__} does not define build()")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


# -- per-parameter rules -------------------------------------------------------


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

    def _init_slots(self, param: jax.Array, group: dict) -> Any:
        return ()

    def _scalars(self, hp: dict, group: dict, step: jax.Array) -> dict[str, jax.Array]:
        return {}

    def _update(self, grad, param, slots, hp, group, step) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def build(self, named_params: list[tuple[str, Any]]) -> optax.GradientTransformation:
        labels = self.group_labels(named_params)
        groups = self._mark_built()

        def init(params):
            params = _as_list(params, len(labels))
            slots = tuple(
                self._init_slots(jnp.asarray(p), groups[lb]) if lb >= 0 else ()
                for p, lb in zip(params, labels, strict=True)
            )
            inner = RuleState(jnp.zeros([], jnp.int32), slots)
            return OptimizerState(self.hyperparams_state(), inner)

        def update(grads, state, params=None):
            if params is None:
                raise ValueError(f"{type(self).__name__} needs the current params")
            grads_in = grads
            grads, params = _as_list(grads, len(labels)), _as_list(params, len(labels))
            count = optax.safe_int32_increment(state.inner.count)
            per_group: dict[tuple, tuple[dict, dict, jax.Array]] = {}
            updates, new_slots = [], []
            for g, p, s, lb in zip(grads, params, state.inner.slots, labels, strict=True):
                if lb < 0:
                    updates.append(jnp.zeros_like(p))
                    new_slots.append(s)
                    continue
                dt = _compute_dtype(p.dtype)
                if (lb, p.dtype) not in per_group:
                    group = {**groups[lb], "param_dtype": p.dtype}
                    hp = {k: v.astype(dt) for k, v in state.hyperparams[lb].items()}
                    step = count.astype(dt)
                    hp.update(self._scalars(hp, group, step))
                    per_group[lb, p.dtype] = (hp, group, step)
                hp, group, step = per_group[lb, p.dtype]
                cast = jax.tree.map(lambda x: x.astype(_compute_dtype(x.dtype)), s)
                new_p, s2 = self._update(g.astype(dt), p.astype(dt), cast, hp, group, step)
                # Returning new_p - p (exact by Sterbenz's lemma while p changes by less
                # than 2x) makes optax.apply_updates land on new_p bit for bit.
                updates.append(new_p.astype(p.dtype) - p)
                new_slots.append(jax.tree.map(lambda n, o: n.astype(o.dtype), s2, s))
            inner = RuleState(count, tuple(new_slots))
            return _like(grads_in, updates), OptimizerState(state.hyperparams, inner)

        return optax.GradientTransformation(init, update)


def _like(original, items: list):
    return tuple(items) if isinstance(original, tuple) else items


def _as_list(tree, n: int) -> list:
    items = list(tree)
    if len(items) != n:
        raise ValueError(f"expected a flat list of {n} arrays, got {len(items)}")
    return items
