"""`em.device`: PyTorch's device objects, accepted for porting; XLA places the data."""

from __future__ import annotations


class device:  # noqa: N801 (PyTorch's name)
    """`em.device("cuda:0")`, `em.device("cpu")`: recorded, compared and printed like
    `torch.device`; tensors and modules accept `.to(device)` and stay where JAX puts them."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device = "cpu", index: int | None = None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if ":" in type:
            type, _, idx = type.partition(":")
            index = int(idx)
        self.type, self.index = type, index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


_DEFAULT = [device("cpu")]


def set_default_device(device_: str | device | None) -> None:
    """`torch.set_default_device("cuda")`: recorded (`get_default_device`); ember's
    tensors live where JAX places them, so nothing else changes."""
    _DEFAULT[0] = device(device_ if device_ is not None else "cpu")


def get_default_device() -> device:
    return _DEFAULT[0]
