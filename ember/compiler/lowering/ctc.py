"""JAX rule for `ctc_loss`, built on `optax.ctc_loss`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def _padded_labels(targets, target_lengths):
    """(N, S) labels (padded slots -1) and their padding mask, from either target layout."""
    n = target_lengths.shape[0]
    if targets.ndim == 1:  # concatenated: sequence k starts after the lengths before it
        total = targets.shape[0]
        starts = jnp.cumsum(target_lengths) - target_lengths
        index = starts[:, None] + jnp.arange(max(total, 1))[None, :]
        targets = jnp.take(targets, index, mode="clip") if total else jnp.zeros((n, 1), jnp.int32)
    elif targets.shape[1] == 0:
        targets = jnp.zeros((n, 1), jnp.int32)  # optax needs one label slot
    targets = targets.astype(jnp.int32)
    padding = jnp.arange(targets.shape[1])[None, :] >= target_lengths[:, None]
    return jnp.where(padding, -1, targets), padding


def _ctc_loss(
    ctx, log_probs, targets, input_lengths, target_lengths, *, blank, reduction, zero_infinity
):
    lp = jnp.transpose(log_probs, (1, 0, 2))  # optax's (N, T, C)
    lp = lp.astype(jnp.promote_types(lp.dtype, jnp.float32))
    in_len = input_lengths.astype(jnp.int32)
    tg_len = target_lengths.astype(jnp.int32)
    labels, label_pad = _padded_labels(targets, tg_len)
    frame_pad = jnp.arange(lp.shape[1])[None, :] >= in_len[:, None]
    loss = optax.ctc_loss(
        lp, frame_pad.astype(lp.dtype), labels, label_pad.astype(lp.dtype), blank_id=blank
    )
    # optax log-softmaxes its logits; PyTorch takes log_probs as given: add the normalizers
    # back, so values match for any input and the gradient is d loss / d log_probs
    norm = jax.nn.logsumexp(lp, axis=-1)
    loss = loss - jnp.sum(jnp.where(frame_pad, 0.0, norm), axis=1)
    # an alignment needs a frame per label plus a blank between repeated labels
    repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & ~label_pad[:, 1:], axis=1)
    feasible = in_len >= tg_len + repeats
    loss = jnp.where(feasible, loss, jnp.inf)
    if zero_infinity:
        loss = jnp.where(jnp.isinf(loss), 0.0, loss)
    if reduction == "mean":  # PyTorch: per-sequence loss over its target length, then mean
        loss = jnp.mean(loss / jnp.maximum(tg_len, 1).astype(loss.dtype))
    elif reduction == "sum":
        loss = jnp.sum(loss)
    return loss.astype(log_probs.dtype)


RULES = {"ctc_loss": _ctc_loss}
