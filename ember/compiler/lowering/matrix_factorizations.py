"""JAX rules for cholesky, qr, svd, eigh, solve, det and slogdet (jax.numpy.linalg)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _symmetric_from_triangle(x, upper: bool):
    """The symmetric matrix PyTorch reads from one triangle of `x` (the other is ignored).

    Built explicitly so gradients flow to that triangle only: LAPACK reads one triangle, but
    JAX's derivative rules assume a symmetric tangent.
    """
    tri = jnp.triu if upper else jnp.tril
    strict = tri(x, 1 if upper else -1)
    return tri(x) + jnp.swapaxes(strict, -1, -2)


def _cholesky(ctx, x, upper):
    lower = jnp.linalg.cholesky(_symmetric_from_triangle(x, upper))
    return jnp.swapaxes(lower, -1, -2) if upper else lower


def _orthonormal_complement(q, size: int):
    """`size - k` orthonormal columns spanning the complement of q's k orthonormal columns."""
    full, _ = jnp.linalg.qr(jax.lax.stop_gradient(q), mode="complete")
    return full[..., :, q.shape[-1] : size]


def _svd(ctx, x, full_matrices, compute_uv):
    if not compute_uv:
        return jnp.linalg.svd(x, compute_uv=False)
    # JAX differentiates only the reduced SVD; PyTorch's full_matrices=True ignores the
    # gradient of the extra columns (any orthonormal completion is an SVD), so complete the
    # bases outside the gradient
    u, s, vh = jnp.linalg.svd(x, full_matrices=False)
    m, n = x.shape[-2:]
    if full_matrices and m > n:
        u = jnp.concatenate([u, _orthonormal_complement(u, m)], axis=-1)
    if full_matrices and n > m:
        v_rest = _orthonormal_complement(jnp.swapaxes(vh, -1, -2), n)
        vh = jnp.concatenate([vh, jnp.swapaxes(v_rest, -1, -2)], axis=-2)
    return u, s, vh


def _eigh(ctx, x, upper):
    values, vectors = jnp.linalg.eigh(_symmetric_from_triangle(x, upper))
    return values, vectors


def _solve(ctx, a, b):
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = jnp.broadcast_to(a, batch + a.shape[-2:])
    b = jnp.broadcast_to(b, batch + b.shape[-2:])
    return jnp.linalg.solve(a, b)


def _slogdet(ctx, x):
    sign, logabsdet = jnp.linalg.slogdet(x)
    return sign, logabsdet


RULES = {
    "cholesky": _cholesky,
    "qr": lambda ctx, x, mode: tuple(jnp.linalg.qr(x, mode=mode)),
    "svd": _svd,
    "eigh": _eigh,
    "solve": _solve,
    "det": lambda ctx, x: jnp.linalg.det(x),
    "slogdet": _slogdet,
}
