"""`ember.func`: torch.func's names on ember.

- `functionalize` / `functional_call`: a module as a pure function of an explicit state
  (`module_as_function.py`).
- `grad`, `grad_and_value`, `vjp`, `jvp`, `jacrev`, `jacfwd`, `hessian`, `vmap`: function
  transforms over ember tensors, run by JAX's own (`transforms.py`).
"""

from ember.func.module_as_function import Functional, functional_call, functionalize
from ember.func.transforms import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, vjp, vmap

__all__ = [
    "Functional",
    "functional_call",
    "functionalize",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "vjp",
    "vmap",
]
