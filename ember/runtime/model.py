"""`em.compile(module, loss=..., optimizer=..., metrics=[...])` -> `CompiledModel`.

A compiled model owns no parameters: it reads and writes the module's own
state through a `StateView` (so `net.fc1.weight` and `net.state_dict()` always
show the trained values, and two compiled models over shared modules see each
other's updates) and each optimizer's own state. It keeps what belongs to the
training run: the step counter, the RNG key, the metric sums and a carry.
What is trained is an `Objective` (a loss on `(x, y)` batches, a forward that
returns its loss, or the module's `training_step`); see `ember.training.objective`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ember.compiler.passes.rematerialize import rematerialize
from ember.compiler.passes.scan_repeated_blocks import scan_repeated_blocks
from ember.errors import TraceError
from ember.frontend.host_arrays import staged, staged_stack
from ember.frontend.lazy import sync
from ember.nn.module import Module
from ember.nn.parameter import STATE_VERSION, initial_seed, next_stream
from ember.runtime.donation import keep_lent
from ember.training import gradients
from ember.training.guard import empty_record
from ember.training.metrics import resolve_metrics
from ember.training.objective import Objective
from ember.training.stacked_storage import StorageLayout
from ember.training.steps import (
    OptimizerPlan,
    StepPlan,
    SumsLayout,
    build_eval_step,
    build_predict_step,
    build_train_step,
    empty_sums,
    read_sums,
)

from .batch_names import as_host_if_list, step_input_names
from .call_keys import fast_key as _fast_key
from .call_keys import fast_leaves as _fast_leaves
from .call_keys import pair_key as _pair_key
from .call_keys import shapes as _shapes
from .checkpoint_state import CheckpointMixin
from .guarded import GuardMixin
from .loop import LoopMixin
from .memory import MemoryMixin
from .optimizer_names import named_optimizers
from .program import (
    CallSignature,
    ProgramCache,
    build_program,
    canonical_array,
    describe_context,
    describe_inputs,
    is_array,
)
from .sharded import ShardingMixin, make_plan
from .stacked import StackedStorageMixin
from .state import StateView


class CompiledModel(
    LoopMixin, CheckpointMixin, ShardingMixin, GuardMixin, MemoryMixin, StackedStorageMixin
):
    """A Module with a loss, optimizer(s) and metrics, compiled to fused XLA steps.

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
        output: Any = None,
        loss_weights: Mapping[str, float] | None = None,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        accumulate_steps: int = 1,
        grad_transform: Callable | None = None,
        steps_per_execution: int = 1,
        precision: str = "fp32",
        guard: str = "raise",
        check_numerics: bool | None = None,
        seed: int | None = None,
        mesh: Any = None,
        sharding: Any = None,
        scan_layers: bool = False,
        remat: Mapping[str, str] | None = None,
    ):
        if not isinstance(module, Module):
            raise TypeError(f"em.compile expects an ember nn.Module, got {type(module).__name__}")
        self.module = module
        self.loss = loss
        self.optimizers = named_optimizers(optimizer)
        self.optimizer = optimizer if not isinstance(optimizer, Mapping) else None
        self.metric_fns = resolve_metrics(metrics)
        if accumulate_steps < 1:
            raise ValueError(f"accumulate_steps must be >= 1, got {accumulate_steps}")
        self.accumulate_steps = int(accumulate_steps)
        if steps_per_execution < 1:
            raise ValueError(f"steps_per_execution must be >= 1, got {steps_per_execution}")
        self.steps_per_execution = int(steps_per_execution)
        self.extra_passes = _precision_passes(precision)
        self.scan_layers = bool(scan_layers)
        self.storage: StorageLayout | None = None  # stacked storage of scanned layers
        self._opt_entries: tuple = ()  # per optimizer: its units (`Optimizer.state_for`)
        self.structural_passes = (
            *((scan_repeated_blocks,) if scan_layers else ()),
            *((rematerialize(remat),) if remat else ()),
        )
        self.precision = precision
        if guard not in ("raise", "skip", "off"):
            raise ValueError(f"guard must be 'raise', 'skip' or 'off', got {guard!r}")
        self.guard = guard
        if check_numerics is None:
            check_numerics = os.environ.get("EMBER_CHECK_NUMERICS", "0") not in ("", "0")
        self.check_numerics = bool(check_numerics)
        if self.check_numerics and guard == "off":
            self.guard = "raise"  # the locator needs the parameters from before the bad step
        # PyTorch order: clip values first, then the global norm, then any user transform
        self.grad_transform = gradients.chain(
            gradients.clip_grad_value(clip_grad_value) if clip_grad_value is not None else None,
            gradients.clip_grad_norm(clip_grad_norm) if clip_grad_norm is not None else None,
            grad_transform,
        )
        self.objective = Objective(
            module,
            loss,
            output=output,
            loss_weights=loss_weights,
            optimizer_names=tuple(self.optimizers) if len(self.optimizers) > 1 else ("loss",),
        )
        roots = [("", module)]
        if isinstance(loss, Module):
            roots.append(("loss", loss))
        self.plan = make_plan(roots, mesh, sharding)  # None: one device
        self.view = StateView(roots, placement=self.plan)
        for opt in self.optimizers.values():
            opt.bind_params(self.view.params)
        self.programs = ProgramCache(type(module).__name__)
        self._fast: dict[tuple, tuple] = {}
        self._version = STATE_VERSION[0]
        self.layout: SumsLayout | None = None
        if seed is None:  # each model its own stream of the seed: two models draw differently
            base = jax.random.fold_in(jax.random.PRNGKey(initial_seed()), next_stream()[1])
        else:
            base = jax.random.PRNGKey(seed)
        self.rng = jax.random.key_data(base)
        self.eval_rng = jax.random.key_data(jax.random.fold_in(base, 0x65766C))  # "evl"
        self._eval_calls = 0
        self.run: dict[str, Any] = {
            "step": jnp.zeros((), jnp.int32),
            "sums": None,
            "carry": None,
            "guard": empty_record(),
        }
        self.eval_carry = None
        # the guard's verdicts (see `poll_guard`): the newest dispatched step's, and one
        # put aside at the last poll to be read at the next
        self._newest: jax.Array | None = None
        self._watched: jax.Array | None = None
        self._waited = False
        self._polls = 0
        self._guard_epoch: tuple[int, int] | None = None  # set by fit: (first step, epoch)

    # -- the module's own interface (as a `torch.compile`d module forwards it) ----------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """`model(x)`: the module's own call (lazy tensors with autograd, the literal
        loop), so a port's `model = torch.compile(model)` line reads `em.compile(model)`."""
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Public attributes that the module has and a compiled model does not
        (`model.parameters()`, `model.eval()`, the model's own methods)."""
        module = self.__dict__.get("module")
        if module is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(module, name)

    # -- run state ----------------------------------------------------------------------
    @property
    def step(self) -> int:
        return int(self.run["step"])

    def reset_metrics(self) -> None:
        if self.layout is not None:
            self.run["sums"] = empty_sums(self.layout)

    def reset_carry(self) -> None:
        """Forget the carried state (a recurrent model's hidden state) between sequences."""
        self.run["carry"] = None
        self.eval_carry = None

    def metric_results(self) -> dict[str, float]:
        """Epoch means accumulated since the last reset (one host sync)."""
        if self.layout is None or self.run["sums"] is None:
            return {}
        return read_sums(self.run["sums"], self.layout)

    @property
    def compile_log(self) -> list[str]:
        return self.programs.log

    @property
    def compile_count(self) -> int:
        return len(self.programs)

    @property
    def state(self) -> dict:
        """The train state as JAX arrays: parameters and buffers (by state-dict name),
        each optimizer's state, and the run state (step, metric sums, carry)."""
        self.view.refresh()
        params, buffers = self.view.read()
        return {
            "params": dict(zip(self.view.param_names, params, strict=True)),
            "buffers": dict(zip(self.view.buffer_names, buffers, strict=True)),
            "opt_state": {name: opt.opt_state for name, opt in self.optimizers.items()},
            "run": dict(self.run),
        }

    # -- tracing --------------------------------------------------------------------------
    def _traced(self, kind: str) -> Callable:
        objective = self.objective
        if kind == "predict":
            return objective.predict
        fn = objective.train if kind == "train" else objective.evaluate
        return lambda tree: fn(*tree)

    def _program(self, kind: str, signature: CallSignature):
        """The step of a kind for a call signature, traced and assembled once."""
        self._follow_tree()
        self.view.refresh()
        key = (kind, signature, self.view.signature, self.view.identity, self.storage)
        entry = self.programs.get(key)
        if entry is not None:
            return entry
        names = step_input_names(self.module, signature, kind, self.objective.batch_has_targets)
        program = build_program(
            self._traced(kind),
            signature,
            self.view.roots,
            training=kind == "train",
            names=names,
            graph_name=f"{type(self.module).__name__}.{kind}",
            extra_passes=(*self.extra_passes, *self._sharding_passes()),
            structural_passes=self.structural_passes,
            mesh=self.mesh,
        )
        if kind == "train":
            self._choose_storage(program)
            key = (kind, signature, self.view.signature, self.view.identity, self.storage)
        step = self._assemble(kind, program)
        if kind == "train":
            self._place_optimizers()
        return self.programs.add(
            key,
            (step, program),
            kind,
            describe_inputs(signature, names),
            describe_context(signature, self.view),
        )

    def _plan(self, program, updates: bool = True) -> StepPlan:
        """What a step does besides the program: metric sums, and with `updates` each
        optimizer's parameters and state (an eval step needs none, so it runs whatever
        the optimizers hold)."""
        result_tree = program.out_tree
        keys = dict(zip(result_tree[1], result_tree[2], strict=True))
        loss_names = keys["losses"][1]
        log_names = keys["logs"][1] or ()
        names = (*loss_names, *self.metric_fns, *log_names)
        if self.layout is None:
            self.layout = SumsLayout(names, self.metric_fns)
            self.run["sums"] = empty_sums(self.layout)
        elif self.layout.names != names:
            raise TraceError(
                f"this step logs {list(names)} but earlier steps logged "
                f"{list(self.layout.names)}; fix: return the same dict keys from every step"
            )
        position = {id(p): i for i, p in enumerate(self.view.params)}
        stored = self.storage.stored_position() if self.storage is not None else None
        plans = []
        optimizers = self.optimizers.values() if updates else ()
        for n, (loss_name, opt) in enumerate(zip(loss_names, optimizers, strict=False)):
            missing = [k for k, p in enumerate(opt.params) if id(p) not in position]
            if missing:
                shapes = [tuple(opt.params[k].shape) for k in missing]
                raise TraceError(
                    f"an optimizer was given {len(missing)} parameter(s) that are not in the "
                    f"compiled module {type(self.module).__name__} (shapes {shapes}); fix: pass "
                    "parameters of this module (net.parameters()), or compile a module that "
                    "contains them all"
                )
            entries = self._opt_entries[n] if stored is not None else None
            if entries is not None:  # one entry per unit: a stack or one parameter
                firsts = [opt.params[e[0]] for e in entries]
                index = tuple(stored[position[id(p)]] for p in firsts)
                frozen = tuple(not p.requires_grad for p in firsts)
            else:
                index = tuple(position[id(p)] for p in opt.params)
                index = index if stored is None else tuple(stored[i] for i in index)
                frozen = tuple(not p.requires_grad for p in opt.params)
            plans.append(OptimizerPlan(opt, loss_name, index, frozen, entries))
        return StepPlan(
            tuple(plans),
            self.layout,
            self.grad_transform,
            self.accumulate_steps,
            self.guard,
            self._state_layout(),
            self.storage,
        )

    def _assemble(self, kind: str, program) -> Callable:
        if kind == "predict":
            return build_predict_step(program, self.storage)
        if kind == "eval":
            return build_eval_step(program, self._plan(program, updates=False))
        plan = self._plan(program)
        if not self.optimizers:
            raise TraceError(
                "this model was compiled without an optimizer; fix: "
                "em.compile(net, loss=..., optimizer=optim.SGD(net.parameters(), lr=0.01))"
            )
        if self.accumulate_steps > 1 and "grad_acc" not in self.run:
            stored = self.view.read_stored()[0]
            self.run["grad_acc"] = [
                [jnp.zeros_like(stored[i]) for i in op.opt_index] for op in plan.optimizers
            ]
        return build_train_step(program, plan)

    def graph(self, kind: str = "train", *example) -> Any:
        """The optimized IR of a step kind for example inputs (arrays or specs)."""
        tree = self._tree(kind, *example) if kind != "predict" else self._predict_tree(*example)
        return self._program(kind, CallSignature.of(tree)[0])[1].graph

    # -- steps ----------------------------------------------------------------------------
    def _tree(self, kind: str, x: Any, y: Any = None, sample_weight: Any = None) -> tuple:
        """The traced function's input: (batch, carry, sample_weight)."""
        if self.objective.batch_has_targets:
            if y is None:
                raise TraceError(
                    f"this model was compiled with a loss, so {kind}_step takes (x, y); fix: "
                    "pass the targets, or compile with loss=None / a training_step to pass "
                    "whole batches"
                )
            batch = (as_host_if_list(x), as_host_if_list(y))
        else:
            batch = as_host_if_list(x) if y is None else (x, y)
        carry = self.run["carry"] if kind == "train" else self.eval_carry
        return batch, carry, sample_weight

    def _predict_tree(self, *x: Any) -> Any:
        if len(x) == 1 and not is_array(x[0]):
            return as_host_if_list(x[0])  # a structured batch: a tuple of inputs or a dict
        return tuple(as_host_if_list(v) for v in x)

    def _lookup(self, kind: str, tree: Any, fast_key: tuple | None):
        """(step, inputs) for a call; the common array case is one dict lookup."""
        if self._version != STATE_VERSION[0]:
            self._fast.clear()
            self._version = STATE_VERSION[0]
        fast = self._fast.get(fast_key) if fast_key is not None else None
        if fast is None:
            signature, arrays = CallSignature.of(tree)
            step = self._program(kind, signature)[0]
            if fast_key is not None:
                self._fast[fast_key] = step
            return step, arrays
        return fast, [canonical_array(a) for a in _fast_leaves(tree)]

    def _step_for(self, kind: str, x: Any, y: Any, sample_weight: Any) -> tuple:
        """(step, inputs) of a train/eval call. An `(x, y)` array pair seen before takes one
        dict lookup and nothing else: on XLA:CPU a small step runs on the calling thread,
        so every microsecond of Python here adds to it."""
        carry = self.run["carry"] if kind == "train" else self.eval_carry
        if sample_weight is None and carry is None and self.plan is None:
            key = _pair_key(kind, x, y) if self._version == STATE_VERSION[0] else None
            step = None if key is None else self._fast.get(key)
            if step is not None:
                return step, [staged(x), staged(y)]
        tree = self._tree(kind, x, y, sample_weight)
        step, inputs = self._lookup(kind, tree, _fast_key(kind, tree))
        return step, self._place_inputs(inputs, strict=kind == "train")

    def train_step(self, x, y=None, sample_weight=None) -> dict:
        """One fused forward+backward+update step; returns device scalars ('loss', metrics).

        `x, y` for a model compiled with a loss; a whole batch (any pytree) otherwise.
        Per call: a dict lookup on the input shapes/dtypes (re-validated only when
        `STATE_VERSION` moved), reading the module's and optimizers' state, the jitted
        call, and writing the results back.
        """
        step, inputs = self._step_for("train", x, y, sample_weight)
        self.poll_guard()
        sync()  # pending lazy tensors may read the arrays this step donates
        args = self._step_args(inputs)
        keep_lent(*args[:4])  # snapshots the user holds keep their values
        params, buffers, opt_states, self.run, logs = step(*args)
        self._store(params, buffers, opt_states)
        status = logs.pop("status", None)  # the guard's verdict; not a user-facing log
        if self.check_numerics and status is not None and int(status) != 0:  # debug: a read
            self._raise_located(x, y, sample_weight)
        if self.guard == "raise":  # read every few steps by `poll_guard`
            self._newest = status
        return logs

    def _step_args(self, inputs) -> tuple:
        """A train step's arguments: state (read from the one state model), optimizer
        states and hyperparameters, run state, RNG key, then the batch. (Comprehensions,
        not generators: this runs every step, see `_step_for`.)"""
        params, buffers = self.view.read_stored()
        opts = self.optimizers.values()
        if self.storage is None:
            opt_states = tuple([o.opt_state for o in opts])
        else:
            opt_states = tuple(
                [o.state_for(e) for o, e in zip(opts, self._opt_entries, strict=True)]
            )
        hypers = tuple([o.hyper_vector() for o in opts])
        run = self.run.copy()  # the carry is not donated: it goes in as an input
        del run["carry"]
        return params, buffers, opt_states, run, hypers, self.rng, inputs

    def train_steps(self, batches: list[tuple]) -> dict:
        """Several train steps in ONE dispatch: a `lax.scan` over the batches stacked on a
        new leading axis (what `fit` does with `steps_per_execution=K`). Each batch is an
        `(x, y, sample_weight)` tuple; all must have the same structure and shapes.
        Returns the last step's logs; parameters equal K single steps."""
        trees = [self._tree("train", *b) for b in batches]
        calls = [CallSignature.of(t) for t in trees]
        signature = calls[0][0]
        if len(batches) == 1 or any(c[0] != signature for c in calls) or self.objective.takes_carry:
            logs = None
            for b in batches:  # mixed shapes (a ragged tail), or a carry from step to step
                logs = self.train_step(*b)
            return logs
        k = len(batches)
        program = self._program("train", signature)[1]  # first: it may choose the storage
        key = ("train", k, signature, self.view.signature, self.view.identity, self.storage)
        step = self.programs.get(key)
        if step is None:
            step = build_train_step(program, self._plan(program), steps_per_execution=k)
            self.programs.add(key, step, f"train x{k}", {"steps": str(k)}, {})
        stacked = [staged_stack([c[1][i] for c in calls]) for i in range(len(calls[0][1]))]
        stacked = self._place_inputs(stacked, axis=1)
        sync()
        args = self._step_args(stacked)
        keep_lent(*args[:4])
        params, buffers, opt_states, self.run, logs = step(*args)
        self._store(params, buffers, opt_states)
        status = logs.pop("status", None)  # cumulative: covers the K steps
        if self.guard == "raise":
            self._newest = status
        return logs

    def eval_step(self, x, y=None, sample_weight=None) -> dict:
        step, inputs = self._step_for("eval", x, y, sample_weight)
        params, buffers = self.view.read_stored()
        if self.run["sums"] is None:
            self.reset_metrics()
        self.run["sums"], logs, self.eval_carry = step(
            params, buffers, self.run["sums"], inputs, self.eval_rng, self._next_eval()
        )
        return logs

    def _next_eval(self) -> int:
        self._eval_calls += 1
        return self._eval_calls

    def predict_step(self, *x):
        tree = self._predict_tree(*x)
        fast_key = ("predict", *_shapes(tree)) if isinstance(tree, tuple) else None
        if fast_key is not None and any(k is None for k in fast_key):
            fast_key = None
        step, inputs = self._lookup("predict", tree, fast_key)
        inputs = self._place_inputs(inputs, strict=False)
        params, buffers = self.view.read_stored()
        outputs, _ = step(params, buffers, inputs, self.eval_rng, self._next_eval())
        signature = CallSignature.of(tree)[0]
        return outputs, self._program("predict", signature)[1].out_tree


_PRECISIONS = {"fp32": None, "32": None, "bf16-mixed": "bfloat16", "fp16-mixed": "float16"}


def _precision_passes(precision: str) -> tuple:
    """The compiler passes of a precision policy (`"fp32"`, `"bf16-mixed"`, `"fp16-mixed"`)."""
    from ember.compiler.passes.mixed_precision import mixed_precision

    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}, got {precision!r}")
    dtype = _PRECISIONS[precision]
    return () if dtype is None else (mixed_precision(dtype),)


def compile(module: Module, loss=None, optimizer=None, metrics=None, **options) -> CompiledModel:  # noqa: A001
    """Compile `module` with a loss, optimizer(s) and metrics into fused XLA steps.

    >>> model = em.compile(net, loss=nn.CrossEntropyLoss(),
    ...                    optimizer=optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
    ...                    metrics=["accuracy"])
    >>> gpt_model = em.compile(gpt, loss=None, output=1, optimizer=optim.AdamW(...))
    >>> gan = em.compile(gan, optimizer={"d": opt_d, "g": opt_g})   # training_step
    """
    return CompiledModel(module, loss, optimizer, metrics, **options)


__all__ = ["CompiledModel", "compile"]
