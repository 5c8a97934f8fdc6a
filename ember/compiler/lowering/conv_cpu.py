"""CPU lowering of `conv`: im2col and a matmul per batch chunk (`conv_im2col`).

XLA:CPU's own convolutions are slow on the convs small models use: a 32->64 3x3 conv
on 26x26 maps at batch 64 takes ~80 ms forward and ~600 ms forward+backward (its
weight gradient is a conv whose "kernel" is the whole output map), where the same
FLOPs as one matmul take ~17 ms. When a conv's window exceeds its maps (3x3 on 2x2, as
in ResNet-18's last stage at 64x64 input), XLA's algebraic simplifier also swaps the
conv's operands into a form XLA:CPU runs ~10x slower still (docs/concepts/xla-cpu-gradients.md).

`conv_im2col` avoids XLA's conv entirely: for each chunk of the batch (`lax.map`) it
gathers the input windows into a (C*k, b*out) patch matrix (built channel-major, so the
matmul needs no transpose) and multiplies it by the (O, C*k) weight. Chunks keep the
patch matrix in cache: the whole batch's at once is ~2x slower. The per-chunk function
is checkpointed, so the backward (JAX's own autodiff: the weight gradient `dy @
patchesᵀ` summed over chunks, the input gradient the transposed gather of `wᵀ @ dy`)
recomputes each chunk's patches instead of keeping them all; being plain JAX, it also
supports forward mode (`jax.jvp`, `jax.hessian`). Strides, padding, dilation and 1-3
spatial dims. Grouped convs (ResNeXt's 32 groups of 4 channels) multiply each group's
block of patch rows by its weights, one batched matmul: XLA:CPU's grouped conv took
6.9 s for such a conv's forward and backward at batch 32 on 28x28 maps, im2col 0.06 s
(PyTorch 0.04 s). Values and gradients equal the default rule to 1e-10 in float64
(tests/test_backend_rules.py).
"""

from __future__ import annotations

import itertools
import math
import os

import jax
import jax.numpy as jnp
from jax import lax

from ember.graphdef import Node

from .conv import RULES as CONV_RULES
from .conv import _add_bias


def plain_conv(node: Node) -> bool:
    """One group, or groups of several input channels each (ResNeXt, RegNet): each group's
    rows of the patch matrix contract with its own weights. Depthwise convs (one input
    channel per group) have their own rule, `conv_depthwise_taps`."""
    return node.attrs["groups"] == 1 or node.inputs[1].type.shape[1] > 1


def _pad(x, pads):
    config = [(0, 0, 0), (0, 0, 0)] + [(lo, hi, 0) for lo, hi in pads]
    return lax.pad(x, jnp.zeros((), x.dtype), config)


def _level2_cache_bytes() -> int:
    """This CPU's per-core L2 cache (Linux sysfs); 512 KiB where it cannot be read."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for index in sorted(os.listdir(root)):
            with open(os.path.join(root, index, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(root, index, "size")) as f:
                size = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * scale
    except (OSError, ValueError):
        pass
    return 512 << 10


# Bytes of one chunk's patch matrix: four times the L2 cache. Measured on the CNN of
# bench/bench_vs_pytorch.py: 2 MB was fastest on a 2-core EPYC (512 KiB L2; the whole
# batch's patches at once ~2x slower); 8-16 MB on a 2-core Sapphire Rapids (2 MiB L2),
# where 2 MB chunks ran the step 47 ms against 42 ms (bench/RESULTS.md).
PATCH_CHUNK_BYTES = 4 * _level2_cache_bytes()


def _windows(kernel, stride, dilation, out):
    """The input slice that each kernel position multiplies, per spatial dim."""
    for offset in itertools.product(*(range(k) for k in kernel)):
        yield tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s)
            for o, d, s, n in zip(offset, dilation, stride, out, strict=True)
        )


def _patches(xc, kernel, stride, pads, dilation, out):
    """(b, C, *s) -> (C * prod(kernel), b * prod(out)): the chunk's im2col matrix, built in
    (C, b, ...) order so that the matmul needs no transpose."""
    xt = jnp.moveaxis(_pad(xc, pads), 1, 0)
    cols = [xt[(slice(None), slice(None), *w)] for w in _windows(kernel, stride, dilation, out)]
    return stack_windows(cols, kernel, 1).reshape(xt.shape[0] * math.prod(kernel), -1)


def stack_windows(slabs: list, kernel, axis: int):
    """`jnp.stack(slabs, axis)` for a kernel's window positions (row-major), as one stack
    per kernel dim: XLA:CPU fuses a concatenate of at most 8 operands into one loop, so a
    flat stack of a 3x3 kernel's nine windows would run as nine copies and a memcpy of
    the result. Shape: the slabs' with (k1, ..., kd) inserted at `axis`."""
    for k in reversed(kernel[1:]):
        slabs = [jnp.stack(slabs[i : i + k], axis) for i in range(0, len(slabs), k)]
    return jnp.stack(slabs, axis)


