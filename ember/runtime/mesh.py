"""`em.mesh(data=-1)`: a JAX `Mesh` over the devices, with named axes.

ember does not distribute anything itself: a mesh names the devices' axes and
JAX's SPMD partitioner (GSPMD/Shardy) does the rest. Axis names carry meaning
for ember's strategies: the batch is split over the data-like axes (`data`,
`fsdp`), FSDP shards parameters over `fsdp` (or `data`), and tensor-parallel
rules name any other axis (usually `model`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

DATA_AXES = ("data", "fsdp")  # axes the batch is split over, in this order of preference


def mesh(devices: Sequence[Any] | None = None, **axes: int) -> Mesh:
    """A `jax.sharding.Mesh` over `devices` (default: all of them) with named axis sizes.

    One size may be -1 (all remaining devices); the sizes must multiply to the number
    of devices. With no axes: `data=-1`.

    >>> em.mesh(data=-1)              # data parallel over every device
    >>> em.mesh(data=2, model=4)      # 2-way data x 4-way tensor parallel
    >>> em.mesh(fsdp=-1)              # FSDP (ZeRO-3) over every device
    """
    devices = list(jax.devices() if devices is None else devices)
    sizes = dict(axes) or {"data": -1}
    bad = {k: v for k, v in sizes.items() if not isinstance(v, int) or (v < 1 and v != -1)}
    if bad:
        raise ValueError(f"em.mesh axis sizes must be positive ints or -1, got {bad}")
    free = [k for k, v in sizes.items() if v == -1]
    if len(free) > 1:
        raise ValueError(f"em.mesh: only one axis may be -1, got {free}")
    fixed = math.prod(v for v in sizes.values() if v != -1)
    if free:
        if len(devices) % fixed:
            raise ValueError(
                f"em.mesh({_show(sizes)}): {len(devices)} devices do not split into "
                f"{fixed} x n; fix: choose sizes whose product divides {len(devices)}"
            )
        sizes[free[0]] = len(devices) // fixed
    if math.prod(sizes.values()) != len(devices):
        raise ValueError(
            f"em.mesh({_show(sizes)}) needs {math.prod(sizes.values())} devices, there are "
            f"{len(devices)}; fix: make the sizes multiply to {len(devices)} (or use -1 for one)"
        )
    shape = tuple(sizes.values())
    try:  # a topology-aware layout on TPU slices; plain order elsewhere
        from jax.experimental import mesh_utils

        grid = mesh_utils.create_device_mesh(shape, devices)
    except Exception:  # noqa: BLE001  (virtual CPU devices, odd counts)
        grid = np.array(devices, dtype=object).reshape(shape)
    return Mesh(grid, tuple(sizes))


def data_axes(m: Mesh) -> tuple[str, ...]:
    """The mesh's axes the batch is split over (`data`, `fsdp`), in mesh order."""
    return tuple(a for a in m.axis_names if a in DATA_AXES)


def axis_size(m: Mesh, axes: str | tuple[str, ...] | None) -> int:
    if axes is None:
        return 1
    if isinstance(axes, str):
        axes = (axes,)
    return math.prod(m.shape[a] for a in axes)


_announced = [False]


def default_mesh() -> Mesh | None:
    """With several local devices and no mesh given: data parallel over all of them
    (said once per process). One device: None (no sharding at all)."""
    devices = jax.local_devices() if jax.process_count() == 1 else jax.devices()
    if len(devices) < 2:
        return None
    if not _announced[0] and jax.process_index() == 0:
        _announced[0] = True
        print(
            f"ember: {len(devices)} devices and no mesh given: data parallel over all of "
            f"them (pass mesh=em.mesh(...) to choose)",
            file=sys.stderr,
        )
    return mesh(devices, data=-1)


def _show(sizes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


__all__ = ["mesh", "default_mesh", "data_axes", "axis_size", "DATA_AXES"]
