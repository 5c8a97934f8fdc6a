"""JAX rule for `fft` (see `ember/graphdef/ops/fft.py`): `jnp.fft`'s n-dimensional
transforms, which pad or trim to the signal sizes and scale by `norm` as PyTorch does.
XLA transforms at most three trailing dims at once, so more dims run as several calls
(a DFT over several dims is the DFTs over each in turn)."""

from __future__ import annotations

import jax.numpy as jnp

_MAX_DIMS = 3


def _fft(ctx, x, *, kind, inverse, dims, sizes, norm):
    dims, sizes = tuple(dims), tuple(sizes)
    if kind == "r2c":
        # the real transform over the last dim, then complex ones over the others
        head, last = _split(dims, sizes)
        z = jnp.fft.rfftn(x, s=last[1], axes=last[0], norm=norm)
        return _c2c(z, head[0], head[1], False, norm)
    if kind == "c2r":
        head, last = _split(dims, sizes)
        z = _c2c(x, head[0], head[1], True, norm)
        return jnp.fft.irfftn(z, s=last[1], axes=last[0], norm=norm)
    return _c2c(x, dims, sizes, inverse, norm)


def _split(dims, sizes):
    """(leading dims, sizes) and the last up-to-three (dims, sizes) of a real transform."""
    k = max(len(dims) - _MAX_DIMS, 0)
    return (dims[:k], sizes[:k]), (dims[k:], sizes[k:])


def _c2c(z, dims, sizes, inverse, norm):
    transform = jnp.fft.ifftn if inverse else jnp.fft.fftn
    for at in range(0, len(dims), _MAX_DIMS):
        chunk = slice(at, at + _MAX_DIMS)
        z = transform(z, s=sizes[chunk], axes=dims[chunk], norm=norm)
    return z


RULES = {"fft": _fft}