def _chunk(n: int, row_bytes: int) -> int:
    """The largest divisor of the batch `n` whose patch matrix fits PATCH_CHUNK_BYTES."""
    fits = max(1, PATCH_CHUNK_BYTES // max(row_bytes, 1))
    return max(b for b in range(1, n + 1) if n % b == 0 and b <= fits)


def output_size(spatial, kernel, stride, pads, dilation) -> tuple:
    """A conv's output spatial size; `pads` as (lo, hi) per dim."""
    return tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, (lo, hi), d, k, st in zip(spatial, pads, dilation, kernel, stride, strict=True)
    )


def pad_pairs(padding, ndim: int) -> tuple:
    """The conv attr's flat (lo, hi, lo, hi, ...) as ((lo, hi), ...)."""
    return tuple((padding[2 * i], padding[2 * i + 1]) for i in range(ndim))


def _geometry(x, w, stride, pads, dilation):
    kernel = w.shape[2:]
    out = output_size(x.shape[2:], kernel, stride, pads, dilation)
    row_bytes = x.shape[1] * math.prod(kernel) * math.prod(out) * x.dtype.itemsize
    b = _chunk(x.shape[0], row_bytes)
    return kernel, out, b, x.reshape(x.shape[0] // b, b, *x.shape[1:])


def _im2col(x, w, stride, pads, dilation, groups, precision):
    kernel, out, b, chunks = _geometry(x, w, stride, pads, dilation)
    # (groups, O / groups, C / groups * k): the patch rows are channel-major, so each
    # group's rows are one contiguous block
    wm = w.reshape(groups, w.shape[0] // groups, -1)

    # checkpointed: backward recomputes each chunk's patches instead of keeping them all
    @jax.checkpoint
    def one(xc, wm):
        patches = _patches(xc, kernel, stride, pads, dilation, out)
        if groups == 1:  # one plain matmul
            y = jnp.matmul(wm[0], patches, precision=precision)
        else:
            y = jnp.matmul(wm, patches.reshape(groups, wm.shape[2], -1), precision=precision)
        return jnp.moveaxis(y.reshape(w.shape[0], b, *out), 0, 1)

    y = lax.map(lambda xc: one(xc, wm), chunks) if len(chunks) > 1 else one(chunks[0], wm)[None]
    return y.reshape(x.shape[0], w.shape[0], *out)


def conv_im2col(ctx, x, w, b=None, *, stride, padding, dilation, groups):
    if x.size == 0 or w.size == 0:  # no patches to build (an empty batch or channel dim)
        return CONV_RULES["conv"](
            ctx, x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups
        )
    pads = pad_pairs(padding, len(stride))
    # 16-bit floats compute in float32, as PyTorch's CPU convs do: the weight gradient
    # sums over chunks, which would otherwise round at every chunk
    wide = jnp.promote_types(x.dtype, jnp.float32)
    y = _im2col(
        x.astype(wide), w.astype(wide), tuple(stride), pads, tuple(dilation), groups, ctx.precision
    )
    return _add_bias(y.astype(x.dtype), b)
