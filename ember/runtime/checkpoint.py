"""Checkpoints of a whole training run, built on orbax-checkpoint.

A checkpoint holds the parameters and buffers (by state-dict name), every
optimizer's state and hyperparameters, the run state (step, RNG key, metric
sums, carried state), LR-scheduler states and the data position (epoch, batches
done, shuffle seed), so `fit(..., checkpoint=mgr, resume=True)` continues
bit-identically to a run that never stopped. Orbax writes each step into a
temporary directory and renames it when complete, so a process killed at any
moment leaves the previous checkpoint loadable; leftovers are cleaned up when a
manager opens the directory. Restoring into a model of a different structure
fails before anything is touched, listing each path with expected and found
shape/dtype (`CheckpointError`). Arrays are stored by orbax (tensorstore), the
rest as JSON: nothing is pickled and nothing in a checkpoint executes.

>>> mgr = em.CheckpointManager("ckpts", max_to_keep=3, keep_best=("val_loss", "min"))
>>> model.fit(x, y, epochs=10, checkpoint=mgr, resume=True)
>>> mgr.restore(None, model)           # the latest step
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ember.errors import CheckpointError

FORMAT = "ember.checkpoint/1"


def _ocp():
    import orbax.checkpoint as ocp  # heavy: imported when checkpoints are used

    return ocp


def _arrays(model) -> dict[str, Any]:
    """Every array of the training state under a flat, stable name."""
    model.view.refresh()
    params, buffers = model.view.read()
    out = {}
    for name, value in zip(model.view.param_names, params, strict=True):
        out[f"params/{name}"] = value
    for name, value in zip(model.view.buffer_names, buffers, strict=True):
        out[f"buffers/{name}"] = value
    for opt_name, opt in model.optimizers.items():
        for i, leaf in enumerate(jax.tree_util.tree_leaves(opt.opt_state)):
            out[f"optimizers/{opt_name}/{i}"] = leaf
    out["run/step"] = model.run["step"]
    out["run/rng"] = jnp.asarray(model.rng)
    out["run/guard"] = model.run["guard"]
    if model.run.get("sums") is not None:
        out["run/sums"] = model.run["sums"]
    for i, leaf in enumerate(jax.tree_util.tree_leaves(model.run.get("carry"))):
        out[f"run/carry/{i}"] = leaf
    for k, group in enumerate(model.grad_acc_per_param() or []):
        for i, leaf in enumerate(group):
            out[f"run/grad_acc/{k}/{i}"] = leaf
    return {k: jnp.asarray(v) for k, v in out.items()}


def _structure(arrays: dict[str, Any]) -> dict[str, list]:
    return {k: [list(np.shape(v)), str(v.dtype)] for k, v in arrays.items()}


def _meta(model, data: dict | None, extra: dict | None) -> dict:
    groups = {
        name: [{k: _jsonable(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
        for name, opt in model.optimizers.items()
    }
    layout = model.layout.names if model.layout is not None else None
    return {
        "format": FORMAT,
        "step": int(model.run["step"]),
        "param_groups": groups,
        "layout": list(layout) if layout is not None else None,
        "carry": _treedef_json(model.run.get("carry")),
        "data": data or {},
        "extra": extra or {},
    }


def _treedef_json(tree: Any) -> Any:
    """The structure of a carried state (tuples, lists, dicts; namedtuples as tuples)."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {"dict": {str(k): _treedef_json(v) for k, v in tree.items()}}
    if isinstance(tree, (tuple, list)):
        return {"list" if isinstance(tree, list) else "tuple": [_treedef_json(v) for v in tree]}
    return "*"


def _zeros_like_json(desc: Any, leaves: list) -> Any:
    if desc is None:
        return None
    if desc == "*":
        return leaves.pop(0)
    ((kind, body),) = desc.items()
    if kind == "dict":
        return {k: _zeros_like_json(v, leaves) for k, v in body.items()}
    items = [_zeros_like_json(v, leaves) for v in body]
    return items if kind == "list" else tuple(items)


