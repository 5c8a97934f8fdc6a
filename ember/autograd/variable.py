"""`Variable`: PyTorch's pre-0.4 wrapper, kept there as a no-op for old programs.

Every PyTorch-GAN script and many tutorials still write
`Variable(x.type(Tensor))` or `Variable(Tensor(n, 1).fill_(1.0), requires_grad=False)`.
"""

from __future__ import annotations

from typing import Any

from ember.frontend.tensor import Tensor


class _VariableType(type):
    def __instancecheck__(cls, obj: Any) -> bool:  # `isinstance(t, Variable)` for any tensor
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableType):
    """`torch.autograd.Variable(data, requires_grad=False)`: the tensor itself; with
    `requires_grad=True`, a leaf holding its values that requires grad.

    >>> v = Variable(em.ones(2), requires_grad=True)
    >>> v.requires_grad, isinstance(v, Variable)
    (True, True)
    """

    def __new__(cls, data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:
        from ember.nn.functional._core import as_tensor

        tensor = data if isinstance(data, Tensor) else as_tensor(data)
        if requires_grad and not (tensor.is_leaf and tensor.requires_grad):
            tensor = tensor.detach().requires_grad_(True)
        return tensor
