"""`ember.distributed`: several hosts (a TPU pod slice, GPU nodes) as one JAX program.

Every host runs the same script; `initialize()` connects them (JAX's
`jax.distributed.initialize`), after which `jax.devices()` lists every device of every
host and `em.compile(..., mesh=em.mesh(...))` spans them all. Each host feeds the same
global batches (same data, same seed, same order) and transfers only its own shards, so
the result does not depend on the number of hosts. Progress bars and logs come from
process 0 only.

>>> import ember as em
>>> em.distributed.initialize()          # no-op on one host; auto-detects TPU VM slices
>>> em.distributed.process_index(), em.distributed.process_count()
(0, 1)
"""

from __future__ import annotations

import os
from typing import Any

import jax

# environment variables that mean "this process is one of several" to JAX's auto-detection
_CLUSTER_HINTS = (
    "JAX_COORDINATOR_ADDRESS",
    "TPU_WORKER_HOSTNAMES",
    "MEGASCALE_COORDINATOR_ADDRESS",
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
)
_initialized = [False]


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> None:
    """Connect this process to the others (`jax.distributed.initialize`).

    On one plain host with no arguments and no cluster environment it does nothing. On a
    TPU VM slice or a SLURM/MPI job JAX detects the peers itself; elsewhere pass
    `coordinator_address="host:port", num_processes=N, process_id=i` on every process.
    On CPU the cross-process collectives use gloo.
    """
    if _initialized[0]:
        return
    explicit = coordinator_address is not None or num_processes is not None
    multi_host_tpu = int(os.environ.get("TPU_WORKER_HOSTNAMES", "x").count(",")) > 0
    if (
        not explicit
        and not multi_host_tpu
        and not any(h in os.environ for h in _CLUSTER_HINTS if h != "TPU_WORKER_HOSTNAMES")
    ):
        return  # one host: nothing to connect
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU backend only
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        **kwargs,
    )
    _initialized[0] = True


def mesh_from_flag(text: str | None) -> dict[str, Any]:
    """`em.compile` options from a command-line flag like the examples' `--mesh`.

    `None`/`""`: the default (data parallel when there are several devices); `"off"`: one
    device; `"data=-1"`, `"data=2,model=4"`: that mesh, data parallel; a mesh with an
    `fsdp` axis (`"fsdp=-1"`) also selects `sharding="fsdp"`.

    >>> em.compile(net, ..., **em.distributed.mesh_from_flag("fsdp=-1"))
    """
    from ember.runtime.mesh import mesh

    if not text:
        return {}
    if text == "off":
        return {"mesh": False}
    axes = {}
    for part in text.split(","):
        name, _, size = part.partition("=")
        if not name.strip() or not size.strip().lstrip("-").isdigit():
            raise ValueError(f"--mesh {text!r}: expected axis=size pairs like 'data=2,model=4'")
        axes[name.strip()] = int(size)
    options: dict[str, Any] = {"mesh": mesh(**axes)}
    if "fsdp" in axes:
        options["sharding"] = "fsdp"
    return options


def process_index() -> int:
    return jax.process_index()


def process_count() -> int:
    return jax.process_count()


def is_main_process() -> bool:
    """True on the process that prints progress and writes logs (process 0)."""
    return jax.process_index() == 0


# -- torch.distributed's names, for scripts that import them whether or not they run DDP ---


def is_available() -> bool:
    """`torch.distributed.is_available()`: ember always has its multi-host support."""
    return True


def is_initialized() -> bool:
    """`torch.distributed.is_initialized()`: has `initialize()` connected several hosts?"""
    return _initialized[0]


def get_rank(group: Any = None) -> int:
    """`torch.distributed.get_rank()`: this process's index (0 on one host)."""
    return process_index()


def get_world_size(group: Any = None) -> int:
    """`torch.distributed.get_world_size()`: the number of processes (1 on one host)."""
    return process_count()


def init_process_group(backend: str | None = None, *args: Any, **kwargs: Any) -> None:
    """`torch.distributed.init_process_group`: not ember's model of several processes.

    DDP runs one model replica per process on its own shard of the data and all-reduces
    gradients; ember compiles one program over every device of every host, fed the same
    global batches. So a DDP branch of a script (taken under `torchrun`) gets this error
    with the replacement, and the single-process branch runs as written."""
    raise RuntimeError(
        "torch.distributed.init_process_group / DistributedDataParallel are not provided: "
        "ember trains on several devices or hosts as ONE program; fix: call "
        "em.distributed.initialize() on every host, drop the DDP wrapper, and compile with "
        'em.compile(model, ..., mesh=em.mesh({"data": n})) (docs/tpu.md)'
    )


def destroy_process_group(group: Any = None) -> None:
    """`torch.distributed.destroy_process_group()`: nothing to tear down."""


def barrier(group: Any = None) -> None:
    """`torch.distributed.barrier()`: every process reaches this point before any goes on."""
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("ember.distributed.barrier")


__all__ = [
    "initialize",
    "mesh_from_flag",
    "process_index",
    "process_count",
    "is_main_process",
    "is_available",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "destroy_process_group",
    "barrier",
]
