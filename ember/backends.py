"""`em.backends`: PyTorch's backend switches, accepted for porting.

`em.backends.cuda.matmul.allow_tf32 = True`, `em.backends.cudnn.benchmark = True` and the
like are stored and have no effect: XLA chooses kernels and matmul precision itself (on
GPU see `jax.default_matmul_precision`).
"""

from __future__ import annotations

from types import SimpleNamespace

cuda = SimpleNamespace(
    matmul=SimpleNamespace(
        allow_tf32=False,
        allow_fp16_reduced_precision_reduction=True,
        allow_bf16_reduced_precision_reduction=True,
    ),
    is_built=lambda: False,
)
cudnn = SimpleNamespace(
    allow_tf32=True,
    benchmark=False,
    deterministic=False,
    enabled=True,
    is_available=lambda: False,
)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)

__all__ = ["cuda", "cudnn", "mps"]
