"""`ctc_loss`: connectionist temporal classification (PyTorch's arguments and reductions)."""

from __future__ import annotations

from ember.frontend.tensor import Tensor
from ember.nn.functional._core import active_builder, as_tensor, emit
from ember.nn.functional.loss import check_reduction

__all__ = ["ctc_loss"]


def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """CTC loss of log-probabilities (T, N, C) (or unbatched (T, C)) against `targets`.

    `targets` is padded (N, S) or all target sequences concatenated (sum(target_lengths),);
    the lengths are int tensors or Python sequences of ints. 'mean' divides each sequence's
    loss by its target length, then averages (as PyTorch). An impossible alignment has an
    infinite loss, or 0 (with zero gradient) when `zero_infinity`.

    PyTorch checks length values (input_lengths <= T, target_lengths <= S, no blank labels)
    at run time; these need concrete values, so ember does not. Its gradient is the exact
    derivative with respect to `log_probs`; PyTorch's is the gradient with respect to the
    logits before a log_softmax, so the two agree after a log_softmax (the usual use).

    >>> loss = F.ctc_loss(logits.log_softmax(2), targets, input_lengths, target_lengths)
    """
    builder = active_builder(log_probs, targets, input_lengths, target_lengths)
    check_reduction(builder, "ctc_loss", reduction)
    lp = as_tensor(log_probs, builder)
    tg, il, tl = (as_tensor(x, builder) for x in (targets, input_lengths, target_lengths))
    unbatched = lp.ndim == 2
    if unbatched:
        lp, tg = lp.unsqueeze(1), tg.unsqueeze(0)
        il, tl = il.reshape(1), tl.reshape(1)
    loss = emit(
        "ctc_loss",
        [lp, tg, il, tl],
        blank=int(blank),
        reduction=reduction,
        zero_infinity=bool(zero_infinity),
    )
    return loss.reshape(()) if unbatched and reduction == "none" else loss
