"""The functional op library (`ember.nn.functional`, and `em.*` for tensor ops).

Every module in this package is imported and its public names (its `__all__`,
else every public function) are re-exported, so an op family is one new file.
"""

import importlib as _importlib
import inspect as _inspect
import pkgutil as _pkgutil

__all__ = []
_LAST = "inplace"  # in-place methods wrap the ops every other family defines
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: (m.name == _LAST, m.name)):
    if _info.name.startswith("_"):
        continue
    _mod = _importlib.import_module(f"{__name__}.{_info.name}")
    _names = getattr(_mod, "__all__", None)
    if _names is None:
        _names = [
            n
            for n, v in vars(_mod).items()
            if not n.startswith("_")
            and _inspect.isfunction(v)
            and v.__module__ == _mod.__name__
            and n not in getattr(_mod, "__internal__", ())
        ]
    for _n in _names:
        globals()[_n] = getattr(_mod, _n)
    __all__ += [n for n in _names if n not in __all__]
