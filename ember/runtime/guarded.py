"""Reading the guard's verdicts of a `CompiledModel`, and locating a bad step's NaN."""

from __future__ import annotations

import jax
import numpy as np

from ember.training.guard import describe, reported
from ember.training.steps import step_key

from .guard_errors import guard_error
from .numerics import locate
from .program import CallSignature

POLL_EVERY = 16


class GuardMixin:
    """`poll_guard`, `check_guard` and `locate_nonfinite` of a `CompiledModel`."""

    def poll_guard(self) -> None:
        """Raise for a bad step whose verdict is ready, without waiting for the device.

        A verdict is cumulative (it names the first bad step not yet reported), so one
        verdict now and then covers every step before it: every `POLL_EVERY` train steps
        the newest one is put aside (`_watched`), and at the next poll, once it is ready,
        it is read. Its step is then `POLL_EVERY` steps old, so the read rarely waits; a
        verdict still not ready a poll later is waited for, which bounds the unread
        window. Measured between small steps on XLA:CPU, a verdict read while a step
        runs costs ~15 us and dropping a batch of verdicts ~2 us each, hence one read and
        one held verdict, not a queue of them. Errors therefore surface a few steps late
        (within `3 * POLL_EVERY` dispatched steps), or at once through `check_guard()`
        and where `fit` reads logs; the skipped step never changed the model either way."""
        self._polls += 1
        if self._polls % POLL_EVERY:
            return
        watched = self._watched
        if watched is not None:
            if not self._waited and not watched.is_ready():  # give it one more round
                self._waited = True
                return
            self._waited = False
            if int(np.asarray(watched)) != 0:  # np.asarray: int() of an array costs more
                self.check_guard()
                return
        self._watched, self._newest = self._newest, None

    def locate_nonfinite(self, x, y=None, sample_weight=None, *, poison=None):
        """Re-run a batch's train objective instrumented: the first IR node producing a
        NaN/inf (op, module, file:line, IR line, input ranges), or the parameters with
        non-finite gradients; None when everything is finite. The model is not changed."""
        tree = self._tree("train", x, y, sample_weight)
        signature, arrays = CallSignature.of(tree)
        program = self._program("train", signature)[1]
        params, buffers = self.view.read()
        key = step_key(self.rng, self.run["step"]) if program.lowered.uses_rng else None
        loss_name = next(iter(self.optimizers), "loss") if len(self.optimizers) > 1 else "loss"
        return locate(
            program, params, buffers, arrays, key, poison, loss_name, self.view.param_names
        )

    def _raise_located(self, x, y, sample_weight) -> None:
        record = jax.device_get(self.run["guard"])
        count, step, what = describe(record)
        self.run["guard"] = reported(record)
        report = self.locate_nonfinite(x, y, sample_weight)
        raise guard_error(f"step {step}", what, report)

    def check_guard(self, epoch_start_step: int | None = None, epoch: int | None = None) -> int:
        """Read the guard's record (one small device read); raise for a new bad step when
        guard="raise"; return the number of skipped steps so far."""
        self._watched = self._newest = None  # the record covers every dispatched step
        self._waited = False
        if epoch_start_step is None and self._guard_epoch is not None:
            epoch_start_step, epoch = self._guard_epoch
        record = jax.device_get(self.run["guard"])
        count, step, what = describe(record)
        if step >= 0 and self.guard == "raise":
            self.run["guard"] = reported(record)
            where = f"step {step}"
            if epoch_start_step is not None and step >= epoch_start_step:
                where += f" (batch {step - epoch_start_step} of epoch {epoch + 1})"
            raise guard_error(where, what)
        return count
