"""`nn.DataParallel` for scripts that wrap their model: ember's data parallelism is the
compiled step's (`em.compile(..., mesh=em.mesh(...))` shards the batch over devices), so
the wrapper runs its module as it is, keeping PyTorch's observable behaviour: calls go to
`.module`, and `state_dict()` keys carry the `module.` prefix (checkpoints written from a
wrapped model load into a wrapped one, as in PyTorch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.nn.module import Module

__all__ = ["DataParallel", "DistributedDataParallel"]


class DataParallel(Module):
    """`torch.nn.DataParallel(module)`: forwards every call to `module`.

    `device_ids`, `output_device` and `dim` are accepted; ember does not replicate the
    module per call (use `em.compile(net, ..., mesh=em.mesh({"data": n}))` to train on
    several devices, see docs/tpu.md).

    >>> model = nn.DataParallel(net)
    >>> out = model(x)                      # net(x)
    >>> model.module is net
    True
    """

    def __init__(
        self,
        module: Module,
        device_ids: Sequence[Any] | None = None,
        output_device: Any = None,
        dim: int = 0,
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DataParallel wraps an nn.Module, got {type(module).__name__}; fix: pass the "
                "model itself"
            )
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else None
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(Module):
    """`torch.nn.parallel.DistributedDataParallel`: importable, so scripts whose DDP branch
    is off run as written; constructing one raises the error of
    `em.distributed.init_process_group`, which names ember's replacement (one program
    over a mesh)."""

    def __init__(self, module: Module, *args: Any, **kwargs: Any):
        from ember.distributed import init_process_group

        init_process_group()
