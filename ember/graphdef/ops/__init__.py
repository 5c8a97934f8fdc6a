"""Op definitions by family; importing this package fills the registry.

Every module in this package is imported, so adding an op family is adding
one file here (plus its lowering in `ember.compiler.lowering`).
"""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "common":
        importlib.import_module(f"{__name__}.{_info.name}")
