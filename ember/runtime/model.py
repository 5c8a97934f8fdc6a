"""`em.compile(module, loss=..., optimizer=..., metrics=[...])` -> `CompiledModel`.

The compiled model owns the train state (params, buffers, optimizer state,
step, RNG key, metric sums). The module's parameters and buffers are bound to
the same `StateStore`, so `net.fc1.weight` and `net.state_dict()` always show
the trained values, and the step only swaps whole lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.compiler import (
    DEFAULT_PASSES,
    EVAL_PASSES,
    build_eval_step,
    build_predict_step,
    build_train_step,
    gradients,
    lower,
    run_passes,
)
from ember.compiler.metrics import resolve_metrics
from ember.compiler.steps import HyperparamPacking, empty_sums, read_sums
from ember.graphdef import Module, ShapeError, StateStore, TensorType, TraceError
from ember.graphdef.module import BoundBuffer
from ember.graphdef.parameter import STRUCTURE_VERSION, initial_seed
from ember.graphdef.trace import flatten_outputs, spec_of, trace_function

from .eager import _canonical_input
from .loop import LoopMixin
from .stats import note_compile


def _to_device(x):
    return jnp.asarray(x)


def _distinct_buffers(tree):
    """Copy leaves that alias another leaf: a donated state must not repeat a buffer."""
    seen = set()

    def fresh(leaf):
        if id(leaf) in seen:
            return jnp.array(leaf, copy=True)
        seen.add(id(leaf))
        return leaf

    return jax.tree_util.tree_map(fresh, tree)


class CompiledModel(LoopMixin):
    """A Module with a loss, optimizer and metrics, compiled to fused XLA steps.

    >>> model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.01))
    >>> logs = model.train_step(x, y)        # {'loss': Array, ...}; float(logs['loss'])
    >>> history = model.fit(x, y, batch_size=64, epochs=3)
    """

    def __init__(
        self,
        module: Module,
        loss=None,
        optimizer=None,
        metrics=None,
        *,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        accumulate_steps: int = 1,
        grad_transform: Callable | None = None,
        seed: int | None = None,
    ):
        if not isinstance(module, Module):
            raise TypeError(f"em.compile expects an ember nn.Module, got {type(module).__name__}")
        self.module = module
        self.loss = loss
        self.optimizer = optimizer
        self.metric_fns = resolve_metrics(metrics)
        if accumulate_steps < 1:
            raise ValueError(f"accumulate_steps must be >= 1, got {accumulate_steps}")
        self.accumulate_steps = int(accumulate_steps)
        # PyTorch order: clip values first, then the global norm, then any user transform
        self.grad_transform = gradients.chain(
            gradients.clip_grad_value(clip_grad_value) if clip_grad_value is not None else None,
            gradients.clip_grad_norm(clip_grad_norm) if clip_grad_norm is not None else None,
            grad_transform,
        )
        self._steps: dict[tuple, Any] = {}
        self._fast_train: dict[tuple, Any] = {}
        self._fast_version = STRUCTURE_VERSION[0]
        self._last_types: dict[str, tuple] = {}
        self.compile_log: list[str] = []
        self._bind_state(seed)

    # -- state ----------------------------------------------------------------------
    def _state_modules(self) -> list[tuple[str, Module]]:
        mods = [("", self.module)]
        if isinstance(self.loss, Module):
            mods.append(("loss", self.loss))
        return mods

    def _bind_state(self, seed: int | None) -> None:
        self._named_params = []
        self._buffer_slots = []
        for prefix, mod in self._state_modules():
            self._named_params += list(mod.named_parameters(prefix=prefix))
            for path, m in mod.named_modules(prefix=prefix):
                for b, value in m._buffers.items():
                    if value is not None:
                        self._buffer_slots.append((f"{path}.{b}" if path else b, m, b))
        params = [_to_device(np.asarray(p.data)) for _, p in self._named_params]
        buffers = []
        for _, m, b in self._buffer_slots:
            value = m._buffers[b]
            buffers.append(
                _to_device(np.asarray(value.get() if isinstance(value, BoundBuffer) else value))
            )
        self.store = StateStore(params, buffers, convert=_to_device)
        for i, (_, p) in enumerate(self._named_params):
            p.bind(self.store, i)
        for i, (_, m, b) in enumerate(self._buffer_slots):
            m._buffers[b] = BoundBuffer(self.store, i)
        self.tx = None
        self.hyper = None
        self.hyper_vec = jnp.zeros((0,), jnp.float32)
        opt_state = None
        if self.optimizer is not None:
            self.tx = self.optimizer.build(self._named_params)
            opt_state = _distinct_buffers(self.tx.init(self.store.params))
            if hasattr(opt_state, "hyperparams"):  # packed into one vector, read by the step
                self.hyper = HyperparamPacking(opt_state.hyperparams)
                opt_state = opt_state._replace(hyperparams=None)
                self.optimizer.dirty = True
        self.rng = jax.random.key_data(jax.random.PRNGKey(initial_seed() if seed is None else seed))
        self._state = {
            "opt_state": opt_state,
            "step": jnp.zeros((), jnp.int32),
            "sums": empty_sums(self.metric_fns),
        }
        if self.accumulate_steps > 1:
            self._state["grad_acc"] = [jnp.zeros_like(p) for p in self.store.params]

    def _full_state(self) -> dict:
        if self.hyper is not None and self.optimizer.dirty:
            self.hyper_vec = self.hyper.pack(self.optimizer.hyperparams_state())
        return {"params": self.store.params, "buffers": self.store.buffers, **self._state}

    def _absorb(self, state: dict) -> None:
        self.store.params = state["params"]
        self.store.buffers = state["buffers"]
        del state["params"], state["buffers"]
        self._state = state

    @property
    def step(self) -> int:
        return int(self._state["step"])

    def reset_metrics(self) -> None:
        self._state["sums"] = empty_sums(self.metric_fns)

    def metric_results(self) -> dict[str, float]:
        """Epoch means accumulated since the last reset (one host sync)."""
        return read_sums(self._state["sums"], list(self.metric_fns))

    # -- tracing and compiling --------------------------------------------------------
    def _explain(self, kind: str, types: tuple) -> str:
        old = self._last_types.get(kind)
        self._last_types[kind] = types
        if old is None:
            return "first call"
        changes = [
            f"input {i} changed from {a} to {b}"
            for i, (a, b) in enumerate(zip(old, types, strict=False))
            if a != b
        ]
        return "; ".join(changes) or "new input structure"

    def _trace(self, kind: str, types: tuple, training: bool):
        loss = self.loss
        if kind != "predict" and loss is None:
            raise TraceError(
                "this model was compiled without a loss; fix: em.compile(net, loss=...)"
            )
        # remember every submodule's flag: a user may keep some in eval (e.g. frozen BatchNorm)
        flags = [(m, m.training) for m in self.module.modules()]
        if not training or not self.module.training:
            self.module.train(training)
        try:

            def with_loss(x, y):
                out = self.module(x)
                leaves, _ = flatten_outputs(out)
                value = loss(leaves[0], y)
                if tuple(value.shape) != ():
                    raise ShapeError(
                        f"the loss must return a scalar, got shape {tuple(value.shape)}; "
                        "fix: use reduction='mean' or 'sum'"
                    )
                return (value, *leaves)

            fn, names = (with_loss, ["x", "y"]) if kind != "predict" else (self.module, None)
            if names is None:
                from ember.graphdef.trace import input_names

                names = input_names(self.module.forward, len(types))
            graph, struct = trace_function(
                fn,
                types,
                modules=self._state_modules(),
                names=names,
                graph_name=f"{type(self.module).__name__}.{kind}",
            )
        finally:
            for m, flag in flags:
                object.__setattr__(m, "training", flag)
        graph = run_passes(graph, DEFAULT_PASSES if kind == "train" else EVAL_PASSES)
        return graph, struct

    def _signature(self) -> tuple:
        """What a step bakes in besides input types: train/eval flags and frozen params."""
        return (
            tuple(m.training for m in self.module.modules()),
            tuple(p.requires_grad for _, p in self._named_params),
        )

    def _compiled(self, kind: str, types: tuple):
        key = (kind, types, self._signature())
        entry = self._steps.get(key)
        if entry is None:
            graph, struct = self._trace(kind, types, training=(kind == "train"))
            lowered = lower(graph)
            expected = tuple(n for n, _ in self._named_params)
            if lowered.param_names != expected:
                raise TraceError(f"internal: traced parameters {lowered.param_names} != {expected}")
            if kind == "train":
                if self.tx is None:
                    raise TraceError(
                        "this model was compiled without an optimizer; fix: "
                        "em.compile(net, loss=..., optimizer=optim.SGD(lr=0.01))"
                    )
                frozen = tuple(not p.requires_grad for _, p in self._named_params)
                step = build_train_step(
                    lowered,
                    self.tx,
                    self.metric_fns,
                    self.grad_transform,
                    self.accumulate_steps,
                    frozen,
                    self.hyper,
                )
            elif kind == "eval":
                step = build_eval_step(lowered, self.metric_fns)
            else:
                step = build_predict_step(lowered)
            entry = (step, lowered, struct, graph)
            self._steps[key] = entry
            reason = self._explain(kind, types)
            note_compile(f"{kind}_step", types, reason)
            self.compile_log.append(f"{kind}_step for {', '.join(map(str, types))}: {reason}")
        return entry

    def graph(self, kind: str = "train", *example) -> Any:
        """The optimized IR of a step kind for example inputs (arrays or specs)."""
        types = tuple(
            spec_of(e if isinstance(e, TensorType) else _canonical_input(e)) for e in example
        )
        return self._compiled(kind, types)[3]

    @property
    def compile_count(self) -> int:
        return len(self._steps)

    # -- steps --------------------------------------------------------------------------
    def train_step(self, x, y) -> dict:
        """One fused forward+backward+update step; returns device scalars ('loss', metrics).

        The per-step path is a dict lookup on the raw input shapes/dtypes (re-validated
        only when a train/eval flag or requires_grad changed), the jitted call and two
        list swaps: it does not grow with the model.
        """
        if not hasattr(x, "shape"):
            x = np.asarray(x)
        if not hasattr(y, "shape"):
            y = np.asarray(y)
        if self._fast_version != STRUCTURE_VERSION[0]:
            self._fast_train.clear()
            self._fast_version = STRUCTURE_VERSION[0]
        key = (x.shape, x.dtype, y.shape, y.dtype)
        fast = self._fast_train.get(key)
        if fast is None:
            cx, cy = _canonical_input(x), _canonical_input(y)
            step = self._compiled("train", (spec_of(cx), spec_of(cy)))[0]
            fast = self._fast_train[key] = (step, cx.dtype != x.dtype or cy.dtype != y.dtype)
        step, cast = fast
        if cast:
            x, y = _canonical_input(x), _canonical_input(y)
        state, logs = step(self._full_state(), self.hyper_vec, self.rng, x, y)
        self._absorb(state)
        return logs

    def eval_step(self, x, y) -> dict:
        x, y = _canonical_input(x), _canonical_input(y)
        step, _, _, _ = self._compiled("eval", (spec_of(x), spec_of(y)))
        sums, logs = step(self.store.params, self.store.buffers, self._state["sums"], x, y)
        self._state["sums"] = sums
        return logs

    def predict_step(self, x):
        x = _canonical_input(x)
        step, _, struct, _ = self._compiled("predict", (spec_of(x),))
        outputs, _ = step(self.store.params, self.store.buffers, [x], None)
        return outputs, struct

    # -- state dicts ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Model state (torch names) plus optimizer state and step, as numpy arrays."""
        opt_leaves = jax.tree_util.tree_leaves(self._state["opt_state"])
        groups = []
        if self.optimizer is not None:
            for g in self.optimizer.param_groups:
                groups.append({k: v for k, v in g.items() if k != "params"})
        return {
            "model": self.module.state_dict(),
            "optimizer": {str(i): np.asarray(v) for i, v in enumerate(opt_leaves)},
            "param_groups": groups,
            "step": int(self._state["step"]),
        }

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        treedef = jax.tree_util.tree_structure(self._state["opt_state"])
        leaves = jax.tree_util.tree_leaves(self._state["opt_state"])
        saved = state["optimizer"]
        if len(saved) != len(leaves):
            raise ShapeError(
                f"optimizer state has {len(saved)} arrays, this optimizer needs {len(leaves)}"
            )
        new = [jnp.asarray(saved[str(i)], dtype=leaf.dtype) for i, leaf in enumerate(leaves)]
        self._state["opt_state"] = jax.tree_util.tree_unflatten(treedef, new)
        self._state["step"] = jnp.asarray(state["step"], jnp.int32)
        for group, saved_group in zip(
            self.optimizer.param_groups if self.optimizer else [],
            state.get("param_groups", []),
            strict=False,
        ):
            for k, v in saved_group.items():
                group[k] = tuple(v) if isinstance(v, list) else v


def compile(module: Module, loss=None, optimizer=None, metrics=None, **options) -> CompiledModel:  # noqa: A001
    """Compile `module` with a loss, optimizer and metrics into fused XLA steps.

    >>> model = em.compile(net, loss=nn.CrossEntropyLoss(),
    ...                    optimizer=optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
    ...                    metrics=["accuracy"])
    """
    return CompiledModel(module, loss, optimizer, metrics, **options)
