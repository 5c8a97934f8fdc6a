"""Op definitions by family; importing this package fills the registry."""

from . import creation, elementwise, linalg, nn, reduction, shape  # noqa: F401
