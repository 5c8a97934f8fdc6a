"""The host allocator tuning (ember/runtime/host_allocator.py), measured by the kernel's
own page-fault counter: a jitted step with a 34 MB temporary buffer re-faults its pages
on every call under glibc's default malloc, and not once ember's runtime is imported."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the tuning applies to glibc's malloc only",
)

PROBE = textwrap.dedent(
    """
    import resource
    import ember  # the runtime applies (or, with EMBER_HOST_MALLOC=system, skips) the tuning
    import jax, jax.numpy as jnp
    from ember.runtime.host_allocator import host_malloc_tuned

    @jax.jit
    def step(x):
        h = jnp.tanh(x @ x.T)  # a 2900x2900 float32 temporary: 34 MB, 8213 pages
        return (jnp.exp(h) @ x).sum()

    x = jnp.full((2900, 64), 0.01, jnp.float32)
    for _ in range(2):
        step(x).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step(x).block_until_ready()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(host_malloc_tuned(), (after - before) / 10)
    """
)


def _probe(**env) -> tuple[bool, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    return out[0] == "True", float(out[1])


@glibc_only
def test_steps_stop_page_faulting_once_ember_is_imported():
    tuned, tuned_faults = _probe()
    untuned, system_faults = _probe(EMBER_HOST_MALLOC="system")
    assert tuned and not untuned
    # glibc's default maps a block this large afresh per call (above its largest mmap
    # threshold, 32 MB; below the 64 MB a per-thread heap can hold): ~8,000 faults with
    # 4 KiB pages, at least 17 where transparent huge pages back it with 2 MiB ones;
    # reusing the heap leaves almost none (a step that has to grow the heap faults once)
    assert system_faults >= 17, system_faults
    assert tuned_faults < system_faults / 4, (tuned_faults, system_faults)


@glibc_only
def test_tuning_is_idempotent_and_reported():
    from ember.runtime.host_allocator import host_malloc_tuned, keep_freed_memory_mapped

    expected = os.environ.get("EMBER_HOST_MALLOC", "") != "system"
    assert keep_freed_memory_mapped() is expected
    assert keep_freed_memory_mapped() is expected  # a second call changes nothing
    assert host_malloc_tuned() is expected
