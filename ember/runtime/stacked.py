"""Stacked storage for a compiled model's scanned layers (see `ember.nn.parameter_stack`).

A train program built with `scan_layers=True` shows which parameters its scans stack;
`_choose_storage` keeps those stacked in the state model (one device only), and every
step of the model reads and writes its state in that stored form.
"""

from __future__ import annotations

from ember.optim.base import stack_entries, unstack_entries
from ember.training.stacked_storage import StorageLayout, choose_units


class StackedStorageMixin:
    """`CompiledModel`'s stored layout: `storage` and each optimizer's units."""

    def _choose_storage(self, program) -> None:
        """Stacked storage for the scanned layers of a train program (one device only)."""
        units = ()
        if self.scan_layers and self.plan is None:
            units = choose_units(
                program.graph, self.view.param_names, self.view.params, self.optimizers.values()
            )
        stacked = {i for u in units for i in u}
        rest = tuple(i for i in range(len(self.view.params)) if i not in stacked)
        self._set_storage(StorageLayout(units, rest) if units else None)

    def _follow_tree(self) -> None:
        """Re-index the stored layout after the module tree changed (a block added,
        replaced or removed): its positions are the view's, which moved; units that lost
        a member end stacked storage until the next train program chooses again."""
        if self.storage is None:
            return
        self.view.refresh()
        position = {id(p): i for i, p in enumerate(self.view.params)}
        units = tuple(tuple(position[id(p)] for p in u) for u in self.view.units)
        if units != self.storage.units or self.view.rest != self.storage.rest:
            self._set_storage(StorageLayout(units, self.view.rest) if units else None)

    def _set_storage(self, storage: StorageLayout | None) -> None:
        if storage == self.storage:
            return
        units = () if storage is None else storage.units
        acc = self.grad_acc_per_param()
        self.storage = storage
        self._fast.clear()
        self.view.set_units(tuple(tuple(self.view.params[i] for i in u) for u in units))
        self._opt_entries = tuple(
            self._entries_of(opt, storage) for opt in self.optimizers.values()
        )
        if acc is not None:
            self.run["grad_acc"] = self.grad_acc_stored(acc)

    def _entries_of(self, opt, storage: StorageLayout | None) -> tuple | None:
        """An optimizer's units in stored order (positions in `opt.params`); None when it
        updates no stack (then its state stays per parameter)."""
        if storage is None:
            return None
        position = {id(p): i for i, p in enumerate(self.view.params)}
        mine = {position[id(p)]: k for k, p in enumerate(opt.params) if id(p) in position}
        if not any(u[0] in mine for u in storage.units):
            return None
        entries = [tuple(mine[i] for i in u) for u in storage.units if u[0] in mine]
        return (*entries, *((mine[i],) for i in storage.rest if i in mine))

    def _store(self, params, buffers, opt_states) -> None:
        """A train step's results back into the one state model."""
        self.view.write_stored(params, buffers)
        if self.storage is None:
            for o, s in zip(self.optimizers.values(), opt_states, strict=True):
                o.opt_state = s
        else:
            for o, s, e in zip(
                self.optimizers.values(), opt_states, self._opt_entries, strict=True
            ):
                o.set_state(s, e)

    def grad_acc_per_param(self) -> list | None:
        """The accumulated gradients (`accumulate_steps`) per optimizer, per parameter."""
        acc = self.run.get("grad_acc")
        if not acc or not self._opt_entries:
            return acc
        return [
            list(g) if e is None else unstack_entries(g, e)
            for g, e in zip(acc, self._opt_entries, strict=True)
        ]

    def grad_acc_stored(self, per_param: list) -> list:
        """`grad_acc_per_param`'s form back in the stored form of the current layout."""
        if not self._opt_entries:
            return per_param
        return [
            list(g) if e is None else stack_entries(g, e)
            for g, e in zip(per_param, self._opt_entries, strict=True)
        ]
