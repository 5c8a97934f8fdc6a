"""`em.onnx`: importable, as scripts import `torch.onnx` at the top whether or not they
export (pytorch/examples' fast_neural_style does); ember has no ONNX exporter.

`is_in_onnx_export()` is False (PyTorch's answer outside an export, which models branch
on); `export` raises an error naming the way out: the weights in a safetensors file,
loaded into the PyTorch model, exported by PyTorch.

>>> em.onnx.is_in_onnx_export()
False
"""

from __future__ import annotations

from typing import Any

_NO_EXPORT = (
    "ember has no ONNX exporter; fix: em.save(net.state_dict(), 'model.safetensors'), "
    "load the arrays into the PyTorch model (docs/howto/pytorch-weights.md) and export it "
    "with torch.onnx.export"
)


def is_in_onnx_export() -> bool:
    return False


def export(model: Any, *args: Any, **kwargs: Any) -> None:
    """`torch.onnx.export`: not available in ember (see the module's note)."""
    raise NotImplementedError(_NO_EXPORT)


__all__ = ["export", "is_in_onnx_export"]
