"""The layer library (`ember.nn`): every module of this package is re-exported.

A layer family is one new file here; its public classes (or `__all__`) appear
in `ember.nn` automatically.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from ember.nn.module import Module as _Module

__all__ = []
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _mod = _importlib.import_module(f"{__name__}.{_info.name}")
    _names = getattr(_mod, "__all__", None)
    if _names is None:
        _names = [
            n
            for n, v in vars(_mod).items()
            if not n.startswith("_")
            and isinstance(v, type)
            and issubclass(v, _Module)
            and v.__module__ == _mod.__name__
        ]
    for _n in _names:
        globals()[_n] = getattr(_mod, _n)
    __all__ += [n for n in _names if n not in __all__]
