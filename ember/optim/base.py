"""The `Optimizer` base: PyTorch-style param groups over an optax transform.

An ember optimizer is a description (param groups + hyperparameters) that the
compiler turns into one optax `GradientTransformation` running inside the fused
train step. Numeric hyperparameters live in the optimizer *state*, so changing
`group["lr"]` (by hand or from a scheduler) never recompiles the step.

The optimizer also owns its training state (moments, step count), like
`torch.optim`: `opt_state` is one optax state over `params` (the parameters of
its groups, in order), created on first use and read and written by every
runner (compiled steps, `optimizer.step()`), so the same optimizer continues
where it left off whichever way the model is trained.

Contract used by the training layer (`ember.training.steps`) and the schedulers:

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
(rebuild the optimizer instead). `RuleOptimizer` (`rule.py`) turns a per-parameter
update rule into the full transform, so each PyTorch family only writes its rule.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ember.errors import DTypeError
from ember.frontend.tensor import Tensor
from ember.optim.state_dict import (
    TORCH_ONLY_OPTIONS,
    load_optimizer_state_dict,
    optimizer_state_dict,
)


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


def _with_torch_options(sig: inspect.Signature) -> inspect.Signature:
    """`sig` plus PyTorch's implementation switches as keyword-only options, so a port's
    `"fused" in inspect.signature(optim.AdamW).parameters` check finds them."""
    params = list(sig.parameters.values())
    tail = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    head = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
        for name in TORCH_ONLY_OPTIONS
        if name not in sig.parameters
    ]
    return sig.replace(parameters=head + extra + tail)


class Optimizer:
    """Base class: PyTorch's param-group handling; subclasses define the update.

    Subclasses override `build`, or derive from `RuleOptimizer` and write the
    per-parameter rule. `static_keys` names numeric options that are baked into
    the compiled step rather than read from the state.

    PyTorch's implementation switches `foreach`, `fused`, `capturable` and
    `differentiable` are accepted by every optimizer and ignored: the update is
    always one fused XLA computation inside the step (`maximize` is honoured).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def accepting_torch_options(self, *args, **options):
            for name in TORCH_ONLY_OPTIONS:
                options.pop(name, None)
            init(self, *args, **options)

        accepting_torch_options.__signature__ = _with_torch_options(inspect.signature(init))
        cls.__init__ = accepting_torch_options

    static_keys: tuple[str, ...] = ()
    # Keys whose `1 - value` the state also holds (as "one_minus_<key>"), computed in
    # double precision as torch does: float32(1 - 0.999) is accurate, while
    # 1 - float32(0.999) is off by 1.3e-5 relative.
    complements: tuple[str, ...] = ()
    # True where several parameters stacked into one array (stacked storage, see
    # `state_for`) can be updated as one unit, exactly like each alone
    stackable = False
    # Whether complex parameters are updated (as (real, imag) pairs, see `rule.py`)
    takes_complex = False

    def __init__(self, params: Iterable | None, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.dirty = True
        self._tx: optax.GradientTransformation | None = None
        self._opt_state: Any = None
        self._state_entries: tuple | None = None  # the stored form of `_opt_state`
        self._hyper_treedef: Any = None
        self._hyper_size = 0
        self._hyper_vec: jax.Array | None = None
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
        group["params"] = [ps] if isinstance(ps, Tensor) else list(ps)  # any iterable, as torch
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr", "name"}
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown option(s) {sorted(unknown)} in a param "
                f"group; known options are {sorted(self.defaults)}"
            )
        complex_params = [p for p in group["params"] if str(getattr(p, "dtype", "")).endswith(
            ("complex64", "complex128")
        )]  # fmt: skip
        if complex_params and not self.takes_complex:
            raise DTypeError(
                f"{type(self).__name__}: complex parameters are not supported (one of shape "
                f"{tuple(complex_params[0].shape)}); fix: use SGD, Adam, AdamW, RMSprop or "
                "another PyTorch optimizer, which update them as (real, imag) pairs"
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

    def hyperparams_state(self, dtype: Any = jnp.float32) -> tuple:
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
            out.append({k: jnp.asarray(v, dtype) for k, v in hp.items()})
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

    # -- the optimizer's training state: one per optimizer, shared by every runner ------
    @property
    def params(self) -> list:
        """The parameters this optimizer updates, in param-group order."""
        return [p for g in self.param_groups for p in g["params"]]

    def bind_params(self, params: list) -> None:
        """Give an optimizer created without parameters (`optim.Adam(lr=1e-3)`) its list.

        The first model it is used with provides the list; using it for another
        set of parameters afterwards is an error (create one optimizer per model).
        """
        if not self._all_params:
            return
        group = self.param_groups[0]
        if not group["params"]:
            dict.__setitem__(group, "params", list(params))
            # anything built while unbound (a state_dict() call) covered zero parameters
            self._tx, self._opt_state, self._state_entries = None, None, None
            self._hyper_treedef, self._hyper_size, self._hyper_vec = None, 0, None
            self.dirty = True
        elif [id(p) for p in group["params"]] != [id(p) for p in params]:
            raise ValueError(
                f"this {type(self).__name__} was created without parameters and is already "
                "bound to another model's parameters; fix: create one optimizer per model, or "
                "pass the parameters explicitly: optim.X(net.parameters(), ...)"
            )

    def state_dict(self) -> dict:
        """`{"state": ..., "param_groups": ...}` as in PyTorch; `em.save` writes it.

        >>> sd = opt.state_dict()  # doctest: +SKIP
        >>> opt.load_state_dict(sd)  # doctest: +SKIP
        """
        return optimizer_state_dict(self)

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what `state_dict` gave (after `em.load` too): state and hyperparameters."""
        load_optimizer_state_dict(self, state_dict)

    # -- PyTorch's loop: optimizer.zero_grad(); loss.backward(); optimizer.step() -----------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of this optimizer's parameters (None, or zeros)."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = p.grad * 0

    def step(self, closure=None):
        """Apply the pending gradients: forward, backward and this update run as ONE
        compiled program (parameters and optimizer state donated), cached per structure.

        `closure` (re-evaluates the model and returns the loss) is called first, as in
        PyTorch; its loss is returned.
        """
        from ember.frontend.lazy import EXECUTOR, set_grad_enabled_flag

        if self._all_params and not self.param_groups[0]["params"]:
            raise ValueError(
                f"this {type(self).__name__} was created without parameters; fix: "
                f"{type(self).__name__}(net.parameters(), ...) for the loss.backward() loop "
                "(em.compile binds such an optimizer to the compiled module)"
            )
        loss = None
        if closure is not None:
            old = set_grad_enabled_flag(True)
            try:
                loss = closure()
            finally:
                set_grad_enabled_flag(old)
        EXECUTOR[0].optimizer_step(self)
        return loss

    def transform(self) -> optax.GradientTransformation:
        """The optax transform over `self.params` (built once)."""
        if self._tx is None:
            self._tx = self.build([(str(i), p) for i, p in enumerate(self.params)])
        return self._tx

    @property
    def opt_state(self) -> Any:
        """The optax state over `self.params` (moments, step count ...), created on first use.

        Its `hyperparams` entry is kept out of the state (None): the hyperparameters
        travel as one packed vector (`hyper_vector`), so changing a learning rate
        never retraces and nothing needs donating back.
        """
        if self._state_entries is not None:  # kept stacked by a compiled step: per parameter
            self._opt_state = self._unstack_state(self._opt_state, self._state_entries)
            self._state_entries = None
        if self._opt_state is None:
            values = [jnp.asarray(p._materialized()) for p in self.params]
            state = _distinct_leaves(self.transform().init(values))
            if hasattr(state, "hyperparams"):
                leaves, self._hyper_treedef = jax.tree_util.tree_flatten(state.hyperparams)
                self._hyper_size = len(leaves)
                state = state._replace(hyperparams=None)
            self._opt_state = state
        return self._opt_state

    @opt_state.setter
    def opt_state(self, state: Any) -> None:
        self._opt_state = state
        self._state_entries = None

    def state_for(self, entries: tuple | None) -> Any:
        """The state in stored form: `entries` are tuples of positions in `self.params`, one
        per update unit, a unit of several parameters updated as one stacked array (their
        slots stacked in that order); None: one unit per parameter (`opt_state`)."""
        if entries is None:
            return self.opt_state
        if self._state_entries is entries or self._state_entries == entries:
            return self._opt_state
        state = self.opt_state
        self._opt_state, self._state_entries = self._stack_state(state, entries), entries
        return self._opt_state

    def set_state(self, state: Any, entries: tuple | None) -> None:
        """Store a step's new state, given in `state_for(entries)`'s form."""
        self._opt_state, self._state_entries = state, entries

    def _stack_state(self, state: Any, entries: tuple) -> Any:
        raise NotImplementedError(f"{type(self).__name__} keeps its state per parameter")

    def _unstack_state(self, state: Any, entries: tuple) -> Any:
        raise NotImplementedError(f"{type(self).__name__} keeps its state per parameter")

    def hyper_vector(self) -> jax.Array:
        """The numeric hyperparameters as one float32 vector (float64 when every parameter
        is float64, as PyTorch applies `lr` as a Python float), repacked when one changed."""
        if not self.dirty and self._hyper_vec is not None:  # every step: nothing changed
            return self._hyper_vec
        self.opt_state  # noqa: B018  (creates the state and the packing on first use)
        wide = (
            jax.config.jax_enable_x64
            and bool(self.params)
            and all(p.dtype == "float64" for p in self.params)
        )
        dtype = jnp.float64 if wide else jnp.float32
        if self._hyper_treedef is None:
            self._hyper_vec = jnp.zeros((0,), dtype)
        else:
            leaves = jax.tree_util.tree_leaves(self.hyperparams_state(dtype))
            self._hyper_vec = jnp.asarray([float(v) for v in leaves], dtype)
        return self._hyper_vec

    def apply_gradients(
        self,
        grads: list,
        opt_state: Any,
        params: list,
        hyper_vec,
        ok: Any = None,
        entries: tuple | None = None,
    ) -> tuple:
        """Traceable update: `(new_params, new_opt_state)` for flat lists over `self.params`
        (or over its stored units, `entries`: see `state_for`).

        `ok` (a traced bool, the guard's verdict): when False, parameters and state come
        back unchanged, bit for bit.
        """
        if entries is not None:
            return self._apply_stacked(list(grads), opt_state, list(params), hyper_vec, ok, entries)
        return self._apply(list(grads), opt_state, list(params), hyper_vec, ok)

    def _apply_stacked(self, grads, opt_state, params, hyper_vec, ok, entries) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} updates per parameter")

    def keep_state(self, new_state: Any, old_state: Any, keep: list[bool]) -> Any:
        """`new_state` with the state of the units `keep` marks as it was in `old_state`
        (per update unit, as the state is stored: a parameter, or a stack of them with
        stacked storage): torch does not step a parameter without
        a gradient (`requires_grad=False`, or unused), so weight decay must not fill its
        momentum. An optax-native state is not per parameter: it is returned as it is."""
        return new_state

    def unpack_hyperparams(self, hyper_vec) -> tuple | None:
        """`OptimizerState.hyperparams` (per group: name -> scalar) from the packed vector."""
        if self._hyper_treedef is None:
            return None
        hyper = [hyper_vec[i] for i in range(self._hyper_size)]
        return jax.tree_util.tree_unflatten(self._hyper_treedef, hyper)

    def _apply(self, grads: list, opt_state: Any, params: list, hyper_vec, ok: Any) -> tuple:
        """The whole update, skipped as a whole under `lax.cond` when `ok` is False."""
        if ok is None:
            return self._update_all(grads, opt_state, params, hyper_vec)
        return jax.lax.cond(
            ok, self._update_all, lambda g, s, p, h: (p, s), grads, opt_state, params, hyper_vec
        )

    def _update_all(self, grads: list, opt_state: Any, params: list, hyper_vec) -> tuple:
        """One optax update of every parameter: `(new_params, new_opt_state)`."""
        state = opt_state
        if self._hyper_treedef is not None:
            state = state._replace(hyperparams=self.unpack_hyperparams(hyper_vec))
        updates, state = self.transform().update(grads, state, params)
        if self._hyper_treedef is not None:
            state = state._replace(hyperparams=None)
        return optax.apply_updates(params, updates), state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _like(original, items: list):
    return tuple(items) if isinstance(original, tuple) else items


def _as_list(tree, n: int) -> list:
    items = list(tree)
    if len(items) != n:
        raise ValueError(f"expected a flat list of {n} arrays, got {len(items)}")
    return items


def stack_entries(items: Sequence, entries: tuple) -> list:
    """Per-parameter pytrees -> one per entry (tuples of positions): an entry of several
    positions stacks their leaves on a new axis 0 (stacked storage, see `state_for`)."""
    return [
        items[e[0]]
        if len(e) == 1
        else jax.tree.map(lambda *xs: jnp.stack(xs), *(items[i] for i in e))
        for e in entries
    ]


def unstack_entries(values: Sequence, entries: tuple) -> list:
    """`stack_entries` undone: one pytree per parameter again."""
    out: list = [None] * sum(len(e) for e in entries)
    for e, value in zip(entries, values, strict=True):
        for k, i in enumerate(e):
            out[i] = value if len(e) == 1 else jax.tree.map(lambda x, k=k: x[k], value)
    return out


def _distinct_leaves(tree: Any) -> Any:
    """Copy leaves that alias another leaf: a donated state must not repeat a buffer."""
    seen: set[int] = set()

    def fresh(leaf):
        if id(leaf) in seen:
            return jnp.array(leaf, copy=True)
        seen.add(id(leaf))
        return leaf

    return jax.tree_util.tree_map(fresh, tree)