def _prepare(model, meta: dict) -> None:
    """Give a fresh model the run-state slots the checkpoint has (metric sums, carry,
    gradient accumulators) so its structure can be compared and restored."""
    from ember.training.steps import SumsLayout, empty_sums

    layout = meta.get("layout")
    if model.layout is None and layout:
        model.layout = SumsLayout(tuple(layout), model.metric_fns)
        model.run["sums"] = empty_sums(model.layout)
    structure = meta.get("structure") or {}
    if model.run.get("carry") is None and meta.get("carry") is not None:
        keys = sorted(
            (k for k in structure if k.startswith("run/carry/")),
            key=lambda k: int(k.rsplit("/", 1)[1]),
        )
        leaves = [jnp.zeros(structure[k][0], structure[k][1]) for k in keys]
        model.run["carry"] = _zeros_like_json(meta["carry"], leaves)
    if "run/grad_acc/0/0" in structure and not model.run.get("grad_acc"):
        model.run["grad_acc"] = model.grad_acc_stored(
            [[jnp.zeros(p.shape, p.dtype) for p in opt.params] for opt in model.optimizers.values()]
        )


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


class CheckpointManager:
    """Save and restore training runs (orbax's `CheckpointManager`, with ember's state).

    `max_to_keep` bounds the kept checkpoints; `keep_best=("val_loss", "min")` keeps the
    best ones by a logged metric instead of the latest; `save_interval_steps` makes
    `save` write only every K steps (unless `force=True`); `async_save` writes in the
    background (the training loop blocks only for the device-to-host copy).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        max_to_keep: int | None = None,
        keep_best: tuple[str, str] | None = None,
        save_interval_steps: int = 1,
        async_save: bool = True,
    ):
        ocp = _ocp()
        self.directory = os.path.abspath(os.fspath(directory))
        self.keep_best = keep_best
        best = {}
        if keep_best is not None:
            metric, mode = keep_best
            if mode not in ("min", "max"):
                raise ValueError(f"keep_best mode must be 'min' or 'max', got {mode!r}")
            best = {"best_fn": lambda m, key=metric: m[key], "best_mode": mode}
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            save_interval_steps=int(save_interval_steps),
            enable_async_checkpointing=bool(async_save),
            cleanup_tmp_directories=True,
            create=True,
            **best,
        )
        try:
            self._mgr = ocp.CheckpointManager(self.directory, options=options)
        except Exception as e:  # noqa: BLE001 (orbax raises many types; report one)
            raise CheckpointError(f"cannot open checkpoint directory {self.directory}: {e}") from e
        # orbax removes the unfinished writes of killed runs in a background thread; wait
        # for it, so a directory just opened holds complete checkpoints only
        await_cleanup = getattr(self._mgr, "_maybe_await_cleanup_tmp_directory", None)
        if await_cleanup is not None:
            await_cleanup()

    # -- orbax-like API --------------------------------------------------------------------
    def latest_step(self) -> int | None:
        return self._mgr.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._mgr.all_steps())

    def best_step(self) -> int | None:
        return self._mgr.best_step() if self.keep_best else self._mgr.latest_step()

    def wait_until_finished(self) -> None:
        self._mgr.wait_until_finished()

    def should_save(self, step: int) -> bool:
        return self._mgr.should_save(step)

    def delete(self, step: int) -> None:
        """Remove checkpoint `step` (after pending writes finish)."""
        self._mgr.wait_until_finished()
        self._mgr.delete(step)

    def close(self) -> None:
        self._mgr.close()

    def save(
        self,
        step: int,
        model,
        metrics: dict | None = None,
        *,
        data: dict | None = None,
        extra: dict | None = None,
        force: bool = False,
    ) -> bool:
        """Save `model`'s training state as `step`; False when the interval skips it."""
        ocp = _ocp()
        if not force and not self._mgr.should_save(step):
            return False
        arrays = _arrays(model)
        meta = _meta(model, data, extra)
        meta["structure"] = _structure(arrays)
        try:
            return bool(
                self._mgr.save(
                    int(step),
                    args=ocp.args.Composite(
                        state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)
                    ),
                    metrics=metrics,
                    force=force,
                )
            )
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"saving step {step} to {self.directory} failed: {e}") from e

    def restore(self, step: int | None, model) -> dict:
        """Load checkpoint `step` (None: the latest) into `model`; returns its metadata
        (data position, extra). Nothing is changed if anything does not match."""
        ocp = _ocp()
        if step is None:
            step = self._mgr.latest_step()
            if step is None:
                raise CheckpointError(f"no checkpoint in {self.directory}")
        where = os.path.join(self.directory, str(step))
        try:
            meta = self._mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
                "meta"
            ]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"cannot read checkpoint {where}: {type(e).__name__}: {e}") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{where} is not an ember checkpoint (format {meta!r:.80})")
        _prepare(model, meta)
        if getattr(model, "plan", None) is not None:
            model._place_optimizers()  # restore straight into this model's mesh layout
        current = _arrays(model)
        _check_structure(where, meta.get("structure"), _structure(current))
        target = {
            k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=_layout(model, v))
            for k, v in current.items()
        }
        try:
            restored = self._mgr.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
            )["state"]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"cannot read the arrays of {where}: {e}") from e
        _check_structure(where, _structure(restored), _structure(current))
        _write(model, restored, meta)
        return meta


