"""Margin, embedding, triplet and CTC losses vs PyTorch (values and input gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from loss_parity import (
    check_module_parity,
    check_parity,
    ember_value_and_grads,
    print_worst,
    torch_value_and_grads,
)

import ember.nn.functional as F
from ember import nn
from ember.errors import DTypeError, ShapeError, UnsupportedOpError

REDUCTIONS = ("mean", "sum", "none")
pytestmark = pytest.mark.filterwarnings(
    "ignore:size_average and reduce args will be deprecated:UserWarning",
    "ignore:reduction. 'mean' divides the total loss:UserWarning",
)
rng = np.random.default_rng(1)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print_worst()


def r(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def ints(hi, *shape, lo=0):
    return rng.integers(lo, hi, shape).astype(np.int32)


def signs(*shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


W4 = rng.uniform(0.2, 2.0, 4).astype(np.float32)
ML_TARGET = np.array([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 2, 0, 0], [2, 2, -1, 3]], np.int32)

MODULE_CASES = [
    ("CosineEmbeddingLoss", {}, lambda: [r(5, 4), r(5, 4), signs(5)], (0, 1)),
    ("CosineEmbeddingLoss", {"margin": 0.3}, lambda: [r(5, 4), r(5, 4), signs(5)], (0, 1)),
    ("CosineEmbeddingLoss", {"margin": -0.5}, lambda: [r(4), r(4), np.float32(-1.0)], (0, 1)),
    ("MarginRankingLoss", {}, lambda: [r(6), r(6), signs(6)], (0, 1)),
    ("MarginRankingLoss", {"margin": 0.5}, lambda: [r(3, 2), r(3, 2), signs(3, 2)], (0, 1)),
    ("HingeEmbeddingLoss", {}, lambda: [r(4, 3), signs(4, 3)], (0,)),
    ("HingeEmbeddingLoss", {"margin": 2.0}, lambda: [r(6), signs(6)], (0,)),
    ("MultiMarginLoss", {}, lambda: [r(5, 4), ints(4, 5)], (0,)),
    ("MultiMarginLoss", {"p": 2, "margin": 0.7}, lambda: [r(5, 4), ints(4, 5)], (0,)),
    ("MultiMarginLoss", {"weight": W4}, lambda: [r(5, 4), ints(4, 5)], (0,)),
    ("MultiMarginLoss", {"p": 2, "weight": W4}, lambda: [r(4), np.array(2, np.int32)], (0,)),
    ("MultiMarginLoss", {}, lambda: [r(4), np.array([1], np.int32)], (0,)),
    ("MultiLabelMarginLoss", {}, lambda: [r(4, 4), ML_TARGET], (0,)),
    ("MultiLabelMarginLoss", {}, lambda: [r(5), np.array([4, 1, -1, 2, 0], np.int32)], (0,)),
    ("TripletMarginLoss", {}, lambda: [r(5, 3), r(5, 3), r(5, 3)], (0, 1, 2)),
    (
        "TripletMarginLoss",
        {"margin": 2.0, "p": 1.0},
        lambda: [r(5, 3), r(5, 3), r(5, 3)],
        (0, 1, 2),
    ),
    (
        "TripletMarginLoss",
        {"p": 3.0, "eps": 1e-3, "swap": True},
        lambda: [r(5, 3), r(5, 3), r(5, 3)],
        (0, 1, 2),
    ),
    ("TripletMarginLoss", {"swap": True}, lambda: [r(4), r(4), r(4)], (0, 1, 2)),
    ("TripletMarginWithDistanceLoss", {}, lambda: [r(5, 3), r(5, 3), r(5, 3)], (0, 1, 2)),
    (
        "TripletMarginWithDistanceLoss",
        {"swap": True, "margin": 0.5},
        lambda: [r(5, 3), r(5, 3), r(5, 3)],
        (0, 1, 2),
    ),
]


def _case_id(case):
    return case[0] + "".join(f"-{k}" for k in case[1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", MODULE_CASES, ids=[_case_id(c) for c in MODULE_CASES])
def test_module_matches_torch(case, reduction):
    name, opts, make_inputs, grad_args = case

    def make(nnm, tensor):
        kwargs = {k: tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
        return getattr(nnm, name)(reduction=reduction, **kwargs)

    check_module_parity(name, make, make_inputs(), grad_args)


def _l1_distance(a, b):  # the same code runs on torch and ember tensors
    return (a - b).abs().sum(-1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_with_custom_distance_matches_torch(reduction):
    def make(f):
        return lambda a, p, n: f.triplet_margin_with_distance_loss(
            a, p, n, distance_function=_l1_distance, margin=0.8, swap=True, reduction=reduction
        )

    check_parity(
        "TripletMarginWithDistanceLoss",
        make(F),
        make(torch.nn.functional),
        [r(6, 4), r(6, 4), r(6, 4)],
        (0, 1, 2),
    )


def test_margin_shape_and_option_errors():
    with pytest.raises(
        ShapeError,
        match=r"cosine_embedding_loss: input1 shape \(3, 4\) and "
        r"input2 shape \(3, 5\)",
    ):
        nn.CosineEmbeddingLoss()(r(3, 4), r(3, 5), signs(3))
    with pytest.raises(ShapeError, match=r"triplet_margin_loss: anchor must be \(N, D\) or \(D,\)"):
        nn.TripletMarginLoss()(r(2, 3, 4), r(2, 3, 4), r(2, 3, 4))
    with pytest.raises(ShapeError, match=r"anchor shape \(3, 4\) and negative shape \(1, 4\)"):
        nn.TripletMarginLoss()(r(3, 4), r(3, 4), r(1, 4))
    with pytest.raises(ValueError, match="margin must be > 0"):
        nn.TripletMarginLoss(margin=0.0)
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(UnsupportedOpError, match="only p == 1 and p == 2"):
        _trace(lambda x, t: F.multi_margin_loss(x, t, p=3), r(3, 4), ints(4, 3))
    with pytest.raises(DTypeError, match="multi_margin_loss: targets must be integer"):
        nn.MultiMarginLoss()(r(3, 4), r(3))
    with pytest.raises(ShapeError, match=r"multi_margin_loss: weight must be \(4,\)"):
        nn.MultiMarginLoss(weight=np.ones(3, np.float32))(r(3, 4), ints(4, 3))
    with pytest.raises(
        ShapeError,
        match=r"multilabel_margin_loss: input shape \(3, 4\) and "
        r"target shape \(3,\)",
    ):
        nn.MultiLabelMarginLoss()(r(3, 4), ints(4, 3))
    with pytest.raises(ShapeError, match=r"hinge_embedding_loss: input shape \(4, 1\)"):
        nn.HingeEmbeddingLoss()(r(4, 1), signs(4))


def _trace(fn, *arrays):
    from ember.frontend.trace import trace_function

    return trace_function(fn, arrays, names=[f"a{i}" for i in range(len(arrays))])


# -- CTC --------------------------------------------------------------------------------------
T, N, C = 12, 4, 6
IN_LEN = np.array([12, 10, 7, 12], np.int32)
TG_LEN = np.array([5, 3, 0, 4], np.int32)
PADDED = np.array([[1, 2, 2, 3, 5], [4, 4, 1, 0, 0], [0, 0, 0, 0, 0], [5, 1, 5, 2, 3]], np.int32)
CONCAT = np.concatenate([PADDED[i, : TG_LEN[i]] for i in range(N)]).astype(np.int32)


# CTC gradients: atol 1e-5 (values keep 1e-6). Gradients have scale ~2.5 and come from a
# T-step recursion in float32; against a float64 torch reference, torch's float32 gradient is
# off by up to ~7e-6 and ember's by ~3e-6, so elementwise 1e-6 would test torch's rounding.
CTC_TOL = {"grad_atol": 1e-5}


def _ctc_from_logits(loss_fn):
    # PyTorch's CTC gradient is w.r.t. the logits of a log_softmax (see F.ctc_loss): compare there
    return lambda logits, *rest: loss_fn(logits.log_softmax(-1), *rest)


@pytest.mark.parametrize("targets", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_matches_torch(targets, reduction, blank):
    tg = PADDED if targets == "padded" else CONCAT
    if blank:  # keep the labels off the blank class
        tg = np.where(tg == blank, C - 1 - blank, tg).astype(np.int32)
    arrays = [r(T, N, C, scale=2), tg, IN_LEN, TG_LEN]

    def make(nnm, tensor):
        return nnm.CTCLoss(blank=blank, reduction=reduction)

    check_module_parity(
        "CTCLoss",
        make,
        arrays,
        (0,),
        wrap=lambda loss, lg, *rest: loss(lg.log_softmax(2), *rest),
        **CTC_TOL,
    )


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_impossible_alignments(zero_infinity):
    # sequence 1 needs 4 frames (3 labels + a blank between the repeated 4s) but has 3
    in_len = np.array([12, 3, 7, 12], np.int32)
    arrays = [r(T, N, C), PADDED, in_len, TG_LEN]
    for reduction in REDUCTIONS:

        def fn(lib, red=reduction):
            return _ctc_from_logits(
                lambda lp, *rest: lib.ctc_loss(
                    lp, *rest, reduction=red, zero_infinity=zero_infinity
                )
            )

        if zero_infinity:
            check_parity("CTCLoss", fn(F), fn(torch.nn.functional), arrays, (0,), **CTC_TOL)
        else:  # an infinite loss: compare values only (torch's gradient is inf/nan there)
            check_parity("CTCLoss", fn(F), fn(torch.nn.functional), arrays, ())


def test_ctc_unbatched_and_unnormalized_inputs_match_torch():
    lp, tg = r(9, 5), np.array([1, 3, 3, 2], np.int32)
    il, tl = np.array(9, np.int32), np.array(4, np.int32)
    for reduction in REDUCTIONS:

        def fn(lib, red=reduction):
            return lambda a, b, c, d: lib.ctc_loss(a, b, c, d, reduction=red)

        check_parity(
            "CTCLoss",
            _ctc_from_logits(fn(F)),
            _ctc_from_logits(fn(torch.nn.functional)),
            [lp, tg, il, tl],
            **CTC_TOL,
        )
        # raw scores (not log-probabilities): the value still matches torch's sum of paths
        check_parity(
            "CTCLoss", fn(F), fn(torch.nn.functional), [r(T, N, C), PADDED, IN_LEN, TG_LEN], ()
        )


def test_ctc_gradient_is_the_exact_derivative():
    # torch returns exp(lp) - posterior on frames t < input_length (the logits' gradient);
    # ember returns -posterior, the derivative w.r.t. log_probs
    lp = torch.randn(T, N, C).log_softmax(2).numpy()
    arrays = [lp, PADDED, IN_LEN, TG_LEN]
    _, (got,) = ember_value_and_grads(lambda *xs: F.ctc_loss(*xs, reduction="sum"), arrays, (0,))
    _, (want,) = torch_value_and_grads(
        lambda *xs: torch.nn.functional.ctc_loss(*xs, reduction="sum"), arrays, (0,)
    )
    from loss_parity import cotangent

    live = (np.arange(T)[:, None] < IN_LEN[None, :])[..., None]
    expected = want - np.where(live, np.exp(lp) * cotangent(()), 0.0)
    # atol 5e-6: ember's -posterior is optax's softmax - posterior plus the softmax of the
    # normalizer term, so entries that are 0 carry the float32 rounding of softmax * 2.5
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=5e-6)
