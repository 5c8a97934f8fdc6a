"""A module's settings: plain attributes (`drop.p`, `bn.momentum`, `self.scale`) that a
traced step may have read, kept as content fingerprints so cached steps follow them.

Every public plain attribute assigned outside a trace is fingerprinted (numbers,
strings, None and sequences of them by value; anything else by identity) and the
fingerprints are part of the module's key in compiled programs (`mode_key`): a
changed value retraces, and switching back to an earlier value reuses its program.
Assignments while `forward` runs (traced, or op by op in an eager call of a hooked
module) are the model's own bookkeeping, not settings, and are not tracked. Mutating an
object held in an attribute (`net.cfg.scale = 2`) is not seen: reassign the attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.nn.hooks import has_hooks, hook_ids
from ember.nn.parameter import bump_state_version

_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_DELETED = ("<deleted>",)
# > 0 while an eager call runs a hooked module's forward op by op (see `Module.__call__`)
EAGER_FORWARD = [0]


def fingerprint(value: Any) -> Any:
    """A hashable stand-in for `value`: equal for equal settings."""
    if isinstance(value, _SCALARS):
        return (type(value).__name__, repr(value))
    if isinstance(value, np.generic):
        return (str(value.dtype), repr(value.item()))
    if isinstance(value, (tuple, list)) and len(value) <= 64:
        return (type(value).__name__, tuple(fingerprint(v) for v in value))
    return ("id", id(value))


def note_setting(module: Any, name: str, value: Any) -> None:
    """Record that `module.<name>` is now `value` (or deleted: `value is _DELETED`)."""
    if EAGER_FORWARD[0]:
        return
    settings = module.__dict__.get("_settings")
    if settings is None:
        settings = {}
        object.__setattr__(module, "_settings", settings)
    mark = _DELETED if value is _DELETED else fingerprint(value)
    if settings.get(name) != mark:
        settings[name] = mark
        bump_state_version()


def note_deleted(module: Any, name: str) -> None:
    note_setting(module, name, _DELETED)


def mode_key(module: Any) -> Any:
    """What of `module` beyond its state a traced step depends on: its mode, its forward
    hooks and its settings."""
    settings = module.__dict__.get("_settings")
    if not settings and not has_hooks(module):
        return module.training
    hooks = hook_ids(module) if has_hooks(module) else ()
    return (module.training, hooks, tuple(sorted((settings or {}).items())))


def assign_computed(module: Any, name: str, value: Any) -> None:
    """`module.weight = value` where `weight` is parametrized: as in PyTorch, the
    originals are set through the parametrizations' `right_inverse`, so `module.weight`
    reads back `value` as the parametrization makes it; weight_norm's and spectral_norm's
    weights (the original API) are computed only, so assigning one is an error."""
    plists = module._modules.get("parametrizations")
    if plists is None or name not in plists._modules:
        raise AttributeError(
            f"{type(module).__name__}.{name} is computed from other parameters (weight_norm "
            f"or spectral_norm); fix: assign those ({name}_g/{name}_v, {name}_orig), or "
            f"call nn.utils.remove_weight_norm/remove_spectral_norm first"
        )
    from ember.autograd.grad_mode import no_grad  # noqa: PLC0415 (autograd imports nn)

    with no_grad():
        plists._modules[name].right_inverse(value)
    bump_state_version()


# a module's own bookkeeping, not settings its forward reads
_INTERNALS = frozenset(
    {"_parameters", "_buffers", "_non_persistent", "_modules", "_programs", "_settings"}
)


def _by_value(mark: Any) -> bool:
    if mark[0] == "id":
        return False
    return not isinstance(mark[1], tuple) or all(_by_value(m) for m in mark[1])


def stateless_config(module: Any) -> tuple | None:
    """A key equal for modules that compute the same function: its class and the value of
    every attribute, for one of ember's modules without parameters, buffers (other than
    None ones), submodules or hooks whose attributes are all plain values (a loss, an
    activation). None for any other module.

    >>> stateless_config(nn.BCELoss()) == stateless_config(nn.BCELoss())
    True
    """
    if not type(module).__module__.startswith("ember.nn."):
        # a user's forward may read globals that a shared trace would freeze for every
        # instance; ember's own stateless layers read only their attributes
        return None
    slots = {**module._parameters, **module._buffers}
    if any(v is not None for v in slots.values()) or module._modules or has_hooks(module):
        return None
    marks = [("<unset>", tuple(sorted(slots)))]  # `weight=None` of a loss: registered, empty
    for name, value in sorted(vars(module).items()):
        if name in _INTERNALS:
            continue
        mark = fingerprint(value)
        if not _by_value(mark):
            return None
        marks.append((name, mark))
    return (type(module), tuple(marks))