def _layout(model, value):
    """Where a restored array goes: its current layout; on a mesh, run state that lives on
    one device (a fresh model's step counter, RNG key) is replicated over the mesh."""
    plan = getattr(model, "plan", None)
    if plan is not None and len(value.sharding.device_set) != plan.mesh.devices.size:
        return plan.sharding(())
    return value.sharding


def _check_structure(where: str, saved: Any, current: dict) -> None:
    if not isinstance(saved, dict):
        raise CheckpointError(f"{where} has no valid structure record")
    problems = []
    for k in sorted(set(saved) | set(current)):
        if k not in current:
            problems.append(f"{k}: in the checkpoint {saved[k]}, not in the model")
        elif k not in saved:
            problems.append(f"{k}: the model has {current[k]}, the checkpoint does not")
        elif list(saved[k]) != list(current[k]):
            problems.append(f"{k}: expected {current[k]}, found {saved[k]}")
    if problems:
        shown = "\n  ".join(problems[:40]) + ("\n  ..." if len(problems) > 40 else "")
        raise CheckpointError(
            f"{where} does not fit this model ({len(problems)} difference(s)); nothing was "
            f"restored:\n  {shown}\nfix: restore into the model (and optimizers) the checkpoint "
            "was saved from"
        )


def _write(model, restored: dict, meta: dict) -> None:
    params = [restored[f"params/{n}"] for n in model.view.param_names]
    buffers = [restored[f"buffers/{n}"] for n in model.view.buffer_names]
    model.view.write(params, buffers)
    for opt_name, opt in model.optimizers.items():
        treedef = jax.tree_util.tree_structure(opt.opt_state)
        n = treedef.num_leaves
        opt.opt_state = jax.tree_util.tree_unflatten(
            treedef, [restored[f"optimizers/{opt_name}/{i}"] for i in range(n)]
        )
        for group, saved in zip(opt.param_groups, meta["param_groups"][opt_name], strict=False):
            for k, v in saved.items():
                if group.get(k) != (tuple(v) if isinstance(v, list) else v):
                    group[k] = tuple(v) if isinstance(v, list) else v
    model.run["step"] = restored["run/step"]
    model.rng = restored["run/rng"]
    model.run["guard"] = restored["run/guard"]
    if "run/sums" in restored:
        model.run["sums"] = restored["run/sums"]
    carry = model.run.get("carry")
    if carry is not None:
        treedef = jax.tree_util.tree_structure(carry)
        model.run["carry"] = jax.tree_util.tree_unflatten(
            treedef, [restored[f"run/carry/{i}"] for i in range(treedef.num_leaves)]
        )
    if model.run.get("grad_acc"):
        model.run["grad_acc"] = model.grad_acc_stored(
            [
                [restored[f"run/grad_acc/{k}/{i}"] for i in range(len(g))]
                for k, g in enumerate(model.grad_acc_per_param())
            ]
        )
